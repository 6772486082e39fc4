"""How much LPIPS could a caption buy at most? Colour oracles on flowers256 at QF 1.

A caption can only tell the restorer what the JPEG lost and words can say; at QF 1 that is above
all colour (4:2:0 chroma quantised to a few levels per 16x16 block). This benchmark bounds what
knowing the colour is worth, on the first N flowers256 images of a split whose human caption
names a petal colour (the text-control images, ``text_control_flowers.pick_images``). Each image
is encoded at QF 1 with its caption by the product's encoder and restored by the product's decode
path with an *empty* caption; then the restored image's CIELAB colour is corrected by an oracle
that reads the clean image:

- ``chroma``: every pixel gets the clean image's a* b* (the restored lightness kept): all colour
  information there is, more than any caption holds.
- ``region``: the pixels the built-in colour naming puts in the caption word's family (in the
  clean image, as a colour swap's mask) are shifted so their mean a* b* is the clean region's:
  the exact colour of the named part, one colour per image, the most a colour word could carry.
- ``spread``: as ``region``, and the region's a* and b* spread (standard deviation) scaled to the
  clean region's too: its colour and how vivid and varied it is ("deep purple with white streaks").
- ``terms``: every colour the built-in naming finds in the clean image (its 11 terms: the petals,
  the leaves, the background ...) shifted to the clean mean of that term's pixels: a caption that
  names every colour of the picture, each at its exact shade, in exactly the right place.
- ``word``: the same region shifted to the mean colour people give the word in flowers256 train
  (``colour_words_lch.json``): what the word itself says, without the image's own shade.

Beside them: the same model with the true caption, and the JPEG. LPIPS and PSNR per method; the
gap ``empty - oracle`` is the ceiling the issue's "true caption < empty by >= 0.01" must fit in.

Where a true caption's effect lands, split by CIELAB channel: ``true_colour`` is the empty-caption
restoration's lightness with the true-caption restoration's a* b*, ``true_lightness`` the other way
round. Printed per colour word, so a caption that costs LPIPS shows whether its cost is in the
colour it paints or in the lightness (texture) it changes. The lightness change itself is split
once more: ``true_lightness_low`` adds to the empty-caption restoration only the broad part of the
true caption's L* change (Gaussian, sigma 4 px: shading, brightness), ``true_lightness_high`` only
the rest (edges, texture, block-scale detail).

    python benchmarks/caption_ceiling.py --model tgjar-text-v8 --split val --n 60
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("JPEGTEXT_SHARED", REPO.parent / "shared"))
sys.path.insert(0, str(REPO / "benchmarks"))

METHODS = ("jpeg", "empty", "true", "true_colour", "true_lightness", "true_lightness_low",
           "true_lightness_high", "word", "region", "spread", "terms", "chroma")
LOW_SIGMA = 4.0  # px: the Gaussian that splits a lightness change into broad shading and texture


def _lab_rgb(lab: np.ndarray) -> np.ndarray:
    import cv2

    rgb = cv2.cvtColor(lab.astype(np.float32), cv2.COLOR_Lab2RGB)
    return np.clip(np.rint(rgb * 255.0), 0, 255).astype(np.uint8)


def oracles(restored: np.ndarray, clean: np.ndarray, word: str) -> dict[str, np.ndarray]:
    """The colour-corrected versions of ``restored`` (uint8 RGB) described above, by name."""
    import cv2

    from jpegtext.captioner.colour import classify_lab, lab_to_lch, rgb_to_lab
    from jpegtext.restore.training.colour_swap import family_mask, natural_lch

    lab_out = rgb_to_lab(restored)
    lab_clean = rgb_to_lab(clean)
    terms = classify_lab(*lab_to_lch(lab_clean))
    full = lab_out.copy()
    full[..., 1:] = lab_clean[..., 1:]
    every = lab_out.copy()
    for term in np.unique(terms):
        where = terms == term
        every[where, 1:] += lab_clean[where, 1:].mean(0) - lab_out[where, 1:].mean(0)
    out = {"chroma": _lab_rgb(full), "terms": _lab_rgb(every)}
    mask = family_mask(terms, word)
    inside = mask > 0
    if not inside.any():  # the naming finds none of the word's pixels: nothing to correct
        out["region"] = out["word"] = out["spread"] = restored
        return out
    soft = cv2.GaussianBlur(mask, (0, 0), sigmaX=1.0)[..., None]
    mean_out, mean_clean = lab_out[inside, 1:].mean(0), lab_clean[inside, 1:].mean(0)
    std_out, std_clean = lab_out[inside, 1:].std(0), lab_clean[inside, 1:].std(0)
    _, chroma, hue = natural_lch()[word]
    people = np.array([chroma * np.cos(np.deg2rad(hue)), chroma * np.sin(np.deg2rad(hue))])
    scaled = mean_clean + (lab_out[..., 1:] - mean_out) * (std_clean / np.maximum(std_out, 1e-3))
    for name, ab in (("region", lab_out[..., 1:] + (mean_clean - mean_out)),
                     ("word", lab_out[..., 1:] + (people - mean_out)),
                     ("spread", scaled)):
        lab = lab_out.copy()
        lab[..., 1:] += soft * (ab - lab_out[..., 1:]).astype(np.float32)
        out[name] = _lab_rgb(lab)
    return out


def split_channels(true: np.ndarray, empty: np.ndarray) -> dict[str, np.ndarray]:
    """``true_colour`` (empty's L*, true's a* b*), ``true_lightness`` (true's L*, empty's a* b*) and
    its broad and fine parts (``true_lightness_low`` / ``_high``, the rest empty's)."""
    import cv2

    from jpegtext.captioner.colour import rgb_to_lab

    lab_true, lab_empty = rgb_to_lab(true), rgb_to_lab(empty)
    colour, lightness = lab_empty.copy(), lab_true.copy()
    colour[..., 1:] = lab_true[..., 1:]
    lightness[..., 1:] = lab_empty[..., 1:]
    change = lab_true[..., 0] - lab_empty[..., 0]
    broad = cv2.GaussianBlur(change, (0, 0), LOW_SIGMA, borderType=cv2.BORDER_REFLECT)
    low, high = lab_empty.copy(), lab_empty.copy()
    low[..., 0] += broad
    high[..., 0] += change - broad
    return {"true_colour": _lab_rgb(colour), "true_lightness": _lab_rgb(lightness),
            "true_lightness_low": _lab_rgb(low), "true_lightness_high": _lab_rgb(high)}


def per_word(rows: list[dict[str, object]]) -> dict[str, dict[str, float]]:
    """Mean LPIPS minus the empty caption's, per caption colour word and method."""
    out: dict[str, dict[str, float]] = {}
    for word in sorted({str(r["word"]) for r in rows}):
        sel = [r for r in rows if r["word"] == word]
        out[word] = {"n": len(sel)} | {
            name: float(np.mean([float(r[f"lpips_{name}"]) - float(r["lpips_empty"])
                                 for r in sel]))
            for name in ("true", "true_colour", "true_lightness", "true_lightness_low",
                         "true_lightness_high", "region")}
    return out


def measure(model: str, items: list[tuple[str, str, str]], root: Path, quality: int,
            weights: Path, device: str | None) -> dict[str, object]:
    from PIL import Image

    import jpegtext
    from jpegtext.codec import decode_jpeg
    from jpegtext.metrics import load_lpips, lpips_distance, psnr

    restorer = jpegtext.load_restorer(model, device=device)
    lpips = load_lpips(trunk_path=weights / "lpips" / "alexnet_features_imagenet_tv.pth")
    rows = []
    t0 = time.perf_counter()
    for file, caption, word in items:
        with Image.open(root / file) as im:
            clean = np.asarray(im.convert("RGB"))
        data = jpegtext.encode(clean, quality=quality, caption=caption)
        # the model's own outputs (no bound by the file: the oracles correct colour themselves)
        images = {"jpeg": decode_jpeg(data),
                  "empty": jpegtext.decode(data, model=restorer, caption="", output_type="np",
                                           consistent="off"),
                  "true": jpegtext.decode(data, model=restorer, output_type="np",
                                          consistent="off")}
        images.update(oracles(images["empty"], clean, word))
        images.update(split_channels(images["true"], images["empty"]))
        row: dict[str, object] = {"file": file, "word": word}
        for name in METHODS:
            row[f"lpips_{name}"] = lpips_distance(images[name], clean, lpips)
            row[f"psnr_{name}"] = float(psnr(images[name], clean))
        rows.append(row)
    mean = {k: float(np.mean([r[k] for r in rows]))
            for k in rows[0] if k.startswith(("lpips", "psnr"))}
    return {"model": model, "n_images": len(rows), "mean": mean, "per_word": per_word(rows),
            "seconds": round(time.perf_counter() - t0, 1), "rows": rows}


def main(argv: list[str] | None = None) -> int:
    from text_control_flowers import checkout_items

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", action="append", required=True, help="zoo name or file (repeat)")
    ap.add_argument("--root", type=Path, default=SHARED / "data" / "flowers256")
    ap.add_argument("--weights-dir", type=Path, default=SHARED / "weights")
    ap.add_argument("--n", type=int, default=60)
    ap.add_argument("--split", default="val", choices=("test", "val"))
    ap.add_argument("--quality", type=int, default=1)
    ap.add_argument("--device", default=None)
    ap.add_argument("--out", type=Path,
                    default=REPO / "benchmarks" / "results" / "caption_ceiling.json")
    args = ap.parse_args(argv)
    items = checkout_items(args.root, args.n, args.split)
    if items is None:
        return 1
    results = [measure(m, items, args.root, args.quality, args.weights_dir, args.device)
               for m in args.model]
    for r in results:
        m = r["mean"]
        print(f"{r['model']} ({r['n_images']} {args.split} images, QF {args.quality}):")
        for name in METHODS:
            lp, ps = m[f"lpips_{name}"], m[f"psnr_{name}"]
            print(f"  {name:7s} LPIPS {lp:.4f} ({lp - m['lpips_empty']:+.4f} vs empty)  "
                  f"PSNR {ps:.3f} dB ({ps - m['psnr_empty']:+.3f})")
        print("  per caption colour, LPIPS minus empty x 1e-4: true / true colour only / true "
              "lightness only (broad, fine) / exact region colour (n)")
        for word, w in r["per_word"].items():
            print(f"  {word:7s} {1e4 * w['true']:+6.1f} / {1e4 * w['true_colour']:+6.1f} / "
                  f"{1e4 * w['true_lightness']:+6.1f} ({1e4 * w['true_lightness_low']:+6.1f}, "
                  f"{1e4 * w['true_lightness_high']:+6.1f}) / {1e4 * w['region']:+6.1f}  "
                  f"({w['n']})")
    cmd = ("python benchmarks/caption_ceiling.py " + " ".join(f"--model {m}" for m in args.model)
           + f" --split {args.split} --n {args.n} --quality {args.quality}")
    out = {"command": cmd, "split": args.split, "quality": args.quality, "results": results}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
