"""Tiled vs untiled restoration with the shipped default model, on real photos.

Each Kodak image is encoded at QF 1 with its built-in caption (as the sender does), restored once
untiled and once at each tile side, and the outputs are compared (uint8, all channels). The tile
sides are every one the automatic choice can pick: ``Restorer._tile_for`` returns 0 (untiled) or
one of ``inference.AUTO_TILES`` (128 ... 2048 px cores); sides >= the image's longer side run as
one tile, which *is* the untiled pass, so they are listed with their measured difference too.
The halo (``--halos``, default the receiver's ``tile_overlap`` of 32 px) is the context each
tile runs with. Prints a table and writes ``benchmarks/results/tiling_agreement.json``.

    python benchmarks/tiling_agreement.py                       # kodim01, kodim23; every side
    python benchmarks/tiling_agreement.py --images kodim05 --tiles 128 256 --halos 32 48
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "kodak")
    parser.add_argument("--images", nargs="+", default=["kodim01", "kodim23"])
    parser.add_argument("--tiles", nargs="+", type=int, default=None,
                        help="default: every side of inference.AUTO_TILES")
    parser.add_argument("--halos", nargs="+", type=int, default=[32])
    parser.add_argument("--quality", type=int, default=1)
    parser.add_argument("--model", default=None, help="zoo name or file (default: the default)")
    parser.add_argument("--out", type=Path,
                        default=ROOT / "benchmarks" / "results" / "tiling_agreement.json")
    args = parser.parse_args(argv)

    import numpy as np
    import torch

    import jpegtext
    from jpegtext.codec import decode_jpeg
    from jpegtext.restore.runtime.inference import AUTO_TILES
    from jpegtext.restore.runtime.zoo import DEFAULT_MODEL, load_restorer

    tile_sides = args.tiles or list(AUTO_TILES)

    torch.set_num_threads(max(1, torch.get_num_threads()))
    model = args.model or DEFAULT_MODEL
    untiled = load_restorer(model, device="cpu", tile=0)
    rows = []
    for name in args.images:
        path = args.data / f"{name}.png"
        if not path.is_file():
            print(f"missing {path}", file=sys.stderr)
            return 1
        data = jpegtext.encode(path, args.quality, captioner="builtin")
        caption = jpegtext.read_caption(data) or ""
        pixels = np.asarray(decode_jpeg(data))
        ref = untiled.restore(pixels, caption, args.quality).astype(np.int16)
        for tile, halo in [(t, o) for o in args.halos for t in tile_sides]:
            restorer = load_restorer(model, device="cpu", tile=tile, tile_overlap=halo)
            t0 = time.perf_counter()
            out = restorer.restore(pixels, caption, args.quality).astype(np.int16)
            seconds = time.perf_counter() - t0
            diff = np.abs(out - ref)
            row = {"image": name, "size": f"{pixels.shape[1]}x{pixels.shape[0]}", "tile": tile,
                   "halo": halo, "one_tile": tile >= max(pixels.shape[:2]),
                   "mean_abs_diff": float(diff.mean()),
                   "max_abs_diff": int(diff.max()),
                   "share_pixels_diff_gt_2": float((diff.max(axis=2) > 2).mean()),
                   "seconds": round(seconds, 2)}
            rows.append(row)
            share = 100 * row["share_pixels_diff_gt_2"]
            print(f"{name} tile {tile:4d} halo {halo:3d}: mean |diff| {row['mean_abs_diff']:.3f}, max "
                  f"{row['max_abs_diff']}, pixels > 2 levels {share:.2f}% ({seconds:.1f} s)",
                  flush=True)
    doc = {"model": str(model), "quality": args.quality, "device": "cpu", "precision": "fp32",
           "torch": torch.__version__, "python": platform.python_version(),
           "command": " ".join(["python", "benchmarks/tiling_agreement.py",
                                *(argv or sys.argv[1:])]),
           "tile_sides": tile_sides, "halos": args.halos,
           "auto_tiles_source": "jpegtext.restore.runtime.inference.AUTO_TILES (Restorer._tile_for)",
           "rows": rows,
           "worst_mean_abs_diff": max(r["mean_abs_diff"] for r in rows),
           "worst_max_abs_diff": max(r["max_abs_diff"] for r in rows)}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
