"""Peer baselines on LIVE1: AR-CNN and DnCNN-3 from their official weights vs plain JPEG.

Usage::

    OMP_NUM_THREADS=1 python benchmarks/baselines_live1.py [--data ../shared/data/live1_color]
        [--arcnn-dir ../shared/weights/arcnn] [--dncnn3 ../shared/weights/dncnn/DnCNN3.mat]
        [--qualities 10] [--protocols color gray] [--crop 0] [--limit 0]
        [--device cpu] [--threads 1] [--check-orientation] [--out benchmarks/results]

Two protocols, both scored on luma (Y-PSNR, Y-SSIM, Y-PSNR-B, BT.601 as MATLAB rgb2ycbcr):

- ``color``: the product's pipeline. The clean RGB image is saved by Pillow as a 4:2:0 JPEG at
  quality q and decoded; each method restores the decoded image (baselines: luma only, decoded
  chroma kept); Y of the result is compared with Y of the clean image.
- ``gray``: the protocol of the AR-CNN and DnCNN papers. The clean image's luma, rounded to
  uint8 (MATLAB ``rgb2ycbcr`` on uint8), is saved as a greyscale JPEG at quality q (Pillow and
  MATLAB ``imwrite`` both use libjpeg's standard tables) and restored as a greyscale image.

``--check-orientation`` adds both networks with every kernel transposed (the other possible
reading of the weight files) to show how much the reading matters.

Prints a markdown table (mean over images; gain over JPEG in brackets) and writes it with
per-image numbers to ``OUT/baselines_live1.md`` and ``OUT/baselines_live1.json``. Exits 0 with a
message when the data or weights are absent.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

if TYPE_CHECKING:
    from jpegtext.evaluation.baselines import LumaRestorer

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("JPEGTEXT_SHARED", REPO.parent / "shared"))


def jpeg_roundtrip(img: np.ndarray, quality: int) -> np.ndarray:
    """Encode with Pillow (4:2:0 for colour) and decode; same shape and dtype back."""
    buf = io.BytesIO()
    pil = Image.fromarray(img)
    if img.ndim == 3:
        pil.save(buf, format="JPEG", quality=quality, subsampling="4:2:0")
    else:
        pil.save(buf, format="JPEG", quality=quality)
    buf.seek(0)
    with Image.open(buf) as out:
        return np.array(out.convert("RGB" if img.ndim == 3 else "L"))


def luma_uint8(rgb: np.ndarray) -> np.ndarray:
    """MATLAB rgb2ycbcr(uint8)(:, :, 1): BT.601 luma rounded to uint8."""
    from jpegtext.metrics import rgb_to_y

    return np.clip(np.floor(rgb_to_y(rgb.astype(np.float64)) + 0.5), 0, 255).astype(np.uint8)


def transposed(restorer: LumaRestorer) -> LumaRestorer:
    """A copy of a restorer with every convolution kernel transposed (H <-> W)."""
    import copy

    import torch

    other = copy.deepcopy(restorer)
    for mod in other.modules():
        if isinstance(mod, torch.nn.Conv2d):
            mod.weight.data = mod.weight.data.transpose(2, 3).contiguous()
    return other


def scores(clean: np.ndarray, test: np.ndarray) -> dict[str, float]:
    from jpegtext.metrics import psnr, psnr_b, ssim

    return {
        "psnr_y": psnr(clean, test, channel="y"),
        "ssim_y": ssim(clean, test, channel="y"),
        "psnrb_y": psnr_b(clean, test, channel="y"),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=SHARED / "data" / "live1_color")
    ap.add_argument("--arcnn-dir", type=Path, default=SHARED / "weights" / "arcnn")
    ap.add_argument("--dncnn3", type=Path, default=SHARED / "weights" / "dncnn" / "DnCNN3.mat")
    ap.add_argument("--qualities", type=int, nargs="+", default=[10])
    ap.add_argument("--protocols", nargs="+", choices=["color", "gray"], default=["color", "gray"])
    ap.add_argument("--crop", type=int, default=0, help="centre crop size (0 = whole image)")
    ap.add_argument("--limit", type=int, default=0, help="first N images only (0 = all)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=int(os.environ.get("OMP_NUM_THREADS", "1")))
    ap.add_argument("--check-orientation", action="store_true")
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    args = ap.parse_args(argv)

    missing = [p for p in (args.data, args.arcnn_dir, args.dncnn3) if not p.exists()]
    if missing:
        print(f"skipped: {', '.join(map(str, missing))} absent")
        return 0

    import torch

    from jpegtext.evaluation.baselines import JPEGRestorer, load_arcnn, load_dncnn3

    torch.set_num_threads(args.threads)
    methods = {
        "jpeg": JPEGRestorer(device=args.device),
        "arcnn": load_arcnn(args.arcnn_dir, device=args.device),
        "dncnn3": load_dncnn3(args.dncnn3, device=args.device),
    }
    if args.check_orientation:
        methods["arcnn_transposed"] = transposed(methods["arcnn"])
        methods["dncnn3_transposed"] = transposed(methods["dncnn3"])

    paths = sorted(args.data.glob("*.png"))
    if args.limit:
        paths = paths[: args.limit]
    per_image: list[dict] = []
    seconds: dict[str, list[float]] = {m: [] for m in methods}
    t_start = time.time()
    for path in paths:
        with Image.open(path) as im:
            clean = np.array(im.convert("RGB"))
        if args.crop:
            h, w = clean.shape[:2]
            c = min(args.crop, h, w)
            clean = clean[(h - c) // 2 : (h - c) // 2 + c, (w - c) // 2 : (w - c) // 2 + c]
        for protocol in args.protocols:
            ref = clean if protocol == "color" else luma_uint8(clean)
            for q in args.qualities:
                decoded = jpeg_roundtrip(ref, q)
                for name, method in methods.items():
                    t0 = time.perf_counter()
                    out = method.restore(decoded, q)
                    seconds[name].append(time.perf_counter() - t0)
                    row = {"image": path.stem, "protocol": protocol, "quality": q, "method": name}
                    row.update(scores(ref, out))
                    per_image.append(row)
        print(f"{path.stem}: done ({time.time() - t_start:.0f} s)", file=sys.stderr, flush=True)

    # Means and gains over JPEG.
    summary: dict[str, dict] = {}
    lines = [
        f"LIVE1 ({len(paths)} images{f', centre {args.crop}x{args.crop}' if args.crop else ''}), "
        "luma metrics, mean over images; (gain over JPEG)",
        "",
        "| protocol | QF | method | Y-PSNR dB | Y-SSIM | Y-PSNR-B dB | s/image |",
        "|---|---|---|---|---|---|---|",
    ]
    for protocol in args.protocols:
        for q in args.qualities:
            base = None
            for name in methods:
                rows = [
                    r
                    for r in per_image
                    if r["protocol"] == protocol and r["quality"] == q and r["method"] == name
                ]
                mean = {
                    k: float(np.mean([r[k] for r in rows])) for k in ("psnr_y", "ssim_y", "psnrb_y")
                }
                if name == "jpeg":
                    base = mean
                gain = {k: mean[k] - base[k] for k in mean}
                min_gain_psnr = float(
                    min(
                        r["psnr_y"]
                        - next(
                            b["psnr_y"]
                            for b in per_image
                            if b["image"] == r["image"]
                            and b["protocol"] == protocol
                            and b["quality"] == q
                            and b["method"] == "jpeg"
                        )
                        for r in rows
                    )
                )
                key = f"{protocol}/q{q}/{name}"
                summary[key] = {"mean": mean, "gain": gain, "min_gain_psnr_y": min_gain_psnr}
                sec = float(np.median(seconds[name]))
                lines.append(
                    f"| {protocol} | {q} | {name} | {mean['psnr_y']:.3f} ({gain['psnr_y']:+.3f}) "
                    f"| {mean['ssim_y']:.4f} ({gain['ssim_y']:+.4f}) "
                    f"| {mean['psnrb_y']:.3f} ({gain['psnrb_y']:+.3f}) | {sec:.2f} |"
                )
    command = "python benchmarks/baselines_live1.py " + " ".join(argv or sys.argv[1:])
    lines += [
        "",
        f"Command: `OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', '')} {command.strip()}`",
        f"Machine: {platform.processor() or platform.machine()}, torch {torch.__version__}, "
        f"{args.threads} thread(s), device {args.device}; total {time.time() - t_start:.0f} s.",
        "DnCNN paper (grey LIVE1, MATLAB JPEG, QF 10): JPEG 27.77 dB, AR-CNN 28.96 dB / 0.8076, "
        "DnCNN-3 29.19 dB / 0.8123 (PSNR / SSIM).",
    ]
    table = "\n".join(lines)
    print(table)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "baselines_live1.md").write_text(table + "\n")
    record = {
        "command": command.strip(),
        "threads": args.threads,
        "device": args.device,
        "torch": torch.__version__,
        "images": len(paths),
        "crop": args.crop,
        "summary": summary,
        "seconds_median": {m: float(np.median(s)) for m, s in seconds.items()},
        "per_image": per_image,
    }
    (args.out / "baselines_live1.json").write_text(json.dumps(record, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
