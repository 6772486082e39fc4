"""What a true caption costs or buys, per colour word it names (LPIPS, caption minus empty caption).

Reads an evaluation's ``results.jsonl`` that ran one model with captions (``M``) and without
(``M:nocap``) on the same images, groups the images by the first colour word of their caption and
prints, per word and QF, the mean of ``lpips(M) - lpips(M:nocap)`` (negative: the caption helps).
``select_text_model.sh`` runs it on its flowers val human-caption run, so a round's rule can see
which colours the text helps and which it hurts.

    python benchmarks/per_colour.py runs/text_selection_r24/human/results.jsonl \\
        --out benchmarks/results/selection_text_val_colours_r24.json
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

WORDS = ("red", "orange", "yellow", "blue", "purple", "pink", "white")
_WORD = re.compile(r"\b(" + "|".join(WORDS) + r")\b", re.IGNORECASE)


def per_colour(rows: list[dict[str, object]]) -> dict[str, dict[str, dict[str, float]]]:
    """``{quality: {word: {"n", "mean", "se"}}}`` of caption-minus-empty LPIPS per image; word
    ``"none"`` for captions naming no colour, ``"all"`` for every image."""
    plain: dict[tuple[str, int], tuple[float, str]] = {}
    nocap: dict[tuple[str, int], float] = {}
    for r in rows:
        method, key = str(r["method"]), (str(r["image"]), int(r["quality"]))
        if method == "jpeg" or "lpips" not in r:
            continue
        if method.endswith(":nocap"):
            nocap[key] = float(r["lpips"])
        else:
            plain[key] = (float(r["lpips"]), str(r.get("caption") or ""))
    groups: dict[int, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for key, (value, caption) in plain.items():
        if key not in nocap:
            continue
        match = _WORD.search(caption)
        diff = value - nocap[key]
        groups[key[1]][match.group(1).lower() if match else "none"].append(diff)
        groups[key[1]]["all"].append(diff)
    return {str(q): {w: {"n": len(v), "mean": float(np.mean(v)),
                         "se": float(np.std(v, ddof=1) / np.sqrt(len(v))) if len(v) > 1 else 0.0}
                     for w, v in sorted(by_word.items())}
            for q, by_word in sorted(groups.items())}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("results", type=Path, help="results.jsonl with methods M and M:nocap")
    ap.add_argument("--out", type=Path, default=None, help="also write the table as JSON")
    args = ap.parse_args(argv)
    if not args.results.is_file():
        print(f"no results file {args.results}", file=sys.stderr)
        return 1
    rows = [json.loads(x) for x in args.results.read_text(encoding="utf-8").splitlines()
            if x.strip()]
    table = per_colour(rows)
    if not table:
        print(f"{args.results}: no image has both a captioned and a :nocap result", file=sys.stderr)
        return 1
    for q, by_word in table.items():
        print(f"QF {q}: caption minus empty caption, LPIPS x 1e-4 per image (n)")
        for word, s in by_word.items():
            print(f"  {word:7s} {1e4 * s['mean']:+7.1f} +- {1e4 * s['se']:5.1f}  ({s['n']})")
    if args.out is not None:
        args.out.write_text(json.dumps({"source": str(args.results), "per_quality": table},
                                       indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
