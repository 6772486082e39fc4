"""``jpegtext info``: caption, quality and sizes of JPEG files (headers only, no torch)."""

from __future__ import annotations

import json
import logging
from typing import Any

import click

from jpegtext.cli._limits import max_pixels_option
from jpegtext.cli._text import printable, printable_json

__all__ = ["info"]

_SHOWN_CHARS = 300


def _inspect(data: bytes, max_pixels: int | None) -> Any:
    """``jpegtext.api.inspect`` without logging the warnings that ``info`` prints itself.

    The payload reader logs each problem it also returns in ``warnings`` (an XMP mirror that
    disagrees, ...); ``info`` shows ``warnings`` in its block and in its JSON, so those log
    records are held back. Any other record, or all of them when reading fails, is let through.
    """
    from jpegtext.api import inspect
    from jpegtext.codec import payload

    log = logging.getLogger(payload.__name__)
    held: list[logging.LogRecord] = []

    def hold(record: logging.LogRecord) -> bool:
        held.append(record)
        return False

    log.addFilter(hold)
    shown: tuple[str, ...] = ()
    try:
        result = inspect(data, max_pixels=max_pixels)
        shown = result.warnings
    finally:
        log.removeFilter(hold)
        for record in held:
            if record.getMessage() not in shown:
                log.handle(record)
    return result


def _quoted(text: str) -> str:
    # JSON quoting escapes C0 control characters and printable() the rest (DEL, C1), so text
    # from the file (caption, captioner name) cannot drive the terminal or forge a line.
    if len(text) > _SHOWN_CHARS:
        shown = json.dumps(text[:_SHOWN_CHARS], ensure_ascii=False)
        return printable(shown) + f" ... ({len(text):,} chars)"
    return printable(json.dumps(text, ensure_ascii=False))


def format_info(label: str, info: Any) -> str:
    """The human-readable block ``jpegtext info`` prints for one file."""
    lines = [label]
    if info.caption is None:
        lines.append("  caption:    (none)")
    else:
        source = " (from the XMP mirror only)" if info.caption_source == "xmp" else ""
        lines.append(f"  caption:    {_quoted(info.caption)}{source}")
        captioner = _quoted(info.captioner) if info.captioner else "(given by the user)"
        lines.append(f"  captioner:  {captioner}")
        if info.caption_verified:
            lines.append(f"  integrity:  verified (payload v{info.payload_version})")
        else:
            lines.append(
                f"  integrity:  NOT VERIFIABLE (payload v{info.payload_version} has no "
                "integrity hash; re-embed with `jpegtext caption set` to add one)"
            )
    for text in info.warnings:  # may quote the file's XMP: escaped like every field from it
        lines.append(f"  warning:    {printable(text)}")
    if info.quality_kind == "exact":
        quality = f"{info.estimated_quality} (exact: standard IJG tables"
    elif info.quality_kind == "estimated":
        quality = f"{info.estimated_quality} (estimated: the nearest IJG quality to non-IJG tables"
    else:
        why = "CMYK" if info.subsampling == "other" else "no luminance table"
        quality = f"unknown ({why}: no IJG quality applies"
    stored = info.payload_quality if info.payload_quality is not None else "none"
    lines.append(f"  quality:    {quality}; stored in payload: {stored})")
    if info.quality_mismatch:
        shown = "do not show a quality" if info.estimated_quality is None else \
            f"are QF {info.estimated_quality} ({info.quality_kind})"
        lines.append(
            f"  warning:    the payload says QF {info.payload_quality} but the tables {shown}: "
            "the file was re-encoded after the caption was stored"
        )
    lines.append(f"  size:       {info.width}x{info.height}, {info.subsampling}")
    lines.append(
        f"  bytes:      {info.total_bytes:,} total = {info.image_bytes:,} image + "
        f"{info.caption_bytes:,} caption"
    )
    lines.append(f"  caption share: {100 * info.caption_share:.2f}%")
    return "\n".join(lines)


@click.command("info")
@click.argument("files", nargs=-1, required=True, metavar="FILE...")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per file and line.")
@click.option("-r", "--recursive", is_flag=True, help="Search folders (and ** globs) recursively.")
@max_pixels_option()
@click.pass_context
def info(
    ctx: click.Context,
    files: tuple[str, ...],
    as_json: bool,
    recursive: bool,
    max_pixels: int | None,
) -> None:
    """Show the caption, quality factor (estimated and stored) and sizes of JPEG FILE...

    FILE may be files, folders (their .jpg/.jpeg files), globs or '-' (standard input). A file
    that cannot be read is reported and the others are still shown; the exit status is then 1.
    """
    from jpegtext._io import read_bytes
    from jpegtext.cli import _one_line
    from jpegtext.cli._files import JPEG_SUFFIXES, expand_inputs
    from jpegtext.errors import JpegTextError

    items = expand_inputs(files, recursive=recursive, suffixes=JPEG_SUFFIXES)
    debug = bool((ctx.find_root().obj or {}).get("debug"))
    failed = 0
    for n, item in enumerate(items):
        try:
            data = read_bytes("-" if item.path is None else item.path)
            result = _inspect(data, max_pixels)
        except (JpegTextError, OSError, MemoryError) as exc:
            if debug:
                raise
            failed += 1
            message = _one_line(exc)
            if as_json:
                click.echo(printable_json({"file": item.label, "error": message}))
            else:
                click.echo(f"Error: {item.label}: {message}", err=True)
            continue
        if as_json:
            # The caption, captioner and warnings come from the file: DEL and C1 characters
            # are written as JSON \u escapes (valid JSON, the same text once parsed).
            click.echo(printable_json({"file": item.label, **result.to_dict()}))
        else:
            if n:
                click.echo("")
            click.echo(format_info(item.label, result))
    if failed:
        if len(items) == 1 and not as_json:
            ctx.exit(1)
        raise click.ClickException(f"{failed} of {len(items)} files could not be read")
