"""Input and output file handling shared by the batch commands (encode, decode, caption, info).

Only click and the standard library: command modules import this at module level.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import click

from jpegtext.cli._text import printable

__all__ = [
    "IMAGE_SUFFIXES",
    "JPEG_SUFFIXES",
    "InputItem",
    "check_output_path",
    "expand_inputs",
    "normalize_key",
    "plan_outputs",
]

#: File name endings picked up when a folder is given as input.
IMAGE_SUFFIXES = frozenset(
    {".jpg", ".jpeg", ".jpe", ".png", ".webp", ".tif", ".tiff", ".bmp", ".gif", ".ppm", ".pgm"}
)


@dataclass(frozen=True)
class InputItem:
    """One input of a batch.

    Attributes:
        path: the file, or None for standard input (``-``).
        label: how messages name it (:func:`~jpegtext.cli._text.printable`: safe to print).
        keys: names under which a caption file may list it, most specific first (path relative
            to the folder it was found in, the path as given, relative to the working folder,
            the bare file name).
    """

    path: Path | None
    label: str
    keys: tuple[str, ...]


def normalize_key(key: str) -> str:
    """A caption-file key in canonical form: forward slashes, no ``./``, no doubled slashes."""
    text = key.strip().replace("\\", "/")
    parts = [p for p in PurePosixPath(text).parts if p not in ("", ".")]
    return "/".join(parts) if parts else text


def _keys_for(path: Path, *extra: str) -> tuple[str, ...]:
    keys = [normalize_key(k) for k in extra]
    keys.append(normalize_key(str(path)))
    try:
        keys.append(normalize_key(str(path.resolve().relative_to(Path.cwd().resolve()))))
    except ValueError:
        pass
    keys.append(path.name)
    return tuple(dict.fromkeys(keys))


def expand_inputs(
    args: Iterable[str], *, recursive: bool, suffixes: frozenset[str] = IMAGE_SUFFIXES
) -> list[InputItem]:
    """Expand files, folders (images inside, sorted), globs and ``-`` into a list of inputs.

    Raises:
        click.BadParameter: an argument matches nothing, or ``-`` is given twice.
    """
    items: list[InputItem] = []
    seen: set[Path] = set()
    stdin_used = False

    def add(path: Path, *extra: str) -> None:
        key = path.resolve()
        if key not in seen:
            seen.add(key)
            items.append(InputItem(path, printable(str(path)), _keys_for(path, *extra)))

    def add_folder(folder: Path) -> None:
        walker = folder.rglob("*") if recursive else folder.iterdir()
        for path in sorted(p for p in walker if p.is_file() and p.suffix.lower() in suffixes):
            add(path, str(path.relative_to(folder)))

    for arg in args:
        if arg == "-":
            if stdin_used:
                raise click.BadParameter("'-' (standard input) can be given only once")
            stdin_used = True
            items.append(InputItem(None, "<stdin>", ("-",)))
            continue
        path = Path(arg)
        if path.is_file():
            add(path)
        elif path.is_dir():
            add_folder(path)
        else:
            matches = sorted(glob.glob(arg, recursive=recursive))
            if not matches:
                raise click.BadParameter(
                    f"{printable(arg)}: no such file, folder or matching glob")
            for match in matches:
                m = Path(match)
                if m.is_dir():
                    add_folder(m)
                elif m.is_file():
                    add(m)
    if not items:
        raise click.BadParameter("the inputs contain no image files")
    return items


#: JPEG file name endings (inputs of decode and info).
JPEG_SUFFIXES = frozenset({".jpg", ".jpeg", ".jpe", ".jfif"})


def check_output_path(output: str, *, out_dir_hint: bool = False) -> None:
    """Refuse an ``-o`` that names a folder: an existing one, or any path ending in a separator.

    ``new/`` must not become a file called ``new`` (pathlib drops the trailing separator).

    Raises:
        click.BadParameter: ``output`` names a folder (usage error, exit status 2).
    """
    if output == "-":
        return
    separators = tuple(s for s in (os.sep, os.altsep) if s)
    if output.endswith(separators) or Path(output).is_dir():
        shown = printable(output)
        hint = f", or use --out-dir {shown}" if out_dir_hint else ""
        raise click.BadParameter(
            f"{shown} is a folder: name the output file{hint}", param_hint="-o/--output"
        )


def plan_outputs(
    items: list[InputItem], output: str | None, out_dir: Path | None, *, suffix: str
) -> list[str]:
    """Output path of every input: ``-o OUT`` (one input) or ``DIR/<stem><suffix>``.

    Raises:
        click.UsageError: both or neither of -o/--out-dir, -o with several inputs, stdin with
            --out-dir, or two inputs that would be written to the same file.
        click.BadParameter: -o names a folder (see :func:`check_output_path`).
    """
    if output is not None and out_dir is not None:
        raise click.UsageError("give either -o/--output or --out-dir, not both")
    if output is None and out_dir is None:
        raise click.UsageError(f"give -o OUT{suffix} (one input) or --out-dir DIR")
    if output is not None:
        if len(items) != 1:
            raise click.UsageError(
                f"-o/--output takes one input but {len(items)} were given; use --out-dir"
            )
        check_output_path(output, out_dir_hint=True)
        return [output]
    assert out_dir is not None
    outputs: list[str] = []
    owner: dict[Path, str] = {}
    for item in items:
        if item.path is None:
            raise click.UsageError(f"standard input has no file name: use -o OUT{suffix} with '-'")
        dest = out_dir / f"{item.path.stem}{suffix}"
        key = dest.resolve()
        if key in owner:
            raise click.UsageError(f"{owner[key]} and {item.label} would both be written to "
                                   f"{printable(str(dest))}")
        owner[key] = item.label
        outputs.append(str(dest))
    return outputs
