"""Caption strength (``decode --guidance S``): how far it steers colour, what it costs a true caption.

For each strength S the restoration is ``empty + S * (captioned - empty)`` (two passes), then
bounded as decode bounds a caption the receiver gives (``auto`` -> ``luma``). Measured on
flowers256 ``--split`` at QF 1:

- steering: text control exactly as ``text_control_flowers.py`` measures it (the first 20 images
  with a colour caption, every other colour; base and swapped restorations at the same S);
- cost: every image with a human caption, its first caption given back as ``--caption`` (a
  receiver who types the true caption), PSNR and LPIPS against the clean image, paired against
  S = 1, and against the same image restored with an empty caption.

Each image's captioned and empty restorations are computed once and combined for every S; the
first one is checked against ``jpegtext.decode(..., guidance=S)`` pixel for pixel. Nothing here
chooses anything: the default stays S = 1 (the model's own), and S is a knob for whoever steers.

    python benchmarks/guidance.py --split val --out benchmarks/results/guidance_val.json
    python benchmarks/guidance.py --split test --out benchmarks/results/guidance_test.json
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("JPEGTEXT_SHARED", REPO.parent / "shared"))
sys.path.insert(0, str(REPO / "benchmarks"))

STRENGTHS = (1.0, 1.25, 1.5, 2.0, 3.0)


class _Pair:
    """A file's captioned and empty restorations, combined for any strength as decode does."""

    def __init__(self, restorer, data: bytes, caption: str) -> None:
        import torch

        from jpegtext.codec.jpegfile import parse_file

        self.file = parse_file(data)
        x = torch.from_numpy(self.file.pixels().copy()).permute(2, 0, 1)[None].float() / 255
        q = self.file.quality.quality
        self.captioned = restorer.restore_tensor(x, caption, q)
        self.empty = restorer.restore_tensor(x, "", q)

    def at(self, s: float) -> np.ndarray:
        from jpegtext.codec.consistency import project_jpeg_file

        # the restorer's own arithmetic (S = 1 is its single captioned pass)
        out = self.captioned if s == 1.0 else (
            self.empty + (self.captioned - self.empty) * s).clamp(0, 1)
        img = out[0].permute(1, 2, 0).mul(255.0).add_(0.5).clamp_(0, 255).byte().numpy()
        return project_jpeg_file(img, self.file, chroma_slack=math.inf)


def steering(restorer, split: str, n: int, strengths: tuple[float, ...]) -> dict:
    from text_control_flowers import pick_images, shift, swaps

    import jpegtext

    root = SHARED / "data" / "flowers256"
    shifts: dict[float, list[float]] = {s: [] for s in strengths}
    for file_name, caption, colour in pick_images(root, n, split):
        data = jpegtext.encode(root / file_name, quality=1, caption=caption)
        base = _Pair(restorer, data, caption)
        for target, new in swaps(caption, colour):
            swapped = _Pair(restorer, data, new)
            for s in strengths:
                shifts[s].append(shift(base.at(s), swapped.at(s), target))
    out = {}
    for s, v in shifts.items():
        out[f"{s:g}"] = {"n_pairs": len(v), "mean_shift_region": float(np.mean(v))}
        print(f"S {s:g}: text control {np.mean(v):+.2f} levels ({len(v)} pairs)", flush=True)
    return out


def cost(restorer, split: str, strengths: tuple[float, ...], lp, limit: int | None) -> dict:
    from consistency import flowers_items, standard_error
    from PIL import Image

    import jpegtext
    from jpegtext.metrics import lpips_distance, psnr

    rows: dict[float, dict[str, list[float]]] = {s: {"psnr": [], "lpips": []} for s in strengths}
    checked = False
    t0 = time.time()
    for path, caption in flowers_items(split)[:limit]:
        with Image.open(path) as im:
            clean = np.asarray(im.convert("RGB"))
        data = jpegtext.encode(Image.fromarray(clean), quality=1, caption=caption)
        pair = _Pair(restorer, data, caption)
        if not checked:  # the composition is decode's own, pixel for pixel
            for s in strengths:
                ref = jpegtext.decode(data, model=restorer, caption=caption, guidance=s,
                                      output_type="np")
                assert np.array_equal(ref, pair.at(s)), f"S {s}: not decode's pixels"
            checked = True
        for s in strengths:
            img = pair.at(s)
            rows[s]["psnr"].append(psnr(clean, img))
            rows[s]["lpips"].append(lpips_distance(clean, img, lp))
    base = rows[strengths[0]]
    out = {}
    for s, r in rows.items():
        dp = np.array(r["psnr"]) - np.array(base["psnr"])
        dl = np.array(r["lpips"]) - np.array(base["lpips"])
        out[f"{s:g}"] = {"n": len(dp), "psnr": float(np.mean(r["psnr"])),
                         "lpips": float(np.mean(r["lpips"])), "d_psnr": float(dp.mean()),
                         "d_psnr_se": standard_error(dp), "d_lpips": float(dl.mean()),
                         "d_lpips_se": standard_error(dl),
                         "worst_d_psnr": float(dp.min())}
        print(f"S {s:g}: true caption given back: PSNR {out[f'{s:g}']['psnr']:.3f} "
              f"({dp.mean():+.4f}), LPIPS {out[f'{s:g}']['lpips']:.4f} ({dl.mean():+.5f}), "
              f"worst image {dp.min():+.2f} dB  [{time.time() - t0:.0f} s]", flush=True)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="tgjar-text-v13")
    ap.add_argument("--split", default="val", choices=("val", "test"))
    ap.add_argument("--strengths", type=float, nargs="+", default=list(STRENGTHS))
    ap.add_argument("--n-control", type=int, default=20)
    ap.add_argument("--limit", type=int, default=None, help="first N cost images (a smoke run)")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args(argv)

    import jpegtext
    from jpegtext.metrics import load_lpips
    from jpegtext.restore.runtime.zoo import use_checkout_weights

    use_checkout_weights()
    restorer = jpegtext.load_restorer(args.model, device="cpu")
    lp = load_lpips(trunk_path=SHARED / "weights" / "lpips" / "alexnet_features_imagenet_tv.pth",
                    device="cpu")
    strengths = tuple(dict.fromkeys([1.0, *args.strengths]))
    result = {"model": args.model, "split": args.split, "quality": 1,
              "bound": "luma (decode's auto for a caption the receiver gives)",
              "command": " ".join(["python benchmarks/guidance.py", *(argv or sys.argv[1:])]),
              "steering": steering(restorer, args.split, args.n_control, strengths),
              "true_caption_given_back": cost(restorer, args.split, strengths, lp, args.limit)}
    if args.out:
        args.out.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
