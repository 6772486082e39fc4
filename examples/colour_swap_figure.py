"""Picture of the colour swap (training data): clean crop, the JPEG input, the swapped target.

    python examples/colour_swap_figure.py [--mode relative|absolute|offset|natural] [--out docs/images/colour_swap.jpg]

Takes the first flowers256 *train* images whose first human caption names a swappable colour and
shows, per image: the clean crop with its caption, the QF 1 JPEG input the network gets (made from
the clean crop), and the target it is asked for after a swap, with the caption it is given.
"""

from __future__ import annotations

import argparse
import json
import os
import textwrap
from pathlib import Path

from PIL import Image, ImageDraw

from jpegtext.restore.training.colour_swap import swap_colour
from jpegtext.restore.training.data import jpeg_degrade

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("JPEGTEXT_SHARED", REPO.parent / "shared"))
SIDE, TEXT_H = 160, 52


def _label(draw: ImageDraw.ImageDraw, xy: tuple[int, int], text: str) -> None:
    for k, line in enumerate(textwrap.wrap(text, 26)[:4]):
        draw.text((xy[0] + 3, xy[1] + 2 + 12 * k), line, fill=(0, 0, 0))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--root", type=Path, default=SHARED / "data" / "flowers256")
    ap.add_argument("--n", type=int, default=4)
    ap.add_argument("--mode", choices=("relative", "absolute", "offset", "natural"),
                    default="relative")
    ap.add_argument("--out", type=Path, default=REPO / "docs" / "images" / "colour_swap.jpg")
    args = ap.parse_args()
    splits = {}
    for line in (args.root / "labels.jsonl").read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            splits[row["file"]] = row["split"]
    picked = []
    for line in (args.root / "captions.jsonl").read_text(encoding="utf-8").splitlines():
        row = json.loads(line) if line.strip() else None
        if row is None or splits.get(row["file"]) != "train":
            continue
        with Image.open(args.root / row["file"]) as im:
            clean = im.convert("RGB").resize((SIDE, SIDE), Image.Resampling.BICUBIC)
        u = (len(picked) * 0.37 + 0.1) % 1.0
        target, new_caption, colour = swap_colour(clean, row["captions"][0], u, args.mode)
        if colour:
            picked.append((clean, row["captions"][0], target, new_caption))
        if len(picked) == args.n:
            break
    rows = ("clean crop", "JPEG QF 1 input", "target after the swap")
    sheet = Image.new("RGB", (SIDE * len(picked), 3 * (SIDE + TEXT_H)), "white")
    draw = ImageDraw.Draw(sheet)
    for i, (clean, caption, target, new_caption) in enumerate(picked):
        x = i * SIDE
        tiles = (clean, jpeg_degrade(clean, 1), target)
        texts = (caption, "(what the network sees)", new_caption)
        for r, (tile, text) in enumerate(zip(tiles, texts, strict=True)):
            y = r * (SIDE + TEXT_H)
            sheet.paste(tile, (x, y))
            _label(draw, (x, y + SIDE), f"{rows[r]}: {text}" if i == 0 else text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(args.out, quality=90)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
