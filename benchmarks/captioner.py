"""Benchmark the built-in captioner: milliseconds per image on the 24 Kodak images.

Usage::

    OMP_NUM_THREADS=1 python benchmarks/captioner.py [--data ../shared/data/kodak]
        [--repeats 7] [--out benchmarks/results/captioner.json]
    python benchmarks/captioner.py --calibrate   # texture thresholds from training images

Each image is decoded once (not timed), captioned once to warm up, then captioned ``--repeats``
times; the per-image figure is the median of those runs (timings on a shared machine swing,
medians do not). Prints a table and the median / max over images, and writes everything,
captions included, to JSON. Exits 0 with a message when the data folder is absent.

``--calibrate`` prints the distribution of the texture measure over the bands of the training
images (BSDS500 train, COCO-mini train split): the built-in captioner's "smooth"/"textured"
thresholds come from it. It never reads evaluation images.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import cv2  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("JPEGTEXT_SHARED", REPO.parent / "shared"))
BUDGET_MS = 20.0


def _benchmark(args: argparse.Namespace) -> int:
    from jpegtext.captioner import BUILTIN_VOCABULARY, count_words, get_captioner

    files = sorted(p for p in args.data.glob("*.png")) if args.data.is_dir() else []
    if not files:
        print(f"{args.data}: absent or no PNG files; nothing to benchmark")
        return 0
    captioner = get_captioner(args.captioner)
    rows = []
    for path in files:
        with Image.open(path) as im:
            image = im.convert("RGB")
        captioner([image])  # warm-up
        times = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            (caption,) = captioner([image])
            times.append((time.perf_counter() - start) * 1000.0)
        words = re.findall(r"\w+", caption)
        rows.append(
            {
                "file": path.name,
                "width": image.width,
                "height": image.height,
                "ms_median": round(statistics.median(times), 3),
                "ms_min": round(min(times), 3),
                "caption": caption,
                "words": count_words(caption),
                "in_vocabulary": all(w in BUILTIN_VOCABULARY for w in words)
                if captioner.name == "builtin"
                else None,
            }
        )
        r = rows[-1]
        print(f"{r['file']:12s} {r['width']}x{r['height']:<4d} {r['ms_median']:7.2f} ms  {caption}")
    medians = [r["ms_median"] for r in rows]
    summary = {
        "captioner": captioner.name,
        "images": len(rows),
        "repeats": args.repeats,
        "median_ms": round(statistics.median(medians), 3),
        "max_ms": round(max(medians), 3),
        "budget_ms": BUDGET_MS,
        "all_under_budget": max(medians) < BUDGET_MS,
        "max_words": max(r["words"] for r in rows),
        "threads": {
            "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"),
            "cv2": cv2.getNumThreads(),
        },
        "machine": {
            "python": platform.python_version(),
            "cpu": platform.processor() or platform.machine(),
        },
        "data": str(args.data),
    }
    print(
        f"\n{summary['images']} images, median {summary['median_ms']:.2f} ms, "
        f"max {summary['max_ms']:.2f} ms per image (budget {BUDGET_MS:.0f} ms), "
        f"at most {summary['max_words']} words"
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"summary": summary, "per_image": rows}, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


def _calibrate(args: argparse.Namespace) -> int:
    from jpegtext.captioner import builtin

    files = sorted((SHARED / "data" / "bsds500_train").glob("*.jpg"))
    coco = SHARED / "data" / "coco_mini"
    if (coco / "captions.jsonl").is_file():
        for line in (coco / "captions.jsonl").read_text().splitlines():
            record = json.loads(line)
            if record.get("split") == "train":  # never the val split (evaluation only)
                files.append(coco / record["file"])
    if not files:
        print(f"no training images under {SHARED / 'data'}; nothing to calibrate")
        return 0
    energies = []
    for path in files:
        rgb = np.asarray(Image.open(path).convert("RGB"))
        portrait = rgb.shape[0] > rgb.shape[1]
        size = (
            (builtin._TEXTURE_SHORT, builtin._TEXTURE_LONG)
            if portrait
            else (
                builtin._TEXTURE_LONG,
                builtin._TEXTURE_SHORT,
            )
        )
        medium = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
        grey = cv2.cvtColor(medium, cv2.COLOR_RGB2GRAY).astype(np.float32)
        lap = np.abs(cv2.Laplacian(grey, cv2.CV_32F, ksize=1))
        h = lap.shape[0]
        energies += [float(lap[h * i // 3 : h * (i + 1) // 3].mean()) for i in range(3)]
    pct = [10, 15, 20, 25, 50, 75, 80, 90]
    values = np.percentile(energies, pct)
    print(f"{len(files)} training images, {len(energies)} bands; mean |Laplacian| percentiles:")
    for p, v in zip(pct, values, strict=True):
        print(f"  {p:3d}th  {v:6.2f}")
    print(
        f"current thresholds: smooth < {builtin._SMOOTH_BELOW}, textured > "
        f"{builtin._TEXTURED_ABOVE}"
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=SHARED / "data" / "kodak")
    parser.add_argument("--captioner", default="builtin")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument(
        "--out", type=Path, default=REPO / "benchmarks" / "results" / "captioner.json"
    )
    parser.add_argument("--calibrate", action="store_true", help="print texture percentiles")
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error("--repeats must be >= 1")
    return _calibrate(args) if args.calibrate else _benchmark(args)


if __name__ == "__main__":
    sys.exit(main())
