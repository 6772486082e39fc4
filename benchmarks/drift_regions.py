"""Where a model's PSNR differs from a reference model's: the region a caption's colour word names.

On flowers256 (``--split``, every image, centre-cropped to a multiple of 8) each image is encoded
at ``--quality`` with its first human caption and restored by both models through the product's
decode path. The squared error against the clean image is summed over

* ``named``: the pixels the caption's first colour word names in the clean image (the region a
  colour swap repaints, :func:`jpegtext.restore.training.colour_swap.named_region`),
* ``unnamed``: the other pixels of those images,
* ``no_colour_word``: the images whose caption names no colour (or one under 3 % of the image),

and reported as PSNR(model) - PSNR(reference) per region (dB, from the pooled squared error), with
each region's share of the pixels and of the squared error the model adds.

    python benchmarks/drift_regions.py tgjar-text-v9 examples/weights/tgjar-text-wordpiece-r41-cpu.safetensors --split val

``--consistency`` is decode's bound by the file: ``off`` (the default here: the models' own
output, as every round's rule measured it) or ``auto`` / ``full`` / ``luma`` (as a receiver
gets it since 2026-12-05; both models alike).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("JPEGTEXT_SHARED", REPO.parent / "shared"))
REGIONS = ("all", "named", "unnamed", "no_colour_word")


def measure(reference: str, model: str, root: Path, split: str, quality: int,
            consistency: str = "off") -> dict:
    from PIL import Image

    import jpegtext
    from jpegtext.restore.training.colour_swap import named_region

    splits = {}
    for line in (root / "labels.jsonl").read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            splits[row["file"]] = row["split"]
    captions = {}
    for line in (root / "captions.jsonl").read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            captions[row["file"]] = row["captions"]
    files = sorted(f for f, s in splits.items() if s == split and captions.get(f))
    if not files:
        raise SystemExit(f"error: no captioned {split} images under {root}")
    restorers = [jpegtext.load_restorer(m) for m in (reference, model)]
    sse = {k: np.zeros(2) for k in REGIONS}
    count = dict.fromkeys(REGIONS, 0)
    for file in files:
        with Image.open(root / file) as im:
            im = im.convert("RGB")
            im = im.crop((0, 0, im.width - im.width % 8, im.height - im.height % 8))
        clean = np.asarray(im, dtype=np.float64)
        caption = captions[file][0]
        data = jpegtext.encode(im, quality=quality, caption=caption)
        err = [((jpegtext.decode(data, model=r, output_type="np", consistent=consistency)
                 - clean) ** 2).mean(2) for r in restorers]
        region = named_region(im, caption.lower())
        masks = {"all": np.ones(clean.shape[:2], bool)}
        if region is None:
            masks["no_colour_word"] = masks["all"]
        else:
            masks["named"] = region > 0.5
            masks["unnamed"] = ~masks["named"]
        for key, mask in masks.items():
            sse[key] += [e[mask].sum() for e in err]
            count[key] += int(mask.sum())
    added = sse["all"][1] - sse["all"][0]
    rows = {}
    for key in REGIONS:
        if count[key]:
            ref, new = sse[key]
            rows[key] = {"pixel_share": count[key] / count["all"],
                         "delta_psnr_db": float(10 * np.log10(ref / new)),
                         "share_of_added_error": float((new - ref) / added) if added else None}
    return {"reference": reference, "model": model, "split": split, "quality": quality,
            "consistency": consistency, "n_images": len(files), "regions": rows}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("reference", help="zoo name or model file")
    ap.add_argument("model", help="zoo name or model file")
    ap.add_argument("--root", type=Path, default=SHARED / "data" / "flowers256")
    ap.add_argument("--split", default="val", choices=("val", "test"))
    ap.add_argument("--quality", type=int, default=1)
    from jpegtext.receiver import CONSISTENCY

    ap.add_argument("--consistency", default="off", choices=CONSISTENCY,
                    help="decode's bound by the file, for both models (default: off)")
    ap.add_argument("--out", type=Path, help="also write the numbers as JSON here")
    args = ap.parse_args(argv)
    res = measure(args.reference, args.model, args.root, args.split, args.quality,
                  args.consistency)
    for key, row in res["regions"].items():
        share = row["share_of_added_error"]
        print(f"{key:15s} pixels {row['pixel_share']:5.1%}  PSNR {row['delta_psnr_db']:+.3f} dB"
              + ("" if share is None else f"  added error {share:+.0%}"))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(res, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
