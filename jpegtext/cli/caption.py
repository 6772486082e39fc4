"""``jpegtext caption``: print the captions of images, and repair the caption of a JPEG file.

``jpegtext caption IMAGE...`` prints what the captioner would store. ``jpegtext caption set
FILE --text TEXT`` and ``jpegtext caption strip FILE`` rewrite only the caption segments of a
jpegtext file (the entropy-coded pixels are copied byte for byte), e.g. to repair a damaged
payload; a file named ``set`` or ``strip`` is captioned as ``./set``.

Only click and the standard library are imported at module level; the captioner (and, for HF
models, torch/transformers) is imported inside the command.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import click

from jpegtext.cli._files import InputItem, check_output_path, expand_inputs
from jpegtext.cli._limits import check_image_sizes, max_pixels_option
from jpegtext.cli._text import printable, printable_json

__all__ = ["caption"]

logger = logging.getLogger(__name__)

_CHUNK = 16  # images decoded and held in memory at once


class _CaptionGroup(click.Group):
    """``caption IMAGE...`` by default; ``caption set`` / ``caption strip`` as subcommands."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        first = next((a for a in args if not a.startswith("-")), None)
        if first not in self.commands or first == _DEFAULT:
            args = [_DEFAULT, *args]  # the captioning command (also for --help and errors)
        return super().parse_args(ctx, args)

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        name, cmd, rest = super().resolve_command(ctx, args)
        # Shown as `jpegtext caption [OPTIONS] IMAGE...`, not under an inner name.
        return ("" if name == _DEFAULT else name), cmd, rest


_DEFAULT = "images"


@click.group("caption", cls=_CaptionGroup)
def caption() -> None:
    """Print captions of images, or repair the caption of a JPEG file (set / strip)."""


@caption.command(_DEFAULT)
@click.argument("images", nargs=-1, required=True, metavar="IMAGE...")
@click.option(
    "-c",
    "--captioner",
    "captioner_name",
    metavar="NAME",
    default=None,
    help=(
        "builtin (offline, no weights), blip-base, hf:<hub id>[@<revision>], or a local model "
        "directory.  [default: blip-base when its weights are cached, else builtin]"
    ),
)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list of objects instead.")
@click.option("-r", "--recursive", is_flag=True, help="Search folders (and ** globs) recursively.")
@max_pixels_option()
@click.pass_context
def caption_images(
    ctx: click.Context,
    images: tuple[str, ...],
    captioner_name: str | None,
    as_json: bool,
    recursive: bool,
    max_pixels: int | None,
) -> None:
    """Print a caption for each IMAGE, as the encoder would store it.

    IMAGE may be files, folders (the images inside, sorted), globs or '-' (standard input).
    Each line is FILE<TAB>CAPTION; with --json a list of {"file", "caption", "captioner"}.
    Every file's size is checked before the captioner loads. An image that cannot be read is
    reported (with --json as {"file", "error"}), the others are still captioned, and the exit
    status is then 1.

    To repair a jpegtext file's caption (pixels untouched): `jpegtext caption set FILE.jpg
    --text TEXT [-o OUT.jpg]` and `jpegtext caption strip FILE.jpg [-o OUT.jpg]` (see their
    --help); a file named `set` or `strip` is captioned as `./set`.

    \b
    Examples:
      jpegtext caption photo.png
      jpegtext caption --captioner builtin --json photos/
      jpegtext caption --captioner ./blip-base "shots/*.jpg"
    """
    from jpegtext.captioner import default_captioner, get_captioner
    from jpegtext.cli import _one_line
    from jpegtext.errors import ConfigError, JpegTextError

    items = expand_inputs(images, recursive=recursive)
    debug = bool((ctx.find_root().obj or {}).get("debug"))
    # A bad input is reported and the others are still captioned: index -> its error line.
    errors: dict[int, str] = {}
    for n, item in enumerate(items):
        try:
            check_image_sizes([item], max_pixels)  # before any (slow) captioner is loaded
        except JpegTextError as exc:
            if debug or len(items) == 1:
                raise
            errors[n] = _one_line(exc)
    captioner: Any = None
    if len(errors) < len(items):
        if captioner_name is None:
            captioner = default_captioner()
        else:
            try:
                captioner = get_captioner(captioner_name)
            except ConfigError as exc:
                raise click.BadParameter(str(exc), param_hint="'--captioner'") from None
        logger.info("captioning %d image(s) with %s", len(items) - len(errors), captioner.name)

    results: list[dict[str, Any]] = []
    for start in range(0, len(items), _CHUNK):
        chunk = range(start, min(start + _CHUNK, len(items)))
        # Each input is loaded on its own, so a bad file does not lose its group's captions.
        loaded: dict[int, Any] = {}
        for n in chunk:
            if n in errors:
                continue
            try:
                loaded[n] = _load(items[n], max_pixels)
            except (JpegTextError, OSError, MemoryError) as exc:
                if debug:
                    raise
                if len(items) == 1:
                    raise click.ClickException(_one_line(exc)) from None
                errors[n] = _one_line(exc)
        captions = dict(zip(loaded, captioner(list(loaded.values())), strict=True)) \
            if loaded else {}
        for n in chunk:  # in input order
            label = items[n].label
            if n in errors:
                if as_json:
                    results.append({"file": label, "error": errors[n]})
                else:
                    click.echo(f"Error: {errors[n]}", err=True)
            elif as_json:
                results.append({"file": label, "caption": captions[n], "captioner": captioner.name})
            else:
                click.echo(f"{label}\t{printable(captions[n])}")
    if as_json:
        click.echo(printable_json(results, indent=2))
    if errors:
        raise click.ClickException(f"{len(errors)} of {len(items)} images could not be read")


def _load(item: InputItem, max_pixels: int | None = None) -> Any:
    """The RGB PIL image of one input (EXIF orientation applied)."""
    from jpegtext.codec import load_image
    from jpegtext.errors import InvalidImageError

    try:
        return load_image(
            sys.stdin.buffer.read() if item.path is None else item.path, max_pixels=max_pixels
        )
    except InvalidImageError as exc:
        # Name the file: the codec's message describes the data, not where it came from.
        raise type(exc)(f"{item.label}: {exc}") from exc


def _rewrite(file: str, output: str | None, force: bool, edit: Any) -> str:
    """Apply ``edit(jpeg bytes) -> bytes`` to FILE, written to OUTPUT or back to FILE."""
    from jpegtext._io import read_bytes, write_output

    if output is None:
        if file == "-":
            raise click.UsageError("standard input needs -o OUT.jpg (or '-o -')")
    else:
        check_output_path(output)  # a folder is a usage error, as for encode and decode
    data = read_bytes(file)
    new = edit(data)
    if output is None:
        output, force = file, True  # in place: the point of a repair
    write_output(output, new, force=force)
    return "<stdout>" if output == "-" else printable(output)


@caption.command("set")
@click.argument("file", metavar="FILE.jpg")
@click.option("--text", required=True, help="The caption to store.")
@click.option("--captioner-name", default=None,
              help="Record this captioner name in the payload (default: none, a user's text).")
@click.option("--xmp", is_flag=True, help="Also write the XMP dc:description mirror.")
@click.option("-o", "--output", help="Write here ('-' = standard output) instead of in place.")
@click.option("--force", is_flag=True, help="Overwrite an existing -o file.")
def caption_set(file: str, text: str, captioner_name: str | None, xmp: bool,
                output: str | None, force: bool) -> None:
    """Store TEXT as the caption of FILE.jpg, replacing (and repairing) its payload.

    Only jpegtext's segments are rewritten: the pixels, other comments and metadata are kept
    byte for byte. FILE.jpg is rewritten in place (atomically) unless -o is given.

    \b
    Examples:
      jpegtext caption set photo_q1.jpg --text "a red barn beside a pond"
      jpegtext caption set damaged.jpg --text "..." -o repaired.jpg
    """
    from jpegtext.codec import embed_caption

    dest = _rewrite(file, output, force,
                    lambda data: embed_caption(data, text, captioner=captioner_name, xmp=xmp))
    size = len(text.encode("utf-8"))  # embed_caption refused text that UTF-8 cannot encode
    click.echo(f"{printable(file)} -> {dest}: caption set ({size:,} bytes)", err=True)


@caption.command("strip")
@click.argument("file", metavar="FILE.jpg")
@click.option("-o", "--output", help="Write here ('-' = standard output) instead of in place.")
@click.option("--force", is_flag=True, help="Overwrite an existing -o file.")
def caption_strip(file: str, output: str | None, force: bool) -> None:
    """Remove jpegtext's caption segments (COM payload, XMP mirror) from FILE.jpg.

    Damaged payloads are removed too; everything else is kept byte for byte. FILE.jpg is
    rewritten in place (atomically) unless -o is given.
    """
    from jpegtext.codec import strip_caption

    dest = _rewrite(file, output, force, strip_caption)
    click.echo(f"{printable(file)} -> {dest}: caption removed", err=True)
