"""Codec throughput: jpegtext vs bare Pillow vs OpenCV, encode and decode, in megapixels/s.

Usage::

    python benchmarks/codec.py [--repeats 31] [--out benchmarks/results/codec.json]

For each image size (768x512 and 4000x3000) and quality (1, 5, 10, 90) it times:

- encode: ``jpegtext.encode(array, q, caption=...)`` (caption payload included) vs
  ``Image.fromarray(array).save(buf, "JPEG", quality=q)`` vs ``cv2.imencode`` (BGR input);
- decode (of the jpegtext file): ``jpegtext.codec.decode_jpeg`` vs
  ``np.asarray(Image.open(...))`` vs ``cv2.imdecode`` (BGR output, no conversion).

The three methods run interleaved within every repeat, so load from other processes on a shared
machine hits them alike. Throughput is the median over the repeats of the mean time of a batch
of calls (batches last at least ``--min-batch-s``); the overhead of jpegtext over Pillow is the
median over the repeats of the ratio of the two batches run back to back in that repeat. The image is a Kodak photo when
``../shared/data/kodak`` exists (resized to each size; the 4000x3000 one is upsampled, so
smoother than a real 12 MP photo), else a synthetic scene. One thread everywhere.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import PIL  # noqa: E402
from PIL import Image  # noqa: E402

import jpegtext  # noqa: E402
from jpegtext._io import atomic_write_bytes  # noqa: E402
from jpegtext.codec import decode_jpeg  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
CAPTION = "a colourful outdoor scene with red, green and blue tones, bright sky above, dark ground"
SIZES = ((768, 512), (4000, 3000))
QUALITIES = (1, 5, 10, 90)
METHODS = ("jpegtext", "pillow", "opencv")


def _synthetic(width: int, height: int) -> np.ndarray:
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    sky = np.stack([90 + 60 * yy / height, 140 + 50 * yy / height, 230 - 40 * yy / height], -1)
    hills = (yy > height * (0.55 + 0.08 * np.sin(xx / (width / 7)))).astype(np.float32)[..., None]
    ground = np.stack([60 + 0 * xx, 120 + 30 * np.sin(xx / 17), 40 + 0 * yy], -1)
    img = sky * (1 - hills) + ground * hills + rng.normal(0, 6, (height, width, 3))
    return np.clip(img, 0, 255).astype(np.uint8)


def source_image(width: int, height: int, kodak: Path | None) -> tuple[np.ndarray, str]:
    """The test image at ``width`` x ``height`` and a description of where it came from."""
    if kodak is not None and (kodak / "kodim23.png").exists():
        im = Image.open(kodak / "kodim23.png").convert("RGB")
        if im.size != (width, height):
            im = im.resize((width, height), Image.Resampling.LANCZOS)
        return np.asarray(im), f"kodim23 resized to {width}x{height}"
    return _synthetic(width, height), f"synthetic {width}x{height}"


def _time_batch(fn: Callable[[], object], n: int) -> float:
    start = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - start) / n


def _calibrate(fn: Callable[[], object], min_batch_s: float) -> int:
    once = _time_batch(fn, 1)
    return max(1, int(min_batch_s / max(once, 1e-6)))


def bench_case(
    funcs: dict[str, Callable[[], object]], repeats: int, min_batch_s: float
) -> dict[str, list[float]]:
    """Seconds per call for each method, one value per repeat, methods interleaved."""
    for fn in funcs.values():  # warm-up: imports, allocator, libjpeg tables
        fn()
    batch = {name: _calibrate(fn, min_batch_s) for name, fn in funcs.items()}
    times: dict[str, list[float]] = {name: [] for name in funcs}
    names = list(funcs)
    for r in range(repeats):
        order = names[r % len(names) :] + names[: r % len(names)]  # rotate who goes first
        for name in order:
            times[name].append(_time_batch(funcs[name], batch[name]))
    return times


def run(repeats: int, min_batch_s: float, kodak: Path | None) -> dict:
    cv2.setNumThreads(1)
    results = []
    for width, height in SIZES:
        arr, origin = source_image(width, height, kodak)
        bgr = np.ascontiguousarray(arr[:, :, ::-1])
        mp = width * height / 1e6
        for q in QUALITIES:
            data = jpegtext.encode(arr, q, caption=CAPTION)

            def pil_encode(q: int = q, arr: np.ndarray = arr) -> bytes:
                buf = io.BytesIO()
                Image.fromarray(arr).save(buf, "JPEG", quality=q)
                return buf.getvalue()

            encoders = {
                "jpegtext": lambda q=q, arr=arr: jpegtext.encode(arr, q, caption=CAPTION),
                "pillow": pil_encode,
                "opencv": lambda q=q, bgr=bgr: cv2.imencode(
                    ".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, q]
                ),
            }
            buf = np.frombuffer(data, np.uint8)
            decoders = {
                "jpegtext": lambda data=data: decode_jpeg(data),
                # The leanest Pillow path (the file is RGB, so no convert()).
                "pillow": lambda data=data: np.asarray(Image.open(io.BytesIO(data))),
                "opencv": lambda buf=buf: cv2.imdecode(buf, cv2.IMREAD_COLOR),
            }
            for op, funcs in (("encode", encoders), ("decode", decoders)):
                times = bench_case(funcs, repeats, min_batch_s)
                med = {name: statistics.median(ts) for name, ts in times.items()}
                row = {
                    "size": f"{width}x{height}",
                    "image": origin,
                    "op": op,
                    "quality": q,
                    "file_bytes": len(data),
                    "mp_per_s": {name: mp / med[name] for name in METHODS},
                    "median_ms": {name: 1000 * med[name] for name in METHODS},
                    "all_ms": {name: [1000 * t for t in times[name]] for name in METHODS},
                    # Paired: the two batches of one repeat ran back to back under the same load.
                    "overhead_vs_pillow_pct": 100
                    * (
                        statistics.median(
                            j / p for j, p in zip(times["jpegtext"], times["pillow"], strict=True)
                        )
                        - 1
                    ),
                }
                results.append(row)
                print(_format_row(row), flush=True)
    overheads = [r["overhead_vs_pillow_pct"] for r in results]
    return {
        "benchmark": "codec",
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": {
            "platform": platform.platform(),
            "python": sys.version.split()[0],
            "cpu_count": os.cpu_count(),
            "pillow": PIL.__version__,
            "opencv": cv2.__version__,
            "numpy": np.__version__,
            "jpegtext": jpegtext.__version__,
        },
        "settings": {"repeats": repeats, "min_batch_s": min_batch_s, "caption": CAPTION},
        "results": results,
        "summary": {
            "max_overhead_vs_pillow_pct": max(overheads),
            "median_overhead_vs_pillow_pct": statistics.median(overheads),
        },
    }


def _format_row(row: dict) -> str:
    mps = row["mp_per_s"]
    return (
        f"{row['size']:>9}  {row['op']:<6}  QF {row['quality']:>3}  "
        + "  ".join(f"{mps[m]:8.1f}" for m in METHODS)
        + f"  {row['overhead_vs_pillow_pct']:+7.1f}%"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=31, help="timed batches per method")
    parser.add_argument("--min-batch-s", type=float, default=0.03, help="minimum batch length")
    parser.add_argument("--kodak", type=Path, default=REPO.parent / "shared" / "data" / "kodak")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "codec.json")
    args = parser.parse_args(argv)
    print(f"{'size':>9}  {'op':<6}  {'QF':>6}  " + "  ".join(f"{m:>8}" for m in METHODS)
          + "  overhead  (MP/s; overhead = jpegtext time / Pillow time - 1)")  # fmt: skip
    report = run(args.repeats, args.min_batch_s, args.kodak if args.kodak.exists() else None)
    summary = report["summary"]
    print(
        f"jpegtext vs bare Pillow: max overhead {summary['max_overhead_vs_pillow_pct']:+.1f}%, "
        f"median {summary['median_overhead_vs_pillow_pct']:+.1f}%"
    )
    atomic_write_bytes(args.out, (json.dumps(report, indent=2) + "\n").encode(), force=True)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
