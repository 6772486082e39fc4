"""Write the jpegtext sample image (a synthetic farm scene drawn by code) to a file.

Usage::

    python examples/make_sample.py sample.png [--width 768] [--height 512] [--seed 0]

The image is the one the README's main job encodes and restores; it is drawn by
:func:`jpegtext.sample.make_sample_image`, so it can be redistributed freely. Save it losslessly
(PNG): the point is to compress it with jpegtext afterwards.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from jpegtext.sample import make_sample_image


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="output file; the suffix picks the format (.png)")
    parser.add_argument("--width", type=int, default=768)
    parser.add_argument("--height", type=int, default=512)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--force", action="store_true", help="overwrite an existing file")
    args = parser.parse_args(argv)
    if args.out.exists() and not args.force:
        parser.error(f"{args.out} exists (use --force to overwrite)")
    image = make_sample_image(args.width, args.height, seed=args.seed)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    image.save(args.out)
    print(f"wrote {args.out} ({image.width}x{image.height}, seed {args.seed})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
