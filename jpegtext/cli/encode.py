"""``jpegtext encode``: compress images to JPEG with an embedded caption.

Only click and the standard library are imported at module level; the codec and API are imported
inside the command, and a neural captioner only when one has to run.
"""

from __future__ import annotations

import csv
import io
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from jpegtext.cli._files import InputItem, expand_inputs, normalize_key, plan_outputs
from jpegtext.cli._limits import FiniteFloatRange, check_image_sizes, max_pixels_option
from jpegtext.cli._text import printable

__all__ = ["encode"]

#: The largest --max-bpp: far above any real budget (a 1x1 image would get 125,000 bytes), low
#: enough that bits x pixels stays an exact, finite number.
_MAX_BPP = 1e6


@dataclass(frozen=True)
class _CaptionFile:
    text: str | None
    mapping: dict[str, str] | None

    def lookup(self, item: InputItem) -> str | None:
        if self.text is not None:
            return self.text
        assert self.mapping is not None
        for key in item.keys:
            if key in self.mapping:
                return self.mapping[key]
        return None


def _read_caption_file(path: Path) -> _CaptionFile:
    """One caption for all inputs (plain text), or a file-to-caption map (.jsonl / .csv)."""
    param = "--caption-file"
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise click.BadParameter(f"{path} is not UTF-8 text: {exc}", param_hint=param) from None
    suffix = path.suffix.lower()
    if suffix not in (".jsonl", ".csv"):
        caption = text.strip()
        if not caption:
            raise click.BadParameter(f"{path} is empty", param_hint=param)
        return _CaptionFile(caption, None)
    rows: list[tuple[int, Any, Any]] = []
    if suffix == ".jsonl":
        for lineno, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except ValueError as exc:
                raise click.BadParameter(f"{path}:{lineno}: {exc}", param_hint=param) from None
            if not isinstance(obj, dict):
                raise click.BadParameter(f"{path}:{lineno}: not a JSON object", param_hint=param)
            rows.append((lineno, obj.get("file"), obj.get("caption")))
    else:
        for lineno, row in enumerate(csv.reader(io.StringIO(text)), start=1):
            if not row or all(not cell.strip() for cell in row):
                continue
            if lineno == 1 and [c.strip().lower() for c in row] == ["file", "caption"]:
                continue  # header
            if len(row) != 2:
                raise click.BadParameter(
                    f"{path}:{lineno}: expected 2 columns (file,caption), got {len(row)}",
                    param_hint=param,
                )
            rows.append((lineno, row[0], row[1]))
    mapping: dict[str, str] = {}
    for lineno, file, caption in rows:
        if not isinstance(file, str) or not file.strip() or not isinstance(caption, str):
            raise click.BadParameter(
                f"{path}:{lineno}: needs a file name and a caption string", param_hint=param
            )
        key = normalize_key(file)
        if key in mapping:
            raise click.BadParameter(f"{path}:{lineno}: {file!r} listed twice", param_hint=param)
        mapping[key] = caption
    if not mapping:
        raise click.BadParameter(f"{path} lists no captions", param_hint=param)
    return _CaptionFile(None, mapping)


def _parse_quality_range(text: str | None) -> tuple[int, int] | None:
    """``"LO-HI"`` (or one quality ``"Q"``) as (lo, hi) in 1..100."""
    if text is None:
        return None
    lo_s, sep, hi_s = text.strip().partition("-")
    try:
        lo = int(lo_s)
        hi = int(hi_s) if sep else lo
    except ValueError:
        raise click.BadParameter(
            f"{text!r} is not a range LO-HI such as 1-10", param_hint="--qualities"
        ) from None
    if not (1 <= lo <= hi <= 100):
        raise click.BadParameter(
            f"{text!r}: need 1 <= LO <= HI <= 100", param_hint="--qualities"
        )
    return lo, hi


@click.command("encode")
@click.argument("inputs", nargs=-1, required=True, metavar="IN...")
@click.option(
    "-q",
    "--quality",
    type=click.IntRange(1, 100),
    default=1,
    show_default=True,
    help="JPEG quality 1-100 (the TGJAR scheme uses 1-10).",
)
@click.option("-o", "--output", help="Output file ('-' for standard output); one input only.")
@click.option(
    "--out-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for the outputs, named <stem>.jpg.",
)
@click.option("--caption", help="Caption to store (the same for every input).")
@click.option(
    "--caption-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Plain text (one caption for all), or .jsonl {file, caption} / .csv file,caption map.",
)
@click.option("--captioner", help="Captioner that captions each clean image (name or path).")
@click.option(
    "--caption-from-metadata",
    is_flag=True,
    help="Use each input's own XMP dc:description or EXIF ImageDescription.",
)
@click.option(
    "--subsampling",
    type=click.Choice(["4:2:0", "4:4:4"]),
    default="4:2:0",
    show_default=True,
    help="Chroma subsampling.",
)
@click.option(
    "--xmp",
    is_flag=True,
    help="Also mirror the caption into XMP dc:description (~420 bytes + caption).",
)
@click.option("--strip-metadata", is_flag=True, help="Do not carry the ICC profile and EXIF.")
@click.option("--force", is_flag=True, help="Overwrite existing output files.")
@click.option("-r", "--recursive", is_flag=True, help="Search folders (and ** globs) recursively.")
@max_pixels_option()
@click.option(
    "--max-bytes",
    type=click.IntRange(min=1),
    help="Byte budget per file: the highest quality whose whole file fits (overrides -q).",
)
@click.option(
    "--max-bpp",
    type=FiniteFloatRange(min=0, max=_MAX_BPP, min_open=True),
    help="Budget in bits per pixel (bytes = bpp x width x height / 8, per file).",
)
@click.option(
    "--qualities",
    "quality_range",
    metavar="LO-HI",
    help="Quality range a --max-bytes/--max-bpp search may choose from [default: 1-100].",
)
@click.option(
    "--optimize/--no-optimize",
    default=True,
    show_default=True,
    help="Huffman tables fitted to the image (same pixels, smaller file).",
)
@click.option(
    "--mozjpeg",
    is_flag=True,
    help="Then mozjpeg's lossless optimizer (progressive, same pixels; jpegtext[mozjpeg]).",
)
@click.pass_context
def encode(
    ctx: click.Context,
    inputs: tuple[str, ...],
    quality: int,
    output: str | None,
    out_dir: Path | None,
    caption: str | None,
    caption_file: Path | None,
    captioner: str | None,
    caption_from_metadata: bool,
    subsampling: str,
    xmp: bool,
    strip_metadata: bool,
    force: bool,
    recursive: bool,
    max_pixels: int | None,
    max_bytes: int | None,
    max_bpp: float | None,
    quality_range: str | None,
    optimize: bool,
    mozjpeg: bool,
) -> None:
    """Compress images IN... to JPEG at quality -q with a caption stored in the file.

    IN may be files, folders, globs or '-' (standard input). The caption is given
    (--caption, --caption-file), read from the image's metadata (--caption-from-metadata),
    or written by a captioner from the clean image (--captioner; the default captioner when no
    caption source is given). Existing outputs are kept unless --force; files are written
    atomically. When one input of a batch fails, the error is reported, the others are still
    encoded, and the command exits with status 1 at the end.

    With --max-bytes N (or --max-bpp X) each file gets the highest quality (within
    --qualities LO-HI) whose complete file, caption and kept metadata included, is at most the
    budget; the chosen QF is reported. If even the lowest quality does not fit, that input
    fails with the smallest size possible and what takes the space, and nothing is written.
    """
    sources = [
        caption is not None,
        caption_file is not None,
        captioner is not None,
        caption_from_metadata,
    ]
    if sum(sources) > 1:
        raise click.UsageError(
            "give only one of --caption, --caption-file, --captioner, --caption-from-metadata"
        )
    if max_bytes is not None and max_bpp is not None:
        raise click.UsageError("give only one of --max-bytes, --max-bpp")
    qualities = _parse_quality_range(quality_range)
    if qualities is not None and max_bytes is None and max_bpp is None:
        raise click.UsageError("--qualities is the search range of --max-bytes/--max-bpp")
    items = expand_inputs(inputs, recursive=recursive)
    outputs = plan_outputs(items, output, out_dir, suffix=".jpg")

    captions: list[str | None] = [caption] * len(items)
    if caption_file is not None:
        table = _read_caption_file(caption_file)
        captions = [table.lookup(item) for item in items]
        missing = [item.label for item, text in zip(items, captions, strict=True) if text is None]
        if missing:
            shown = ", ".join(missing[:5]) + (
                f" and {len(missing) - 5} more" if len(missing) > 5 else ""
            )
            raise click.BadParameter(
                f"{caption_file} has no caption for {shown}", param_hint="--caption-file"
            )
    if not force:
        existing = [out for out in outputs if out != "-" and Path(out).exists()]
        if existing:
            raise click.ClickException(
                f"{printable(existing[0])} exists (use --force to overwrite)"
                + (f"; {len(existing) - 1} more outputs exist" if len(existing) > 1 else "")
            )

    from jpegtext.api import resolve_captioner
    from jpegtext.errors import ConfigError

    model = None
    needs_model = caption is None and caption_file is None and not caption_from_metadata
    if needs_model:
        if len(items) == 1:  # (a batch reports each input and goes on)
            check_image_sizes(items, max_pixels)  # before the captioner loads
        try:
            model = resolve_captioner(captioner)
        except ConfigError as exc:
            raise click.BadParameter(str(exc), param_hint="--captioner") from None
        if captioner is None:
            click.echo(f"Using the default captioner: {model.name}", err=True)

    job = _Job(
        quality=quality,
        subsampling=subsampling,
        xmp=xmp,
        keep_metadata=not strip_metadata,
        force=force,
        captioner=model,
        from_metadata=caption_from_metadata,
        max_pixels=max_pixels,
        max_bytes=max_bytes,
        max_bpp=max_bpp,
        qualities=qualities,
        optimize=optimize,
        mozjpeg=mozjpeg,
    )
    debug = bool((ctx.find_root().obj or {}).get("debug"))
    if len(items) == 1:
        from jpegtext.cli import _one_line
        from jpegtext.errors import JpegTextError

        try:
            report = job.run(items[0], outputs[0], captions[0])
        except (JpegTextError, OSError, MemoryError) as exc:
            if debug:
                raise
            raise click.ClickException(f"{items[0].label}: {_one_line(exc)}") from None
        click.echo(report, err=True)
        return
    failures = _run_batch(job, items, outputs, captions, debug=debug)
    click.echo(f"Encoded {len(items) - len(failures)} of {len(items)} inputs.", err=True)
    if failures:
        raise click.ClickException(f"{len(failures)} of {len(items)} inputs failed (see above)")


def _run_batch(
    job: _Job,
    items: list[InputItem],
    outputs: list[str],
    captions: list[str | None],
    *,
    debug: bool,
) -> list[str]:
    from jpegtext.cli import _one_line
    from jpegtext.errors import JpegTextError

    failures: list[str] = []
    reports: list[str] = []
    with click.progressbar(
        list(zip(items, outputs, captions, strict=True)), label="Encoding", file=sys.stderr
    ) as bar:
        for item, out, text in bar:
            try:
                report = job.run(item, out, text)
            except (JpegTextError, OSError, MemoryError) as exc:
                if debug:
                    raise
                failures.append(f"Error: {item.label}: {_one_line(exc)}")
            else:
                if job.budgeted:
                    reports.append(report)  # each file's chosen QF
    for line in reports:
        click.echo(line, err=True)
    for line in failures:
        click.echo(line, err=True)
    return failures


@dataclass(frozen=True)
class _Job:
    quality: int
    subsampling: str
    xmp: bool
    keep_metadata: bool
    force: bool
    captioner: Callable[..., Any] | None
    from_metadata: bool
    max_pixels: int | None
    max_bytes: int | None = None
    max_bpp: float | None = None
    qualities: tuple[int, int] | None = None
    optimize: bool = True
    mozjpeg: bool = False

    @property
    def budgeted(self) -> bool:
        """Whether the quality is chosen per file from a byte budget."""
        return self.max_bytes is not None or self.max_bpp is not None

    def run(self, item: InputItem, out: str, caption: str | None) -> str:
        """Encode one input to ``out``; returns a one-line report."""
        from jpegtext._io import read_bytes, write_output
        from jpegtext.api import encode_detailed, inspect
        from jpegtext.codec import load_image, read_metadata_description
        from jpegtext.errors import BudgetError, InvalidImageError

        data = read_bytes("-" if item.path is None else item.path)
        image = load_image(data, max_pixels=self.max_pixels)
        if self.from_metadata:
            caption = read_metadata_description(image)
            if caption is None:
                raise InvalidImageError(
                    f"{item.label} has no XMP dc:description or EXIF ImageDescription"
                )
        budget = self.max_bytes
        bpp = ""  # how the budget came from --max-bpp, said in its errors
        if self.max_bpp is not None:
            bpp = f"--max-bpp {self.max_bpp:g} is "
            exact = self.max_bpp * image.width * image.height / 8
            budget = int(exact)
            if budget < 1:
                raise BudgetError(
                    f"{bpp}{exact:.3g} bytes for this {image.width}x{image.height} image, "
                    "less than one byte"
                )
            bpp += f"{budget:,} bytes for this {image.width}x{image.height} image: "
        try:
            result = encode_detailed(
                image,
                self.quality,
                caption=caption,
                captioner=self.captioner,  # type: ignore[arg-type]
                subsampling=self.subsampling,
                xmp=self.xmp,
                keep_metadata=self.keep_metadata,
                max_bytes=budget,
                qualities=self.qualities if budget is not None else None,
                optimize=self.optimize,
                mozjpeg=self.mozjpeg,
            )
        except BudgetError as exc:
            if not bpp:
                raise
            raise BudgetError(f"{bpp}{exc}") from exc
        info = inspect(result.data, max_pixels=self.max_pixels)  # checked before writing
        write_output(out, result.data, force=self.force)
        # The caption and a model folder's name may come from files: JSON quoting escapes C0
        # controls and printable() DEL and C1 (U+009B acts as CSI), as `jpegtext info` does.
        who = f" by {printable(result.captioner)}" if result.captioner else ""
        shown = result.caption if len(result.caption) <= 120 else result.caption[:117] + "..."
        quoted = printable(json.dumps(shown, ensure_ascii=False))
        fit = "" if budget is None else f" (the highest that fits {budget:,} bytes)"
        return (
            f"{item.label} -> {'<stdout>' if out == '-' else printable(out)}: "
            f"{info.total_bytes:,} bytes "
            f"at QF {result.quality}{fit}; caption{who} {quoted} "
            f"= {info.caption_bytes:,} bytes ({100 * info.caption_share:.2f}%)"
        )
