"""What decode's bound by the file (``consistent="full"`` or ``"luma"``) does on the held-out sets.

Each image is encoded by the product (flowers256 test: its first human caption; Kodak and LIVE1:
the built-in captioner on the clean image, as the sender would), restored by the product's decode
path, and then projected onto the file's quantisation intervals
(:func:`jpegtext.codec.consistency.project_jpeg_file`, which is what ``consistent`` adds;
``tests/test_consistency.py`` checks the two are the same pixels). For flowers the empty caption
is measured too. Reported per set and QF: mean PSNR (RGB) and LPIPS of both, the paired
difference with its standard error, how many images changed, and the largest per-image change.

    python benchmarks/consistency.py [--model tgjar-text-v13] [--sets flowers kodak live1]
        [--qualities 1 5 10] [--slack 1] [--chroma-slack inf]
        [--out benchmarks/results/consistency_v13.json]

``--slack`` / ``--chroma-slack`` widen the intervals (``project_jpeg_file``'s arguments;
``--chroma-slack inf`` bounds the luma alone).

The restorations are the model's own output (``consistent="off"``) and the bound is applied here,
so the paired difference is exactly what the bound does. Nothing here chooses anything (the rule
that made ``luma`` the decode default is ``consistency_slack.py``'s; this script is its held-out
check).
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
DATA = SHARED / "data"


def flowers_items(split: str) -> list[tuple[Path, str]]:
    """(image, first human caption) of every flowers256 ``split`` image that has one, listed by
    the evaluation harness's :func:`~jpegtext.evaluation.dataset.list_images`."""
    from jpegtext.evaluation.dataset import list_images

    root = DATA / "flowers256"
    first = {}
    for line in (root / "captions.jsonl").read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            if row["captions"]:
                first[row["file"]] = row["captions"][0]
    return [(im.path, first[im.id]) for im in list_images(root, manifest="labels.jsonl",
                                                          split=split) if im.id in first]


def _items(name: str) -> list[tuple[Path, str | None]]:
    """(image, its first human caption or None = the built-in captioner) of a held-out set."""
    from jpegtext.evaluation.dataset import list_images

    if name == "flowers256-test":
        return list(flowers_items("test"))
    folder = {"kodak": "kodak", "live1": "live1_color"}[name]
    return [(im.path, None) for im in list_images(DATA / folder)]


def standard_error(values) -> float:
    """The standard error of the mean of paired differences (0 for fewer than two)."""
    a = np.asarray(values, dtype=np.float64)
    return float(a.std(ddof=1) / math.sqrt(len(a))) if len(a) > 1 else 0.0


def _stat(d: list[float]) -> dict:
    a = np.array(d)
    return {"mean": float(a.mean()), "se": standard_error(a), "max_gain": float(a.max()),
            "max_loss": float(a.min())}


def measure(model: str, sets: list[str], qualities: list[int], slack: float = 1.0,
            chroma_slack: float | None = None) -> dict:
    from PIL import Image

    import jpegtext
    from jpegtext.codec.consistency import project_jpeg_file
    from jpegtext.codec.jpegfile import parse_file
    from jpegtext.metrics import load_lpips, lpips_distance, psnr
    from jpegtext.receiver import decode_detailed

    restorer = jpegtext.load_restorer(model)
    lp = load_lpips(trunk_path=SHARED / "weights" / "lpips" / "alexnet_features_imagenet_tv.pth",
                    device="cpu")
    names = {"flowers": "flowers256-test", "kodak": "kodak", "live1": "live1"}
    results: dict = {}
    for key in sets:
        name = names[key]
        items = _items(name)
        captions = ["true", "empty"] if name == "flowers256-test" else ["builtin"]
        for q in qualities:
            rows = {c: {"psnr": [], "lpips": [], "psnr_c": [], "lpips_c": [], "changed": 0}
                    for c in captions}
            t0 = time.time()
            for path, caption in items:
                with Image.open(path) as im:
                    clean_im = im.convert("RGB")
                clean = np.asarray(clean_im)
                if caption is None:
                    data = jpegtext.encode(clean_im, quality=q, captioner="builtin")
                else:
                    data = jpegtext.encode(clean_im, quality=q, caption=caption)
                file = parse_file(data)
                for c in captions:
                    over = "" if c == "empty" else None
                    plain = decode_detailed(file, model=restorer, caption=over,
                                            consistent="off").image
                    kept = project_jpeg_file(plain, file, slack=slack, chroma_slack=chroma_slack)
                    r = rows[c]
                    r["psnr"].append(psnr(clean, plain))
                    r["psnr_c"].append(psnr(clean, kept))
                    r["lpips"].append(lpips_distance(clean, plain, lp))
                    r["lpips_c"].append(lpips_distance(clean, kept, lp))
                    r["changed"] += int(not np.array_equal(plain, kept))
            for c, r in rows.items():
                dp = [b - a for a, b in zip(r["psnr"], r["psnr_c"], strict=True)]
                dl = [b - a for a, b in zip(r["lpips"], r["lpips_c"], strict=True)]
                entry = {"n": len(dp), "changed": r["changed"],
                         "psnr": float(np.mean(r["psnr"])), "psnr_consistent": float(np.mean(r["psnr_c"])),
                         "lpips": float(np.mean(r["lpips"])),
                         "lpips_consistent": float(np.mean(r["lpips_c"])),
                         "d_psnr": _stat(dp), "d_lpips": _stat(dl)}
                results.setdefault(name, {}).setdefault(str(q), {})[c] = entry
                print(f"{name} QF {q} {c:7s} n {entry['n']:3d}: PSNR {entry['psnr']:.3f} -> "
                      f"{entry['psnr_consistent']:.3f} ({entry['d_psnr']['mean']:+.3f}, SE "
                      f"{entry['d_psnr']['se']:.3f}, best {entry['d_psnr']['max_gain']:+.2f}, "
                      f"worst {entry['d_psnr']['max_loss']:+.2f}), LPIPS {entry['lpips']:.4f} -> "
                      f"{entry['lpips_consistent']:.4f} ({entry['d_lpips']['mean']:+.4f}), "
                      f"{entry['changed']} changed  [{time.time() - t0:.0f} s]", flush=True)
    return {"model": model, "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
            "slack": slack, "chroma_slack": None if chroma_slack is None else str(chroma_slack),
            "results": results}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="tgjar-text-v13")
    ap.add_argument("--sets", nargs="+", default=["flowers", "kodak", "live1"],
                    choices=["flowers", "kodak", "live1"])
    ap.add_argument("--qualities", type=int, nargs="+", default=[1, 5, 10])
    ap.add_argument("--slack", type=float, default=1.0)
    ap.add_argument("--chroma-slack", type=float, default=None, help="inf: luma alone")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args(argv)
    result = measure(args.model, args.sets, args.qualities, args.slack, args.chroma_slack)
    if args.out:
        args.out.write_text(json.dumps(result, indent=1) + "\n")
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
