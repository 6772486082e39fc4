"""Text control against fidelity on flowers256 val: the line rounds 35-47 trade along.

Each training round is a point: its PSNR at QF 1 with the first human caption (the selection
images of ``benchmarks/select_text_model.sh``) minus v9's (round 35), and its text control on
flowers val (``benchmarks/text_control_flowers.py --split val``). The decode-time guidance probe
(``benchmarks/text_guidance.py``, v11 with ``empty + s x (caption - empty)``) is the dashed
curve. Everything is read from ``benchmarks/results/``; rounds whose files are missing are skipped.

    python examples/text_tradeoff_figure.py [--out docs/images/text_tradeoff.png]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"
_X_MIN = -0.4  # dB: the guidance points beyond are named in the legend only
# round -> label (the shipped ones by their names)
ROUNDS = {"35": "v9", "39b": "v10", "41": "41", "42": "v11",
          **{r: r for r in ("43", "44", "45", "46", "47")}}


def point(tag: str) -> tuple[float, float] | None:
    human = RESULTS / f"selection_text_val_human_r{tag}.json"
    control = RESULTS / f"text_control_flowers_val_r{tag}.json"
    if not (human.is_file() and control.is_file()):
        return None
    row = json.loads(human.read_text())["results"]["1"]
    name = next(k for k in row if k != "jpeg" and ":" not in k)
    return row[name]["psnr_rgb"], json.loads(control.read_text())["results"][0]["mean_shift_region"]


def _draw(ax: Any, base: tuple[float, float], x_min: float, with_guidance: bool) -> None:
    """The rounds (and, with ``with_guidance``, the guidance probe) on one matplotlib axis."""
    for tag, label in ROUNDS.items():
        p = point(tag)
        if p is None:
            continue
        shipped = label.startswith("v")
        ax.scatter(p[0] - base[0], p[1], s=40, color="tab:blue" if shipped else "tab:orange",
                   zorder=3)
        ax.annotate(label if shipped else f"round {label}", (p[0] - base[0], p[1]),
                    textcoords="offset points", xytext=(-28 if label == "v10" else 5, 4),
                    fontsize=8)
    guide = RESULTS / "text_guidance.json"
    if with_guidance and guide.is_file():
        rows = json.loads(guide.read_text())["rows"]
        shown = [r for r in rows if r["psnr_true"] - base[0] >= x_min]
        label = "v11 + decode-time guidance, s = " + ", ".join(f"{r['scale']:g}" for r in shown)
        label += "".join(f"\n(s = {r['scale']:g}: {r['psnr_true'] - base[0]:+.2f} dB, "
                         f"{r['text_control_val']:+.1f} levels, off the plot)"
                         for r in rows if r not in shown)
        ax.plot([r["psnr_true"] - base[0] for r in shown],
                [r["text_control_val"] for r in shown], "--", color="tab:grey", marker="x",
                zorder=2, label=label)
        ax.legend(loc="upper left", fontsize=8)
    ax.set_xlim(x_min - 0.005, 0.01)
    ax.axvline(-0.05, color="tab:red", lw=0.8, ls=":")
    ax.text(-0.05, ax.get_ylim()[0], " rule margin", color="tab:red", fontsize=7, va="bottom")
    ax.set_xlabel("PSNR at QF 1 minus v9's (dB), flowers256 val, true caption", fontsize=8)
    ax.set_ylabel("text control, flowers256 val (8-bit levels)", fontsize=8)
    ax.grid(alpha=0.3)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=REPO / "docs" / "images" / "text_tradeoff.png")
    args = ap.parse_args(argv)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    base = point("35")
    if base is None:
        raise SystemExit("error: round 35 (v9) results missing under benchmarks/results")
    fig, axes = plt.subplots(1, 2, figsize=(10.5, 4.2), dpi=120)
    for ax, (x_min, with_guidance) in zip(axes, ((_X_MIN, True), (-0.06, False)), strict=True):
        _draw(ax, base, x_min, with_guidance)
    axes[0].set_title("Colour steering costs fidelity: rounds 35-47 and decode-time guidance",
                      fontsize=9)
    axes[1].set_title("the rounds, closer", fontsize=9)
    fig.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
