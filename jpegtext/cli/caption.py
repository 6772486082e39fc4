"""``jpegtext caption``: print the captions of images without encoding them.

Only click and the standard library are imported at module level; the captioner (and, for HF
models, torch/transformers) is imported inside the command.
"""

from __future__ import annotations

import json
import logging
import sys
from typing import Any

import click

from jpegtext.cli._files import InputItem, expand_inputs

__all__ = ["caption"]

logger = logging.getLogger(__name__)

_CHUNK = 16  # images decoded and held in memory at once


@click.command("caption")
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
def caption(
    images: tuple[str, ...], captioner_name: str | None, as_json: bool, recursive: bool
) -> None:
    """Print a caption for each IMAGE, as the encoder would store it.

    IMAGE may be files, folders (the images inside, sorted), globs or '-' (standard input).
    Each line is FILE<TAB>CAPTION; with --json a list of {"file", "caption", "captioner"}.

    \b
    Examples:
      jpegtext caption photo.png
      jpegtext caption --captioner builtin --json photos/
      jpegtext caption --captioner ./blip-base "shots/*.jpg"
    """
    from jpegtext.captioner import default_captioner, get_captioner
    from jpegtext.errors import ConfigError

    items = expand_inputs(images, recursive=recursive)
    if captioner_name is None:
        captioner = default_captioner()
    else:
        try:
            captioner = get_captioner(captioner_name)
        except ConfigError as exc:
            raise click.BadParameter(str(exc), param_hint="'--captioner'") from None
    logger.info("captioning %d image(s) with %s", len(items), captioner.name)

    results: list[dict[str, Any]] = []
    for start in range(0, len(items), _CHUNK):
        chunk = items[start : start + _CHUNK]
        captions = captioner([_load(item) for item in chunk])
        for item, text in zip(chunk, captions, strict=True):
            if as_json:
                results.append({"file": item.label, "caption": text, "captioner": captioner.name})
            else:
                click.echo(f"{item.label}\t{text}")
    if as_json:
        click.echo(json.dumps(results, indent=2, ensure_ascii=False))


def _load(item: InputItem) -> Any:
    """The RGB PIL image of one input (EXIF orientation applied)."""
    from jpegtext.codec import load_image
    from jpegtext.errors import InvalidImageError

    try:
        return load_image(sys.stdin.buffer.read() if item.path is None else item.path)
    except InvalidImageError as exc:
        # Name the file: the codec's message describes the data, not where it came from.
        raise type(exc)(f"{item.label}: {exc}") from exc
