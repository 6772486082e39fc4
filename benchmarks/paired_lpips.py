"""Paired LPIPS differences between two methods of ``jpegtext evaluate`` runs, with a bootstrap CI.

Each side is ``RESULTS.jsonl:METHOD`` (the per-image file an evaluation writes and a method name
in it). Images and qualities present on both sides are paired; for each quality the mean of
``lpips(A) - lpips(B)`` (negative: A is better), its 95 % bootstrap interval (2,000 resamples of
the images, seeded) and how many images A wins are printed and written as JSON.

    python benchmarks/paired_lpips.py \\
        runs/text_selection_bilstm/human/results.jsonl:text-bilstm \\
        runs/bilstm/val_r1/results.jsonl:tgjar-text-cpu --out benchmarks/results/x.json
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path


def load(spec: str) -> tuple[str, dict[tuple[str, int], float]]:
    path, sep, method = spec.partition(".jsonl:")
    if not sep:
        raise SystemExit(f"{spec!r}: expected RESULTS.jsonl:METHOD")
    path += ".jsonl"
    rows = (json.loads(x) for x in Path(path).read_text(encoding="utf-8").splitlines() if x.strip())
    scores = {(r["image"], int(r["quality"])): float(r["lpips"]) for r in rows
              if r["method"] == method}
    if not scores:
        raise SystemExit(f"no rows of method {method!r} in {path}")
    return method, scores


def compare(a: dict[tuple[str, int], float], b: dict[tuple[str, int], float],
            resamples: int = 2000, seed: int = 0) -> list[dict[str, object]]:
    rng = random.Random(seed)
    out = []
    for q in sorted({k[1] for k in a if k in b}):
        d = [a[k] - b[k] for k in a if k[1] == q and k in b]
        boots = sorted(sum(rng.choice(d) for _ in d) / len(d) for _ in range(resamples))
        out.append({"quality": q, "n": len(d), "mean_diff": sum(d) / len(d),
                    "ci95": [boots[int(0.025 * resamples)], boots[int(0.975 * resamples) - 1]],
                    "a_wins": sum(v < 0 for v in d)})
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("pairs", nargs="+", help="A B [A B ...]: RESULTS.jsonl:METHOD each")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    if len(args.pairs) % 2:
        raise SystemExit("give the sides in pairs: A B [A B ...]")
    report = []
    for sa, sb in zip(args.pairs[::2], args.pairs[1::2], strict=True):
        (na, a), (nb, b) = load(sa), load(sb)
        for row in compare(a, b):
            lo, hi = row["ci95"]
            print(f"QF {row['quality']:2d}  {na} - {nb}: {row['mean_diff']:+.4f} LPIPS "
                  f"(95 % [{lo:+.4f}, {hi:+.4f}], A better on {row['a_wins']}/{row['n']})")
            report.append({"a": sa, "b": sb, **row})
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        cmd = "python benchmarks/paired_lpips.py " + " ".join(args.pairs)
        args.out.write_text(json.dumps({"command": cmd, "rows": report}, indent=2) + "\n")


if __name__ == "__main__":
    main()
