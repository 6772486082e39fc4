"""Text control with a number (the paper's Fig. 8): change the petal colour word, measure the shift.

On the first N flowers256 *test* images (sorted by file; ``--split val`` for choosing a model)
that have a human caption naming one of the colours below, the first such caption is stored in
a QF 1 jpegtext file (the product's encoder). The file is restored by the product's decode path with the original caption and with
the caption's first colour word replaced by each other colour. For each replacement we report
how much closer the mean colour of the flower region (the central half of the image: the
crops are centred on the flower) comes to the named colour, in 8-bit RGB levels:

    shift = |mean(restored, original caption) - anchor| - |mean(restored, new caption) - anchor|

(positive = towards the named colour; the Euclidean distance in RGB), also over the whole image.

    python benchmarks/text_control_flowers.py --model tgjar-small-v4 --model runs/x/model.safetensors

``--input-chroma F`` (a diagnostic, not the issue's measure) scales the clean image's chroma by
F before it is encoded, so the JPEG carries little colour: it shows how far the caption can
steer when the file does not already fix the colour. ``--consistency`` is decode's: ``off``
(the default here: the model's own steering, as every committed round measured it), ``luma``
(what ``jpegtext decode`` gives users) or ``full`` (the steering that stays within what the
file's quantisation allows). ``--guidance S`` is decode's caption strength (default 1, the
model's own steering).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from pathlib import Path

import numpy as np

from jpegtext.captioner.colour import ANCHOR_RGB as ANCHORS

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("JPEGTEXT_SHARED", REPO.parent / "shared"))

TARGETS = ("red", "yellow", "blue", "purple", "white")
# the petal colour words a caption's first match is taken from
WORDS = ("red", "yellow", "blue", "purple", "white", "pink", "orange")


def pick_images(root: Path, n: int, split: str = "test") -> list[tuple[str, str, str]]:
    """(file, caption, colour word) of the first ``n`` ``split`` images with a colour caption."""
    splits = {}
    for line in (root / "labels.jsonl").read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            splits[row["file"]] = row["split"]
    word = re.compile(r"\b(" + "|".join(w for w in ANCHORS if w in WORDS) + r")\b")
    out = []
    rows = [json.loads(x) for x in (root / "captions.jsonl").read_text().splitlines() if x.strip()]
    for row in sorted(rows, key=lambda r: r["file"]):
        if splits.get(row["file"]) != split:
            continue
        for cap in row["captions"]:
            m = word.search(cap.lower())
            if m:
                out.append((row["file"], cap, m.group(1)))
                break
        if len(out) == n:
            break
    return out


def checkout_items(root: Path, n: int, split: str) -> list[tuple[str, str, str]] | None:
    """:func:`pick_images`, with the checkout's unpackaged models reachable by name (from
    ``examples/weights/``); None, said on stderr, when ``root`` has no human captions."""
    from jpegtext.restore.runtime.zoo import use_checkout_weights

    use_checkout_weights()
    if not (root / "captions.jsonl").is_file():
        print(f"no flowers256 captions under {root}", file=sys.stderr)
        return None
    return pick_images(root, n, split)


def _mean(img: np.ndarray, central: bool) -> np.ndarray:
    if central:
        h, w = img.shape[:2]
        img = img[h // 4: h - h // 4, w // 4: w - w // 4]
    return img.reshape(-1, 3).astype(np.float64).mean(0)


def swaps(caption: str, colour: str) -> list[tuple[str, str]]:
    """(named colour, caption with its first ``colour`` word replaced by it) for every other
    colour of :data:`TARGETS`: the pairs a text-control measurement restores."""
    return [(target, re.sub(rf"\b{colour}\b", target, caption, count=1, flags=re.I))
            for target in TARGETS if target != colour]


def shift(base: np.ndarray, img: np.ndarray, target: str, central: bool = True) -> float:
    """How much closer (8-bit RGB levels) the mean colour of ``img`` is to ``target``'s anchor
    than that of ``base``: over the central half (the flower region) or the whole image."""
    anchor = np.array(ANCHORS[target], dtype=np.float64)
    before = np.linalg.norm(_mean(base, central) - anchor)
    after = np.linalg.norm(_mean(img, central) - anchor)
    return float(before - after)


def measure(model: str, items: list[tuple[str, str, str]], root: Path, quality: int,
            device: str | None, input_chroma: float = 1.0,
            consistency: str = "off", guidance: float = 1.0) -> dict[str, object]:
    from PIL import Image

    import jpegtext
    from jpegtext.restore.training.data import desaturate

    restorer = jpegtext.load_restorer(model, device=device)
    rows = []
    t0 = time.perf_counter()
    for file, caption, colour in items:
        source: Path | Image.Image = root / file
        if input_chroma != 1.0:
            with Image.open(root / file) as im:
                source = desaturate(im.convert("RGB"), input_chroma)
        data = jpegtext.encode(source, quality=quality, caption=caption)
        base = jpegtext.decode(data, model=restorer, output_type="np", consistent=consistency,
                               guidance=guidance)
        for target, new_caption in swaps(caption, colour):
            img = jpegtext.decode(data, model=restorer, caption=new_caption, output_type="np",
                                  consistent=consistency, guidance=guidance)
            row = {"file": file, "from": colour, "to": target}
            for name, central in (("region", True), ("image", False)):
                row[f"shift_{name}"] = shift(base, img, target, central)
                row[f"change_{name}"] = float(np.linalg.norm(_mean(img, central)
                                                             - _mean(base, central)))
            rows.append(row)
    per_target = {}
    for target in TARGETS:
        sel = [r["shift_region"] for r in rows if r["to"] == target]
        if sel:
            per_target[target] = float(np.mean(sel))
    return {
        "model": model,
        "sha256": restorer.info.get("sha256") if isinstance(restorer.info, dict) else None,
        "n_images": len(items),
        "n_pairs": len(rows),
        "mean_shift_region": float(np.mean([r["shift_region"] for r in rows])),
        "mean_shift_image": float(np.mean([r["shift_image"] for r in rows])),
        "mean_change_region": float(np.mean([r["change_region"] for r in rows])),
        "share_towards": float(np.mean([r["shift_region"] > 0 for r in rows])),
        "per_target_shift_region": per_target,
        "seconds": round(time.perf_counter() - t0, 1),
        "rows": rows,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", action="append", required=True, help="zoo name or file (repeat)")
    ap.add_argument("--root", type=Path, default=SHARED / "data" / "flowers256")
    ap.add_argument("--n", type=int, default=20)
    ap.add_argument("--split", default="test", choices=("test", "val"),
                    help="flowers256 split (val: for choosing a model; test: the reported number)")
    ap.add_argument("--quality", type=int, default=1)
    ap.add_argument("--device", default=None)
    ap.add_argument("--input-chroma", type=float, default=1.0,
                    help="scale the clean image's chroma by this before encoding (diagnostic)")
    ap.add_argument("--consistency", default="off", choices=("off", "luma", "full"),
                    help="decode's bound by the file (off: the model's own steering; luma: what "
                         "users get; full: the steering the file allows)")
    ap.add_argument("--guidance", type=float, default=1.0,
                    help="decode's caption strength (1: the model's own steering)")
    ap.add_argument("--out", type=Path,
                    default=REPO / "benchmarks" / "results" / "text_control_flowers.json")
    args = ap.parse_args(argv)
    items = checkout_items(args.root, args.n, args.split)
    if items is None:
        return 1
    results = [measure(m, items, args.root, args.quality, args.device, args.input_chroma,
                       args.consistency, args.guidance) for m in args.model]
    for r in results:
        print(f"{r['model']}: mean shift towards the named colour {r['mean_shift_region']:+.2f} "
              f"levels (flower region), {r['mean_shift_image']:+.2f} (image); towards in "
              f"{100 * r['share_towards']:.0f} % of {r['n_pairs']} pairs; per colour "
              + ", ".join(f"{k} {v:+.1f}" for k, v in r["per_target_shift_region"].items()))
    cmd = "python benchmarks/text_control_flowers.py " + " ".join(
        f"--model {m}" for m in args.model)
    if args.input_chroma != 1.0:
        cmd += f" --input-chroma {args.input_chroma}"
    if args.split != "test":
        cmd += f" --split {args.split}"
    if args.consistency != "off":
        cmd += f" --consistency {args.consistency}"
    if args.guidance != 1.0:
        cmd += f" --guidance {args.guidance:g}"
    out = {"command": cmd, "split": args.split, "quality": args.quality,
           "consistency": args.consistency, "guidance": args.guidance,
           "input_chroma": args.input_chroma, "targets": list(TARGETS),
           "anchors": ANCHORS, "results": results}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
