"""``jpegtext models``: the registered restoration models and whether their weights are here.

Reads the registry and the file system only: no torch import (``jpegtext models`` is instant).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import click

__all__ = ["model_rows", "models"]


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _qualities(qs: Sequence[int]) -> str:
    """``1-10`` for a run of consecutive values, else ``1,5,10``."""
    q = sorted(qs)
    if len(q) > 2 and q == list(range(q[0], q[-1] + 1)):
        return f"{q[0]}-{q[-1]}"
    return ",".join(str(v) for v in q)


def _human(n: int | None) -> str:
    if n is None:
        return "-"
    return f"{n / 1e6:.1f} MB" if n >= 1e6 else f"{n / 1e3:.1f} kB"


def _number(v: Any) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def _metrics(metrics: Mapping[str, Any], limit: int = 2) -> str:
    """The first ``limit`` metric entries on one line, e.g. ``live1/qf1: psnr 27.1, lpips 0.2``."""
    parts = []
    for key in list(metrics)[:limit]:
        value = metrics[key]
        if isinstance(value, Mapping):
            inner = ", ".join(f"{k} {_number(v)}" for k, v in value.items())
            parts.append(f"{key}: {inner}")
        else:
            parts.append(f"{key}: {_number(value)}")
    more = len(metrics) - limit
    return "; ".join(parts) + (f" (+{more} more)" if more > 0 else "") if parts else "-"


def model_rows(*, verify: bool = False) -> list[dict[str, Any]]:
    """One dict per registered model: the registry entry plus where its weights are.

    Args:
        verify: hash installed files and report whether they match the registered sha256.

    Returns:
        Entry fields (see :class:`~jpegtext.restore.zoo.ModelEntry`) plus ``installed``
        (``"package"``, ``"cache"`` or ``"missing"``), ``path`` (or None), ``size_bytes`` (or
        None), ``default`` (bool) and, with ``verify``, ``sha256_ok`` (bool or None).
    """
    from jpegtext.restore import zoo

    rows = []
    for entry in zoo.list_models():
        places = (
            ("package", zoo.PACKAGE_WEIGHTS / entry.filename),
            ("cache", zoo.cache_dir() / entry.filename),
        )
        where, path = next(((w, p) for w, p in places if p.is_file()), ("missing", None))
        row = entry.to_dict()
        row.update(
            {
                "installed": where,
                "path": None if path is None else str(path),
                "size_bytes": None if path is None else path.stat().st_size,
                "default": entry.name == zoo.DEFAULT_MODEL,
            }
        )
        if verify:
            row["sha256_ok"] = None if path is None else _sha256(path) == entry.sha256
        rows.append(row)
    return rows


def _installed_cell(row: Mapping[str, Any]) -> str:
    text = row["installed"]
    if text == "missing" and row.get("url"):
        text = "missing (downloadable)"
    if row.get("sha256_ok") is True:
        text += " (sha256 ok)"
    elif row.get("sha256_ok") is False:
        text += " (SHA256 MISMATCH: refused)"
    return text


@click.command("models")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead.")
@click.option(
    "--verify",
    is_flag=True,
    help="Hash the installed weight files and check them against the registry.",
)
def models(as_json: bool, verify: bool) -> None:
    """List the registered restoration models and where their weights are.

    INSTALLED is "package" (shipped inside jpegtext), "cache" ($JPEGTEXT_HOME, default
    ~/.cache/jpegtext) or "missing". With --verify the exit status is 1 when any installed
    file does not match its registered sha256. The default model (used by `jpegtext decode` without
    --model) is marked with *. Any model file also works directly:
    `jpegtext decode --model FILE.safetensors`.
    """
    from jpegtext.restore import zoo

    rows = model_rows(verify=verify)
    if as_json:
        doc = {
            "default": zoo.DEFAULT_MODEL,
            "cache_dir": str(zoo.cache_dir()),
            "package_dir": str(zoo.PACKAGE_WEIGHTS),
            "models": rows,
        }
        click.echo(json.dumps(doc, indent=2, ensure_ascii=False))
        _fail_on_mismatch(rows)
        return
    if not rows:
        click.echo(
            "No models are registered in this build of jpegtext (no trained weights "
            "are shipped yet)."
        )
        click.echo(
            "Restore with a model file instead: jpegtext decode --model "
            "FILE.safetensors IN.jpg -o OUT.png"
        )
        return
    header = ("NAME", "CONFIG", "QF", "TEXT", "SIZE", "SHA256", "INSTALLED", "METRICS")
    table = [header]
    for r in rows:
        table.append(
            (
                ("* " if r["default"] else "  ") + r["name"],
                r["config"],
                _qualities(r["qualities"]),
                r["text_encoder"],
                _human(r["size_bytes"]),
                r["sha256"][:12],
                _installed_cell(r),
                _metrics(r["metrics"]),
            )
        )
    table[0] = ("  " + header[0], *header[1:])
    widths = [max(len(row[i]) for row in table) for i in range(len(header) - 1)]
    for row in table:
        cells = [cell.ljust(w) for cell, w in zip(row, widths, strict=False)]
        click.echo("  ".join([*cells, row[-1]]).rstrip())
    click.echo("")
    if any(r["default"] for r in rows):
        click.echo("* default model (jpegtext decode without --model)")
    click.echo(f"cache folder: {zoo.cache_dir()}")
    _fail_on_mismatch(rows)


def _fail_on_mismatch(rows: Sequence[Mapping[str, Any]]) -> None:
    bad = [r["name"] for r in rows if r.get("sha256_ok") is False]
    if bad:
        raise click.ClickException(
            f"{len(bad)} model file(s) do not match their registered sha256: {', '.join(bad)}"
        )
