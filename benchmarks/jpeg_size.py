"""What jpegtext's files cost, and what else a baseline JPEG encoder could save losslessly.

Usage::

    python benchmarks/jpeg_size.py [--data ../shared/data/kodak] [--qualities 1 5 10]
        [--caption "..."] [--out benchmarks/results]

For each image and QF (the built-in caption of each image in its payload, as ``jpegtext
encode`` writes it), the file size of:

- ``standard``: the standard Huffman tables (``encode --no-optimize``; jpegtext before);
- ``optimized``: Huffman tables fitted to the image (the default now);
- ``progressive``: Pillow ``progressive=True`` (libjpeg-turbo's default scan script, fitted
  tables);
- ``no_jfif``: the optimized file without its 18-byte JFIF APP0 segment;
- ``mozjpeg``: the optimized file through mozjpeg's lossless optimizer
  (``mozjpeg-lossless-optimization``, markers copied; progressive with optimized scans), when
  installed.

Each variant is checked to decode to the same pixels as the standard-table file, and the QF
estimated from its quantisation tables and the caption read back are checked. Prints a table
and writes ``OUT/jpeg_size.json``. Exits 0 with a message when the data are absent.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
from pathlib import Path

import numpy as np


def _variants(image, q: int, payload) -> dict[str, bytes]:  # type: ignore[no-untyped-def]
    from jpegtext.codec import encode_jpeg, walk_segments
    from jpegtext.codec.markers import APP0
    from jpegtext.codec.payload import build_payload_data

    out = {
        "standard": encode_jpeg(image, q, payload=payload, optimize=False),
        "optimized": encode_jpeg(image, q, payload=payload),
    }
    buf = io.BytesIO()
    image.save(buf, format="JPEG", quality=q, subsampling="4:2:0", progressive=True,
               comment=build_payload_data(payload)[0])
    out["progressive"] = buf.getvalue()
    opt = out["optimized"]
    app0 = [s for s in walk_segments(opt) if s.marker == APP0 and s.data.startswith(b"JFIF")]
    out["no_jfif"] = opt[: app0[0].offset] + opt[app0[0].end:] if app0 else opt
    try:
        import mozjpeg_lossless_optimization as moz
    except ImportError:
        pass
    else:
        out["mozjpeg"] = moz.optimize(opt, copy=moz.COPY_MARKERS.ALL)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=Path("../shared/data/kodak"))
    ap.add_argument("--qualities", type=int, nargs="+", default=[1, 5, 10])
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    args = ap.parse_args(argv)
    files = sorted(p for p in args.data.glob("*") if p.suffix.lower() in (".png", ".bmp"))
    if not files:
        print(f"skipped: no images in {args.data}", file=sys.stderr)
        return 0
    from jpegtext.api import inspect
    from jpegtext.captioner import get_captioner
    from jpegtext.codec import Payload, decode_jpeg, load_image

    captioner = get_captioner("builtin")
    sizes: dict[str, dict[str, list[int]]] = {}
    checks = {"pixels_identical": True, "quality_estimated": True, "caption_read_back": True}
    for path in files:
        image = load_image(path)
        caption = captioner([image])[0]
        for q in args.qualities:
            variants = _variants(image, q, Payload(caption, captioner.name, q))
            ref = np.asarray(decode_jpeg(variants["standard"]))
            for name, data in variants.items():
                sizes.setdefault(str(q), {}).setdefault(name, []).append(len(data))
                same = bool(np.array_equal(np.asarray(decode_jpeg(data)), ref))
                info = inspect(data)
                checks["pixels_identical"] &= same
                checks["quality_estimated"] &= info.estimated_quality == q
                checks["caption_read_back"] &= info.caption == caption
    rows = []
    print(f"{len(files)} images of {args.data}, mean bytes (change vs standard tables)")
    names = list(next(iter(sizes.values())))
    print("| QF | " + " | ".join(names) + " |\n|---" * 1 + "|---" * len(names) + "|")
    for q, by in sizes.items():
        base = float(np.mean(by["standard"]))
        cells = []
        row = {"quality": int(q)}
        for name in names:
            mean = float(np.mean(by[name]))
            row[name] = mean
            cells.append(f"{mean:,.0f} ({100 * (mean / base - 1):+.1f} %)")
        rows.append(row)
        print(f"| {q} | " + " | ".join(cells) + " |")
    print("checks:", checks)
    result = {
        "data": str(args.data),
        "images": len(files),
        "caption": "built-in captioner of each clean image",
        "mean_bytes": rows,
        "per_image_bytes": sizes,
        "checks": checks,
        "command": "python benchmarks/jpeg_size.py " + " ".join(argv or sys.argv[1:]),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "jpeg_size.json").write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
