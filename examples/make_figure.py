"""The README figure: the sample scene clean, at JPEG QF 1, and restored (with its caption).

    python examples/make_figure.py [--model tgjar-small] [--out docs/images/sample_triptych.png]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

import jpegtext
from jpegtext.codec import decode_jpeg
from jpegtext.sample import make_sample_image


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=None, help="zoo name or .safetensors (default model)")
    ap.add_argument("--quality", type=int, default=1)
    ap.add_argument("--out", type=Path, default=Path("docs/images/sample_triptych.png"))
    ap.add_argument("--crop", type=int, nargs=4, default=[160, 192, 320, 384],
                    metavar=("Y", "X", "H", "W"), help="the part of the image shown, at 1:1")
    args = ap.parse_args()
    from jpegtext.restore.runtime.zoo import use_checkout_weights

    use_checkout_weights()  # models not in the package, by name from examples/weights/
    clean = make_sample_image()
    data = jpegtext.encode(clean, args.quality, captioner="builtin")
    caption = jpegtext.read_caption(data) or ""
    jpeg = decode_jpeg(data)
    restored = jpegtext.decode(data, model=args.model, output_type="np")
    from jpegtext.metrics import psnr

    panels = [("clean", np.asarray(clean)),
              (f"JPEG QF {args.quality}: {len(data)} bytes, {psnr(np.asarray(clean), jpeg):.2f} dB",
               jpeg),
              (f"restored: {psnr(np.asarray(clean), restored):.2f} dB", restored)]
    # a 1:1 crop, so that the 8x8 blocks of the JPEG stay visible
    y0, x0, ch, cw = args.crop
    pw, ph = cw, ch
    canvas = Image.new("RGB", (3 * pw + 20, ph + 44), "white")
    draw = ImageDraw.Draw(canvas)
    draw.text((4, 2), f'caption stored in the file: "{caption}"', fill="black")
    for i, (label, arr) in enumerate(panels):
        tile = Image.fromarray(np.asarray(arr)[y0:y0 + ch, x0:x0 + cw])
        canvas.paste(tile, (i * (pw + 10), 40))
        draw.text((i * (pw + 10) + 2, 24), label, fill="black")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    canvas.save(args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
