"""``jpegtext models``: the registered restoration models and whether their weights are here.

Reads the registry and the file system only: no torch import (``jpegtext models`` is instant).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import click

from jpegtext.cli._text import printable_json

__all__ = ["model_rows", "models"]


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
        Entry fields (see :class:`~jpegtext.restore.runtime.zoo.ModelEntry`) plus ``installed``
        (``"package"``, ``"cache"`` ($JPEGTEXT_HOME), ``"path"`` (a folder of
        $JPEGTEXT_MODEL_PATH) or ``"missing"``), ``path`` (or None), ``size_bytes`` (or None),
        ``default`` (bool), ``get`` (how to install it when missing, else None) and, with
        ``verify``, ``sha256_ok`` (bool or None).
    """
    from jpegtext.restore.runtime import zoo

    rows = []
    for entry in zoo.list_models():
        where, path = zoo.find_model_file(entry) or ("missing", None)
        row = entry.to_dict()
        row.update(
            {
                "installed": where,
                "path": None if path is None else str(path),
                "size_bytes": None if path is None else path.stat().st_size,
                "default": entry.name == zoo.DEFAULT_MODEL,
                "get": zoo.how_to_get(entry) if path is None else None,
            }
        )
        if verify:
            row["sha256_ok"] = None if path is None else zoo.file_sha256(path) == entry.sha256
        rows.append(row)
    return rows


_PLACES = {"package": "package", "cache": "JPEGTEXT_HOME", "path": "JPEGTEXT_MODEL_PATH",
           "missing": "not installed"}


def _installed_cell(row: Mapping[str, Any]) -> str:
    text = _PLACES[row["installed"]]
    if text == "not installed" and row.get("url"):
        text = "not installed (downloadable)"
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
@click.option(
    "--install",
    "install",
    type=click.Path(exists=True, path_type=Path),
    help="Copy a registered model file (checked against its sha256), or every registered "
    "model file of a folder, into $JPEGTEXT_HOME, e.g. --install examples/weights.",
)
@click.option("--force", is_flag=True, help="With --install: replace a damaged installed file.")
def models(as_json: bool, verify: bool, install: Path | None, force: bool) -> None:
    """List the registered restoration models and where their weights are.

    INSTALLED is "package" (shipped inside jpegtext: the default model only),
    "JPEGTEXT_HOME" (the home folder, default ~/.cache/jpegtext), "JPEGTEXT_MODEL_PATH" (an
    extra folder named by that variable) or "not installed"; a line under the table says how to
    get each model that is not installed (its file is in the jpegtext repository:
    `jpegtext models --install examples/weights/NAME.safetensors`). With --verify the exit
    status is 1 when any installed file does not match its registered sha256. The default model
    (used by `jpegtext decode` without --model) is marked with *. Any model file also works
    directly: `jpegtext decode --model FILE.safetensors`.
    """
    from jpegtext.errors import JpegTextError
    from jpegtext.restore.runtime import zoo

    if force and install is None:
        raise click.BadParameter("--force only goes with --install", param_hint="--force")
    if install is not None:
        try:
            done = zoo.install_model(install, force=force)
        except JpegTextError as exc:
            raise click.ClickException(str(exc)) from None
        for entry, dest, status in done:
            click.echo(f"{entry.name}: {status} ({dest})")
        return
    rows = model_rows(verify=verify)
    if as_json:
        doc = {
            "default": zoo.DEFAULT_MODEL,
            "cache_dir": str(zoo.cache_dir()),
            "package_dir": str(zoo.PACKAGE_WEIGHTS),
            "models": rows,
        }
        click.echo(printable_json(doc, indent=2))
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
    missing = [r for r in rows if r["installed"] == "missing"]
    for r in missing:
        click.echo(f"to get {r['name']}: {r['get']}")
    click.echo(f"cache folder: {zoo.cache_dir()}")
    _fail_on_mismatch(rows)


def _fail_on_mismatch(rows: Sequence[Mapping[str, Any]]) -> None:
    bad = [r["name"] for r in rows if r.get("sha256_ok") is False]
    if bad:
        raise click.ClickException(
            f"{len(bad)} model file(s) do not match their registered sha256: {', '.join(bad)}"
        )
