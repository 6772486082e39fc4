"""Text-guided controllable deblocking (the paper's Section 4.6, its Fig. 8).

One image is compressed at QF 1 and restored several times by the same model, each time with a
caption that differs only in one colour word ("... green in the lower part ..." -> "... red in
the lower part ...", "... blue in the lower part ..."). The results are saved side by side with their captions above, and the
mean colour shift each caption causes (relative to the restoration with the original caption)
is printed, with its component towards the named colour.

Usage::

    python examples/text_control.py [--image ../shared/data/kodak/kodim23.png]
        [--model tgjar-small | --model my.safetensors] [--quality 1]
        [--caption "green in the lower part, yellow patch at the bottom left"]
        [--word yellow] [--colours red green blue yellow purple]
        [--out runs/text_control.png] [--device cpu] [--guidance 1 1.5 2]

Without ``--caption`` the built-in captioner describes the clean image (as the sender would);
without ``--word`` the first chromatic colour word of the caption is the one replaced.
``--guidance S [S ...]`` restores with decode's caption strength (``empty + S * (captioned -
empty)``); with several, one row per strength, labelled, stacked.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path

import numpy as np

from jpegtext.captioner.colour import ANCHOR_RGB

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("JPEGTEXT_SHARED", REPO.parent / "shared"))

# sRGB anchors of the colour words (for the "towards" component of the shift).
COLOUR_RGB = {name: rgb for name, rgb in ANCHOR_RGB.items() if name != "white"}


def colour_captions(base: str, word: str | None, colours: list[str]) -> tuple[str, list[str]]:
    """The replaced word and the captions: ``base`` first, then one per other colour.

    Args:
        base: the original caption.
        word: the colour word to replace; None = the first chromatic colour word of ``base``
            (if there is none, the colour is put in front of the caption).
        colours: the colours to substitute.

    Returns:
        (word, captions).
    """
    if word is None:
        found = [w for w in re.findall(r"\w+", base.lower()) if w in COLOUR_RGB]
        word = found[0] if found else None
    captions = [base]
    for colour in colours:
        if colour == word:
            continue
        if word is None:
            captions.append(f"{colour} {base}")
        else:
            captions.append(re.sub(rf"\b{re.escape(word)}\b", colour, base, count=1, flags=re.I))
    return word or "", captions


def _stack(rows: list, labels: list[str]):
    """The strips one under another, each labelled on its left."""
    from PIL import Image, ImageDraw

    margin = 100
    out = Image.new("RGB", (margin + max(r.width for r in rows), sum(r.height for r in rows)),
                    "white")
    draw, y = ImageDraw.Draw(out), 0
    for row, label in zip(rows, labels, strict=True):
        out.paste(row, (margin, y))
        draw.text((6, y + row.height // 2), label, fill="black")
        y += row.height
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image", type=Path, default=SHARED / "data" / "kodak" / "kodim23.png")
    parser.add_argument("--model", default=None, help="zoo name or .safetensors file")
    parser.add_argument("--quality", type=int, default=1)
    parser.add_argument("--caption", default=None, help="base caption [default: builtin]")
    parser.add_argument("--word", default=None, help="colour word to replace")
    parser.add_argument(
        "--colours", nargs="+", default=["red", "green", "blue", "yellow", "purple"]
    )
    parser.add_argument("--out", type=Path, default=REPO / "runs" / "text_control.png")
    parser.add_argument("--device", default=None)
    parser.add_argument("--tile-width", type=int, default=256)
    parser.add_argument("--guidance", type=float, nargs="+", default=[1.0],
                        help="caption strength(s): one row each")
    args = parser.parse_args(argv)
    from jpegtext.restore.runtime.zoo import use_checkout_weights

    use_checkout_weights()  # models not in the package, by name from examples/weights/

    from PIL import Image

    from jpegtext.captioner import get_captioner
    from jpegtext.codec import decode_jpeg, encode_jpeg, load_image
    from jpegtext.evaluation import captioned_strip
    from jpegtext.restore.runtime.zoo import DEFAULT_MODEL, list_models, load_restorer

    if not args.image.is_file():
        print(f"image not found: {args.image} (pass --image)", file=sys.stderr)
        return 1
    Image.init()
    if args.out.suffix.lower() not in Image.EXTENSION:
        print(f"--out {args.out}: name an image file (.png, .jpg, ...)", file=sys.stderr)
        return 2
    model = args.model
    if model is None:
        if DEFAULT_MODEL not in {e.name for e in list_models()}:
            print("the model zoo is empty: pass --model FILE.safetensors", file=sys.stderr)
            return 1
        model = DEFAULT_MODEL
    clean = load_image(args.image)
    base = args.caption if args.caption is not None else get_captioner("builtin")([clean])[0]
    word, captions = colour_captions(base, args.word, args.colours)
    jpeg = np.array(decode_jpeg(encode_jpeg(clean, args.quality)))
    restorer = load_restorer(model, device=args.device)
    rows = []
    for s in args.guidance:
        outputs = [restorer.restore(jpeg, c, args.quality, guidance=s) for c in captions]
        rows.append(captioned_strip(
            [np.asarray(clean), jpeg, *outputs],
            ["clean", f"JPEG q{args.quality} (input)", *captions],
            tile_width=args.tile_width,
        ))
    strip = rows[0] if len(rows) == 1 else _stack(rows, [f"strength {s:g}" for s in args.guidance])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    strip.save(args.out)

    print(f"model {restorer.name}, QF {args.quality}, caption strength {args.guidance[-1]:g}, "
          f"replaced word: {word or '(none)'}")
    print("caption | mean dR dG dB vs original caption | towards named colour")
    ref = outputs[0].astype(np.float64)
    for cap, out in zip(captions, outputs, strict=True):
        d = (out.astype(np.float64) - ref).reshape(-1, 3).mean(0)
        named = [w for w in re.findall(r"\w+", cap.lower()) if w in COLOUR_RGB]
        towards = "-"
        if cap != captions[0] and named:
            colour = [w for w in named if w not in re.findall(r"\w+", captions[0].lower())]
            target = np.array(COLOUR_RGB[(colour or named)[0]], np.float64)
            direction = target - target.mean()  # the hue direction, lightness removed
            towards = f"{float(d @ direction / np.linalg.norm(direction)):+.3f}"
        print(f"{cap!r} | {d[0]:+.3f} {d[1]:+.3f} {d[2]:+.3f} | {towards}")
    print(f"wrote {args.out} ({Image.open(args.out).size[0]}x{Image.open(args.out).size[1]})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
