"""Where a true caption costs the most: a colour word bound to the wrong part of the flower.

Each image is encoded at QF 1 with its caption and shown five ways: the JPEG itself, the no-text
twin, the text model with the true caption, the same with ``consistent="full"`` (projected onto
what the file's quantisation allows: ``jpegtext decode --consistency full``) and with an empty
caption; the others are the models' own output (``consistent="off"``);
every tile is labelled with its PSNR. The two default images are the flowers test images whose true
caption costs the default the most against an empty one (``benchmarks/goal_uncertainty.py
--by-colour-word``): their first colour word names a small part (a purple pedicel, fuchsia petals
read by the swap vocabulary as no colour), and the generator paints the whole flower with it.

    python examples/caption_misbinding.py [--model tgjar-text-v13]
        [--twin examples/weights/tgjar-text-twin-blend-r52.safetensors]
        [--image test/image_04474.jpg --image test/image_07644.jpg]
        [--out docs/images/caption_misbinding.jpg]
"""

from __future__ import annotations

import argparse
import io
import json
import os
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

import jpegtext

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("JPEGTEXT_SHARED", REPO.parent / "shared"))
FLOWERS = SHARED / "data" / "flowers256"


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(((a.astype(np.float64) - b) ** 2).mean())
    return 10 * np.log10(255.0 ** 2 / mse)


def _label(tile: Image.Image, text: str) -> Image.Image:
    out = Image.new("RGB", (tile.width, tile.height + 16), "white")
    out.paste(tile, (0, 16))
    ImageDraw.Draw(out).text((3, 2), text, fill="black")
    return out


def row(file: str, caption: str, model: object, twin: object) -> Image.Image:
    """JPEG, twin, true caption, true caption made consistent, empty caption, clean: a strip."""
    with Image.open(FLOWERS / file) as im:
        clean = im.convert("RGB")
    ref = np.asarray(clean)
    data = jpegtext.encode(clean, quality=1, caption=caption)
    with Image.open(io.BytesIO(data)) as jpeg:
        tiles = [("JPEG QF 1", np.asarray(jpeg.convert("RGB")))]
    tiles.append(("no-text twin", jpegtext.decode(data, model=twin, caption="", output_type="np",
                                                    consistent="off")))
    tiles.append(("true caption", jpegtext.decode(data, model=model, output_type="np",
                                                  consistent="off")))
    tiles.append(("true, --consistent", jpegtext.decode(data, model=model, output_type="np",
                                                        consistent="full")))
    tiles.append(("empty caption", jpegtext.decode(data, model=model, caption="",
                                                   output_type="np", consistent="off")))
    strip = [_label(Image.fromarray(t), f"{name} {_psnr(t, ref):.2f} dB") for name, t in tiles]
    strip.append(_label(clean, "clean"))
    out = Image.new("RGB", (sum(t.width for t in strip), strip[0].height + 16), "white")
    x = 0
    for t in strip:
        out.paste(t, (x, 16))
        x += t.width
    ImageDraw.Draw(out).text((3, 2), f"{file}: \"{caption}\"", fill="black")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="tgjar-text-v13")
    ap.add_argument("--twin",
                    default=str(REPO / "examples/weights/tgjar-text-twin-blend-r52.safetensors"))
    ap.add_argument("--image", action="append", help="flowers256 file (default: the two worst)")
    ap.add_argument("--out", type=Path, default=REPO / "docs/images/caption_misbinding.jpg")
    args = ap.parse_args()
    files = args.image or ["test/image_04474.jpg", "test/image_07644.jpg"]
    captions = {}
    for line in (FLOWERS / "captions.jsonl").read_text(encoding="utf-8").splitlines():
        if line.strip():
            r = json.loads(line)
            captions[r["file"]] = r["captions"][0]  # the first human caption, as Table 3
    model, twin = jpegtext.load_restorer(args.model), jpegtext.load_restorer(args.twin)
    rows = [row(f, captions[f], model, twin) for f in files]
    grid = Image.new("RGB", (max(r.width for r in rows), sum(r.height for r in rows)), "white")
    y = 0
    for r in rows:
        grid.paste(r, (0, y))
        y += r.height
    grid.save(args.out, quality=92)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
