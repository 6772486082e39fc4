"""``encode --max-bytes`` on real photos: is the file always within the budget, and how good is
the quality the search picks?

Usage::

    python benchmarks/max_bytes.py [--data ../shared/data/kodak] [--budgets 6000 9000 15000]
        [--out benchmarks/results]

For every image (its built-in caption stored, as ``jpegtext encode`` does) and budget:
``jpegtext.encode(image, max_bytes=B)`` gives the file and its QF; it is checked to be at most
B bytes and compared with a brute-force scan of every quality 1-100 (the true highest quality
that fits). Prints a summary and writes ``OUT/maxbytes_<data>.json`` (per image: QF chosen,
bytes, the brute-force QF, encodes, seconds). A budget below every file is checked to raise
``BudgetError``. Exits 0 with a message when the data are absent.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=Path("../shared/data/kodak"))
    ap.add_argument("--budgets", type=int, nargs="+", default=[6000, 9000, 15000])
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    args = ap.parse_args(argv)
    files = sorted(p for p in args.data.glob("*") if p.suffix.lower() in (".png", ".bmp"))
    if not files:
        print(f"skipped: no images in {args.data}", file=sys.stderr)
        return 0
    import jpegtext
    from jpegtext.api import encode_detailed, inspect
    from jpegtext.captioner import get_captioner
    from jpegtext.codec import Payload, encode_jpeg, load_image
    from jpegtext.errors import BudgetError

    captioner = get_captioner("builtin")
    rows = []
    for path in files:
        image = load_image(path)
        caption = captioner([image])[0]
        sizes = {q: len(encode_jpeg(image, q, payload=Payload(caption, None, q)))
                 for q in range(1, 101)}
        for budget in args.budgets:
            fitting = [q for q, n in sizes.items() if n <= budget]
            row = {
                "image": path.name,
                "budget": budget,
                "brute_force_quality": max(fitting) if fitting else None,
                "monotonic": all(sizes[q] <= sizes[q + 1] for q in range(1, 100)),
            }
            t0 = time.perf_counter()
            try:
                res = encode_detailed(image, caption=caption, max_bytes=budget)
            except BudgetError as exc:  # refused: nothing written, the smallest size named
                row.update(quality=None, bytes=None, within=True, refused=str(exc),
                           stored_quality=None)
            else:
                row.update(quality=res.quality, bytes=len(res.data),
                           within=len(res.data) <= budget, refused=None,
                           stored_quality=inspect(res.data).quality)
            row["seconds"] = time.perf_counter() - t0
            rows.append(row)
        try:
            jpegtext.encode(image, caption=caption, max_bytes=sizes[1] - 1)
            impossible = "no error"
        except BudgetError as exc:
            impossible = str(exc)
        rows[-1]["impossible_budget_error"] = impossible
    summary = []
    print(f"{len(files)} images of {args.data}, built-in captions")
    print("| budget | none over | mean bytes | mean QF | QF range | = brute force | mean ms |")
    print("|---|---|---|---|---|---|---|")
    for budget in args.budgets:
        every = [r for r in rows if r["budget"] == budget]
        rs = [r for r in every if r["quality"] is not None]
        refused = [r for r in every if r["quality"] is None]
        within = sum(r["within"] for r in every)
        # the search agrees with brute force: same QF, or refused exactly when nothing fits
        same = sum(r["quality"] == r["brute_force_quality"] for r in every)
        n = max(len(rs), 1)
        entry = {
            "budget": budget,
            "images": len(every),
            "written": len(rs),
            "refused_nothing_fits": len(refused),
            "no_file_over_budget": within == len(every),
            "mean_bytes_written": sum(r["bytes"] for r in rs) / n,
            "mean_fill": sum(r["bytes"] / budget for r in rs) / n,
            "mean_quality": sum(r["quality"] for r in rs) / n,
            "quality_range": [min((r["quality"] for r in rs), default=None),
                              max((r["quality"] for r in rs), default=None)],
            "equal_to_brute_force": same,
            "stored_quality_matches": sum(r["stored_quality"] == r["quality"] for r in rs),
            "mean_ms": 1000 * sum(r["seconds"] for r in every) / len(every),
        }
        summary.append(entry)
        print(f"| {budget:,} | {within}/{len(every)} ({len(refused)} refused) | "
              f"{entry['mean_bytes_written']:,.0f} | {entry['mean_quality']:.2f} | "
              f"{entry['quality_range'][0]}-{entry['quality_range'][1]} | "
              f"{same}/{len(every)} | {entry['mean_ms']:.0f} |")
    nonmono = sum(1 for r in rows if not r["monotonic"]) // len(args.budgets)
    print(f"images whose size is not monotonic in QF 1-100: {nonmono}/{len(files)}")
    result = {
        "data": str(args.data),
        "images": len(files),
        "summary": summary,
        "non_monotonic_images": nonmono,
        "impossible_budget_example": rows[-1]["impossible_budget_error"],
        "per_image": rows,
        "command": "python benchmarks/max_bytes.py " + " ".join(argv or sys.argv[1:]),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    name = args.data.resolve().name
    (args.out / f"maxbytes_{name}.json").write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
