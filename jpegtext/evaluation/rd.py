"""Rate-distortion views of evaluation results: equal-bytes tables, Bjøntegaard deltas, plots.

The harness (:mod:`jpegtext.evaluation.harness`) records each result's file ``bytes`` and
``bpp``: the jpegtext file (caption included) for JPEG and the restorers, the codec's own file
for ``webp`` / ``avif`` (encoded within the jpegtext file's bytes), the re-encoded file for
``:capbytes``. This module turns ``results.jsonl`` records into RD points (mean bpp and mean
metric per method and QF), the Bjøntegaard delta rate of each method against an anchor, and
plots.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

__all__ = [
    "RD_METRICS",
    "bd_rate",
    "bd_rates",
    "plot_rd",
    "rd_markdown",
    "rd_points",
]

#: metric -> (label, higher is better)
RD_METRICS: dict[str, tuple[str, bool]] = {
    "psnr_rgb": ("PSNR RGB (dB)", True),
    "psnr_y": ("PSNR-Y (dB)", True),
    "lpips": ("LPIPS", False),
    "niqe": ("NIQE", False),
}
_MEANS = ("bytes", "bpp", *RD_METRICS, "coded_quality")


def rd_points(
    records: Iterable[Mapping[str, Any]], qualities: Sequence[int], methods: Sequence[str]
) -> dict[str, dict[int, dict[str, Any]]]:
    """Mean bytes, bpp, metrics and coded quality per method and JPEG QF.

    Args:
        records: per-image results (``image``, ``quality``, ``method``, ``bytes``, ``bpp`` and
            metrics).
        qualities: the JPEG QFs (the row the jpegtext file's bytes come from).
        methods: the methods to keep, in order.

    Returns:
        ``{method: {qf: {"n", "over_budget", "bytes", "bpp", metric..., "coded_quality"}}}``;
        a mean over no or incomplete values is None.
    """
    groups: dict[tuple[str, int], list[Mapping[str, Any]]] = {}
    for r in records:
        groups.setdefault((str(r["method"]), int(r["quality"])), []).append(r)
    out: dict[str, dict[int, dict[str, Any]]] = {}
    for m in methods:
        rows: dict[int, dict[str, Any]] = {}
        for q in qualities:
            rs = groups.get((m, int(q)), [])
            if not rs:
                continue
            cell: dict[str, Any] = {
                "n": len(rs),
                "over_budget": sum(1 for r in rs if r.get("fits") is False),
            }
            for key in _MEANS:
                vals = [r.get(key) for r in rs]
                nums = [float(v) for v in vals if isinstance(v, (int, float))]
                cell[key] = float(np.mean(nums)) if nums and len(nums) == len(rs) else None
            rows[int(q)] = cell
        out[m] = rows
    return out


def bd_rate(
    rate_ref: Sequence[float],
    dist_ref: Sequence[float],
    rate_test: Sequence[float],
    dist_test: Sequence[float],
    *,
    higher_is_better: bool = True,
) -> float | None:
    """Bjøntegaard delta rate (%) of a test curve against a reference curve.

    The classic method (VCEG-M33): log10 of the rate is fitted as a cubic polynomial of the
    quality measure on each curve, both are integrated over the interval where the quality
    measures overlap, and the mean log-rate difference is turned into a percentage. Negative =
    the test needs fewer bytes for the same quality. For measures where lower is better
    (LPIPS, NIQE), pass ``higher_is_better=False``: the measure is negated first.

    Returns:
        The delta rate in percent, or None when a curve has under 4 distinct points or the
        curves' quality ranges do not overlap.
    """
    r1, d1 = np.log10(np.asarray(rate_ref, float)), np.asarray(dist_ref, float)
    r2, d2 = np.log10(np.asarray(rate_test, float)), np.asarray(dist_test, float)
    if not higher_is_better:
        d1, d2 = -d1, -d2
    if len(r1) != len(d1) or len(r2) != len(d2):
        return None
    # Repeated points (e.g. a codec at its lowest quality for several budgets) count once.
    d1, i1 = np.unique(d1, return_index=True)
    d2, i2 = np.unique(d2, return_index=True)
    r1, r2 = r1[i1], r2[i2]
    if min(len(d1), len(d2)) < 4:
        return None
    lo, hi = max(d1.min(), d2.min()), min(d1.max(), d2.max())
    if not hi > lo:
        return None
    p1 = np.polyint(np.polyfit(d1, r1, 3))
    p2 = np.polyint(np.polyfit(d2, r2, 3))
    avg = ((np.polyval(p2, hi) - np.polyval(p2, lo)) - (np.polyval(p1, hi) - np.polyval(p1, lo)))
    avg /= hi - lo
    return float((10.0**avg - 1.0) * 100.0)


def bd_rates(
    points: Mapping[str, Mapping[int, Mapping[str, Any]]],
    anchor: str = "jpeg",
    metrics: Sequence[str] = ("psnr_rgb", "psnr_y", "lpips"),
) -> dict[str, dict[str, float | None]]:
    """BD-rate (%) of every method against ``anchor``, per metric, from :func:`rd_points`.

    Returns:
        ``{method: {metric: percent | None}}`` (the anchor itself left out).
    """
    out: dict[str, dict[str, float | None]] = {}
    ref = points.get(anchor, {})
    for m, rows in points.items():
        if m == anchor:
            continue
        out[m] = {}
        for key in metrics:
            higher = RD_METRICS[key][1]
            a = [(c["bpp"], c[key]) for c in ref.values() if c["bpp"] and c[key] is not None]
            b = [(c["bpp"], c[key]) for c in rows.values() if c["bpp"] and c[key] is not None]
            out[m][key] = (
                bd_rate([x for x, _ in a], [y for _, y in a], [x for x, _ in b],
                        [y for _, y in b], higher_is_better=higher)
                if a and b
                else None
            )
    return out


def _fmt(value: Any, digits: int) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value:,.{digits}f}"


def rd_markdown(
    points: Mapping[str, Mapping[int, Mapping[str, Any]]],
    bd: Mapping[str, Mapping[str, float | None]],
    *,
    title: str,
    anchor: str = "jpeg",
) -> str:
    """The equal-bytes table (one row per QF, a column per method) and the BD-rate table."""
    methods = list(points)
    qfs = sorted({q for rows in points.values() for q in rows})
    lines = [f"## {title}", ""]
    lines.append(
        "Per JPEG QF: mean file bytes, then PSNR RGB (dB) / PSNR-Y (dB) / LPIPS / NIQE of each "
        "method at (at most) those bytes. webp / avif: their own mean bytes and quality in "
        "brackets."
    )
    lines += ["", "| QF | bytes | " + " | ".join(methods) + " |",
              "|---" * (len(methods) + 2) + "|"]
    most = max((c["n"] for rows in points.values() for c in rows.values()), default=0)
    for q in qfs:
        ref = points.get(anchor, {}).get(q) or next(
            (rows[q] for rows in points.values() if q in rows), {}
        )
        cells = []
        for m in methods:
            c = points[m].get(q)
            if c is None:
                cells.append("—")
                continue
            text = (f"{_fmt(c['psnr_rgb'], 2)} / {_fmt(c['psnr_y'], 2)} / "
                    f"{_fmt(c['lpips'], 3)} / {_fmt(c['niqe'], 2)}")
            if c.get("coded_quality") is not None:
                text += f" ({_fmt(c['bytes'], 0)} B, q {_fmt(c['coded_quality'], 1)}"
                text += f", {c['over_budget']} over)" if c.get("over_budget") else ")"
            elif c.get("bytes") is not None and ref.get("bytes") and (
                abs(c["bytes"] - ref["bytes"]) > 0.5
            ):
                text += f" ({_fmt(c['bytes'], 0)} B)"  # same pixels, other bytes (mozjpeg)
            if c["n"] < most:
                text += f" [{c['n']} of {most} images]"
            cells.append(text)
        lines.append(f"| {q} | {_fmt(ref.get('bytes'), 0)} | " + " | ".join(cells) + " |")
    lines += ["", f"Bjøntegaard delta rate against `{anchor}` (negative = fewer bytes for the "
              "same quality; cubic fit over the overlapping quality range):", ""]
    keys = sorted({k for row in bd.values() for k in row}, key=list(RD_METRICS).index)
    lines += ["| method | " + " | ".join(f"BD-rate ({RD_METRICS[k][0]})" for k in keys) + " |",
              "|---" * (len(keys) + 1) + "|"]
    for m, row in bd.items():
        lines.append(f"| {m} | " + " | ".join(
            "n/a" if row.get(k) is None else f"{row[k]:+.1f} %" for k in keys) + " |")
    return "\n".join(lines) + "\n"


def plot_rd(
    points: Mapping[str, Mapping[int, Mapping[str, Any]]],
    path: str | os.PathLike[str],
    *,
    title: str,
    metrics: Sequence[str] = ("psnr_rgb", "lpips"),
) -> None:
    """RD curves (metric vs bpp, one line per method, JPEG QFs marked) saved as a PNG.

    Raises:
        MissingDependencyError: matplotlib is not installed.
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.ticker import FormatStrFormatter
    except ImportError as exc:
        from jpegtext.errors import MissingDependencyError

        raise MissingDependencyError(f"plots need matplotlib: {exc}") from None
    fig, axes = plt.subplots(1, len(metrics), figsize=(6.2 * len(metrics), 4.6))
    axes = np.atleast_1d(axes)
    for ax, key in zip(axes, metrics, strict=True):
        label, higher = RD_METRICS[key]
        for m, rows in points.items():
            pts = sorted((c["bpp"], c[key], q) for q, c in rows.items()
                         if c["bpp"] is not None and c[key] is not None)
            if not pts:
                continue
            xs, ys = [p[0] for p in pts], [p[1] for p in pts]
            (line,) = ax.plot(xs, ys, marker="o", ms=3.5, lw=1.6, label=m)
            if m == "jpeg":
                for x, y, q in pts:
                    ax.annotate(f"q{q}", (x, y), textcoords="offset points", xytext=(3, -9),
                                fontsize=7, color=line.get_color())
        ax.set_xlabel("bits per pixel (whole file)")
        ax.set_ylabel(label + (" ↑" if higher else " ↓"))
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(FormatStrFormatter("%.2g"))
        ax.xaxis.set_minor_formatter(FormatStrFormatter("%.2g"))
        ax.tick_params(axis="x", which="minor", labelsize=7)
        ax.grid(alpha=0.3, which="both")
    axes[0].legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
