"""The paper's Table 3 layout from the text-ablation runs: twin / text model (true, empty, wrong).

Reads ``benchmarks/results/ablation_<dataset>.json`` (written by ``run_text_ablation.sh``) and,
for the default model's reference column, the same dataset's ``eval_<dataset>.json`` of the
paper tables (or the ablation run itself where it ran ``tgjar-small-v4``), and writes
``benchmarks/results/ablation_table3_compact.md``: LPIPS / RGB PSNR with 4 / 2 digits.

    python benchmarks/ablation_table.py
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"
DATASETS = [  # ablation name, eval name of the paper tables (v4 reference), caption source
    ("flowers256-test", None, "human (first of 10)"),
    ("coco_mini-val", "coco_mini", "human (first)"),
    ("kodak", "kodak", "built-in captioner"),
    ("live1", "live1", "built-in captioner"),
]


def _cell(row: dict | None) -> str:
    if not row:
        return "—"
    return f"{row['lpips']:.4f} / {row['psnr_rgb']:.2f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--text", default="tgjar-text-cpu")
    ap.add_argument("--twin", default="tgjar-text-twin-cpu")
    ap.add_argument("--reference", default="tgjar-small-v4")
    ap.add_argument("--out", type=Path, default=RESULTS / "ablation_table3_compact.md")
    args = ap.parse_args()
    t, w, ref = args.text, args.twin, args.reference
    lines = [
        "# Text ablation, the paper's Table 3 layout (LPIPS ↓ / RGB PSNR ↑, dB)",
        "",
        f"Twin: `{w}` with an empty caption (trained with every caption empty). Text: `{t}`",
        "with the true caption, an empty caption, another image's caption (seeded derangement).",
        f"`{ref}`: the default model with the true caption (its own bi-LSTM). n = images.",
        "",
        f"| dataset | captions | n | QF | JPEG | twin | text, true | text, empty | text, wrong | {ref} |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    commands = []
    for name, eval_name, source in DATASETS:
        path = RESULTS / f"ablation_{name}.json"
        if not path.is_file():
            continue
        s = json.loads(path.read_text())
        commands.append(s["command"])
        ref_res = None
        if eval_name and (RESULTS / f"eval_{eval_name}.json").is_file():
            ref_res = json.loads((RESULTS / f"eval_{eval_name}.json").read_text())["results"]
        for q, rows in s["results"].items():
            ref_row = rows.get(ref) or (ref_res or {}).get(q, {}).get(ref)
            n = rows[t]["n"]
            lines.append(
                f"| {name} | {source} | {n} | {q} | {_cell(rows.get('jpeg'))} | "
                f"{_cell(rows.get(w + ':nocap'))} | {_cell(rows.get(t))} | "
                f"{_cell(rows.get(t + ':nocap'))} | {_cell(rows.get(t + ':wrongcap'))} | "
                f"{_cell(ref_row)} |")
    lines += ["", "Commands (`benchmarks/run_text_ablation.sh`; the reference column of coco_mini,",
              "Kodak and LIVE1 comes from `benchmarks/run_paper_tables.sh`, the same harness,",
              "captions and images; its coco_mini reference covers all 159 images):", ""]
    lines += [f"- `{c}`" for c in commands]
    args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
