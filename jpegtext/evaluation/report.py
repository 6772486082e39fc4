"""Aggregating per-image results and writing them as CSV, JSON means and markdown tables.

The markdown follows the paper's layout: its Table 1 (rows: dataset and QF; columns: methods;
cells ``LPIPS/FID/PI/NIQE``, lower is better), its Table 2 (same grid, PSNR), a luma fidelity
grid (PSNR-Y/SSIM-Y/PSNR-B-Y), its Table 4 (one row per dataset, QF and method, every metric in
its own column) and, when a model was run with ``:nocap``/``:wrongcap``, the text ablation (its
Table 3, our way: the same weights with the true, an empty and another image's caption). The
best number of each metric in a row is bold.

A metric that was not computed is never given a number: FID and PI read
``n/a (weights not given)`` unless the Inception weights / Ma et al. scores were supplied.

Several runs (datasets) can be combined into one file::

    python -m jpegtext.evaluation kodak/summary.json live1/summary.json -o tables.md
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "METRICS",
    "NA_NOT_COMPUTED",
    "NA_WEIGHTS",
    "MetricInfo",
    "aggregate",
    "render_markdown",
    "write_csv",
]

NA_WEIGHTS = "n/a (weights not given)"
NA_NOT_COMPUTED = "n/a (not computed)"


@dataclass(frozen=True)
class MetricInfo:
    """How a metric is named, compared and printed."""

    key: str
    label: str
    lower_is_better: bool
    digits: int


METRICS: dict[str, MetricInfo] = {
    m.key: m
    for m in (
        MetricInfo("lpips", "LPIPS", True, 3),
        MetricInfo("fid", "FID", True, 1),
        MetricInfo("pi", "PI", True, 2),
        MetricInfo("niqe", "NIQE", True, 2),
        MetricInfo("psnr_rgb", "PSNR", False, 2),
        MetricInfo("psnr_y", "PSNR-Y", False, 2),
        MetricInfo("ssim_y", "SSIM-Y", False, 4),
        MetricInfo("psnrb_y", "PSNR-B-Y", False, 2),
        MetricInfo("bpp", "bpp", True, 3),
        MetricInfo("restore_s", "s/img", True, 2),
    )
}
#: per-image metrics averaged by :func:`aggregate` (FID is a set-level metric, added apart)
PER_IMAGE = ("psnr_rgb", "psnr_y", "ssim_y", "psnrb_y", "lpips", "niqe", "pi", "bpp", "restore_s")

_NOT_RANKED = frozenset({"bpp", "restore_s"})

CSV_COLUMNS = (
    "image",
    "quality",
    "method",
    "caption_mode",
    "caption",
    "wrong_caption_of",
    "bytes",
    "bpp",
    "psnr_rgb",
    "psnr_y",
    "ssim_y",
    "psnrb_y",
    "lpips",
    "niqe",
    "pi",
    "restore_s",
)


def to_number(value: Any) -> float | None:
    """A record's value as a float (``"inf"`` -> inf); None for missing or ``n/a`` text."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str) and value in ("inf", "-inf", "nan"):
        return float(value)
    return None


def json_number(value: float) -> float | str:
    """``value`` for strict JSON: infinities and NaN become strings."""
    return value if math.isfinite(value) else str(value)


def aggregate(
    records: Iterable[Mapping[str, Any]],
    qualities: Sequence[int],
    methods: Sequence[str],
    *,
    na: Mapping[str, str] | None = None,
) -> dict[str, dict[str, dict[str, Any]]]:
    """Mean of every per-image metric for each (QF, method).

    Args:
        records: per-image results (keys ``quality``, ``method`` and metric names).
        qualities: the QFs, in table order.
        methods: the method names, in table order.
        na: metric -> the text to report instead of a number (e.g. ``{"pi": NA_WEIGHTS}``).

    Returns:
        ``{str(qf): {method: {"n": count, metric: mean | text}}}``; a metric without any
        value reads :data:`NA_NOT_COMPUTED`.
    """
    na = dict(na or {})
    groups: dict[tuple[int, str], list[Mapping[str, Any]]] = {}
    for r in records:
        groups.setdefault((int(r["quality"]), str(r["method"])), []).append(r)
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for q in qualities:
        row: dict[str, dict[str, Any]] = {}
        for m in methods:
            rs = groups.get((int(q), m), [])
            cell: dict[str, Any] = {"n": len(rs)}
            for key in PER_IMAGE:
                if key in na:
                    cell[key] = na[key]
                    continue
                values = [v for v in (to_number(r.get(key)) for r in rs) if v is not None]
                if values and len(values) == len(rs):
                    cell[key] = json_number(float(sum(values) / len(values)))
                else:
                    cell[key] = NA_NOT_COMPUTED
            row[m] = cell
        out[str(q)] = row
    return out


def write_csv(path: str | os.PathLike[str], records: Iterable[Mapping[str, Any]]) -> None:
    """Per-image results as CSV (one row per image, QF and method)."""
    import io

    from jpegtext._io import atomic_write_bytes

    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for r in records:
        writer.writerow({k: ("" if r.get(k) is None else r.get(k)) for k in CSV_COLUMNS})
    atomic_write_bytes(path, buf.getvalue().encode("utf-8"), force=True)


# ---------------------------------------------------------------------------------------------
# Markdown


def _fmt(value: Any, digits: int) -> str:
    x = to_number(value)
    if x is None:
        return "n/a"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return f"{x:.{digits}f}"


def _best(values: Sequence[Any], lower: bool) -> float | None:
    xs = [x for x in (to_number(v) for v in values) if x is not None and not math.isnan(x)]
    if len(xs) < 2:
        return None
    return min(xs) if lower else max(xs)


def _cells(
    row: Mapping[str, Mapping[str, Any]], methods: Sequence[str], keys: Sequence[str]
) -> list[str]:
    """One cell per method, metrics joined by '/', the best of each metric in bold."""
    best = {}
    for key in keys:
        info = METRICS[key]
        vals = [row[m].get(key) if m in row and row[m].get("n") else None for m in methods]
        # bpp is the same file for every method and time is no quality: nothing to win there.
        best[key] = None if key in _NOT_RANKED else _best(vals, info.lower_is_better)
    cells = []
    for m in methods:
        cell = row.get(m)
        if not cell or not cell.get("n"):
            cells.append("—")
            continue
        parts = []
        for key in keys:
            info = METRICS[key]
            text = _fmt(cell.get(key), info.digits)
            x = to_number(cell.get(key))
            b = best[key]
            if b is not None and x is not None and round(x, info.digits) == round(b, info.digits):
                text = f"**{text}**"
            parts.append(text)
        cells.append("/".join(parts))
    return cells


def _table(lines: list[str], header: Sequence[str], rows: Iterable[Sequence[str]]) -> None:
    lines.append("| " + " | ".join(header) + " |")
    lines.append("|" + "|".join("---" for _ in header) + "|")
    for r in rows:
        lines.append("| " + " | ".join(r) + " |")
    lines.append("")


def _union(lists: Iterable[Sequence[str]]) -> list[str]:
    out: list[str] = []
    for items in lists:
        for x in items:
            if x not in out:
                out.append(x)
    return out


def _grid(
    lines: list[str], summaries: Sequence[Mapping[str, Any]], keys: Sequence[str], title: str
) -> None:
    methods = _union(s["method_names"] for s in summaries)
    lines.append(f"### {title}")
    lines.append("")
    rows = []
    for s in summaries:
        for q in s["qualities"]:
            row = s["results"][str(q)]
            rows.append([s["dataset"]["name"], str(q), *_cells(row, methods, keys)])
    _table(lines, ["Dataset", "QF", *methods], rows)


def _long_table(lines: list[str], summaries: Sequence[Mapping[str, Any]]) -> None:
    keys = ("lpips", "fid", "pi", "niqe", "psnr_rgb", "psnr_y", "ssim_y", "psnrb_y", "bpp")
    lines.append("### All metrics per method (layout of the paper's Table 4)")
    lines.append("")
    header = (
        ["Dataset", "QF", "Method", "n"]
        + [
            METRICS[k].label
            + (" ↓" if METRICS[k].lower_is_better and k != "bpp" else "")
            + (" ↑" if not METRICS[k].lower_is_better else "")
            for k in keys
        ]
        + ["s/img"]
    )
    rows = []
    for s in summaries:
        for q in s["qualities"]:
            row = s["results"][str(q)]
            methods = s["method_names"]
            per_key = {k: _cells(row, methods, [k]) for k in keys}
            for i, m in enumerate(methods):
                cell = row[m]
                rows.append(
                    [s["dataset"]["name"], str(q), m, str(cell.get("n", 0))]
                    + [per_key[k][i] for k in keys]
                    + [_fmt(cell.get("restore_s"), 2)]
                )
    _table(lines, header, rows)


def _ablation(lines: list[str], summaries: Sequence[Mapping[str, Any]]) -> None:
    rows = []
    modes = (("caption", "true caption"), ("nocap", "empty caption"), ("wrongcap", "wrong caption"))
    keys = ("lpips", "niqe", "psnr_rgb")
    for s in summaries:
        by_model: dict[str, dict[str, str]] = {}
        for spec in s["methods"]:
            if spec["kind"] == "tgjar":
                by_model.setdefault(spec["name"].split(":", 1)[0], {})[spec["caption_mode"]] = spec[
                    "name"
                ]
        for model, variants in by_model.items():
            if len(variants) < 2:
                continue
            for q in s["qualities"]:
                row = s["results"][str(q)]
                names = [variants.get(mode, "") for mode, _ in modes]
                sub = {n: row[n] for n in names if n}
                cells = _cells(sub, names, keys)
                rows.append([s["dataset"]["name"], str(q), model, *cells])
    if not rows:
        return
    lines.append("### Text ablation: same weights, different captions (the paper's Table 3)")
    lines.append("")
    lines.append("Cells: LPIPS ↓ / NIQE ↓ / PSNR ↑.")
    lines.append("")
    _table(lines, ["Dataset", "QF", "Model", *[label for _, label in modes]], rows)


def render_markdown(summaries: Sequence[Mapping[str, Any]]) -> str:
    """The markdown tables of one or several evaluation summaries (see the module docstring).

    Args:
        summaries: ``summary.json`` contents written by the harness.

    Returns:
        Markdown text.
    """
    if not summaries:
        raise ValueError("no summaries to render")
    lines = ["## Evaluation results", ""]
    for s in summaries:
        d = s["dataset"]
        what = d["name"] + (f" (split {d['split']})" if d.get("split") else "")
        lines.append(
            f"- **{what}**: {d['images']} images, QF {', '.join(map(str, s['qualities']))}, "
            f"captions: {s['captions']['source']}, device {s.get('device', '?')}, "
            f"jpegtext {s['versions'].get('jpegtext', '?')}."
        )
        lines.append(f"  Command: `{s['command']}`")
    lines.append("")
    _grid(
        lines,
        summaries,
        ("lpips", "fid", "pi", "niqe"),
        "LPIPS / FID / PI / NIQE ↓ (layout of the paper's Table 1)",
    )
    _grid(lines, summaries, ("psnr_rgb",), "PSNR (RGB, dB) ↑ (layout of the paper's Table 2)")
    _grid(
        lines,
        summaries,
        ("psnr_y", "ssim_y", "psnrb_y"),
        "PSNR-Y / SSIM-Y / PSNR-B-Y ↑ (BT.601 luma)",
    )
    _long_table(lines, summaries)
    _ablation(lines, summaries)
    notes = _union([s.get("notes", []) for s in summaries])
    if notes:
        lines.append("Notes:")
        lines.append("")
        lines += [f"- {n}" for n in notes]
        lines.append("")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Combine ``summary.json`` files of several runs into one markdown file."""
    parser = argparse.ArgumentParser(
        prog="python -m jpegtext.evaluation",
        description="Render the markdown tables of one or more evaluation summaries together.",
    )
    parser.add_argument("summaries", nargs="+", type=Path, help="summary.json files")
    parser.add_argument("-o", "--output", type=Path, help="markdown file (default: stdout)")
    args = parser.parse_args(argv)
    summaries = [json.loads(p.read_text(encoding="utf-8")) for p in args.summaries]
    text = render_markdown(summaries)
    if args.output is None:
        print(text)
    else:
        from jpegtext._io import atomic_write_bytes

        atomic_write_bytes(args.output, text.encode("utf-8"), force=True)
    return 0
