"""How tightly should decode bound a restoration by its file? Fidelity against steering, per slack.

``decode --consistent`` clips every DCT coefficient of the restoration into the interval the
file allows (:mod:`jpegtext.codec.consistency`). It raises fidelity and halves text control. This
measures the ways of bounding less: a wider interval (``slack``) and a bound on luma alone
(``chroma_slack``), each against no bound ("off"), on one restoration per image:

- fidelity: every flowers256 image of ``--split`` with a human caption, its first caption stored
  by the product's encoder, restored by the product's decode path with it, at each QF; PSNR (RGB)
  and LPIPS, paired against off (mean, standard error, worst image);
- steering: text control as ``text_control_flowers.py`` measures it (first 20 images of the split
  with a colour caption, QF 1, every other colour), base and swapped restorations both bounded.

It then applies the rule ``benchmarks/results/selection_consistency_default_rule.md`` (written
before the val numbers) and prints its verdict; the rule chooses on ``--split val`` only.

    python benchmarks/consistency_slack.py --split val \\
        --out benchmarks/results/consistency_slack_val.json
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("JPEGTEXT_SHARED", REPO.parent / "shared"))
sys.path.insert(0, str(REPO / "benchmarks"))

#: name -> (slack, chroma_slack); None = no bound (today's default)
CANDIDATES: dict[str, tuple[float, float] | None] = {
    "off": None,
    "slack 1": (1.0, 1.0),
    "slack 1.5": (1.5, 1.5),
    "slack 2": (2.0, 2.0),
    "slack 3": (3.0, 3.0),
    "luma 1, chroma 2": (1.0, 2.0),
    "luma 1, chroma 3": (1.0, 3.0),
    "luma 1 only": (1.0, math.inf),
}
STEERING_MARGIN = 1.0  # levels of text control a candidate may lose against off
WORST_LOSS = 0.05  # dB: no image may lose more
TIE = 0.002  # dB


def _bound(img: np.ndarray, file, candidate: tuple[float, float] | None) -> np.ndarray:
    from jpegtext.codec.consistency import project_jpeg_file

    if candidate is None:
        return img
    return project_jpeg_file(img, file, slack=candidate[0], chroma_slack=candidate[1])


def _stat(d: list[float]) -> dict[str, float]:
    from consistency import standard_error

    a = np.asarray(d, dtype=np.float64)
    return {"mean": float(a.mean()), "se": standard_error(a), "worst": float(a.min()),
            "best": float(a.max())}


def fidelity(restorer, items: list[tuple[Path, str]], qualities: list[int], lp) -> dict:
    from PIL import Image

    import jpegtext
    from jpegtext.codec.jpegfile import parse_file
    from jpegtext.metrics import lpips_distance, psnr
    from jpegtext.receiver import decode_detailed

    colour = re.compile(r"\b(red|yellow|blue|purple|white|pink|orange)\b", re.IGNORECASE)
    out: dict = {}
    for q in qualities:
        rows: dict[str, dict[str, list[float]]] = {c: {"psnr": [], "lpips": []} for c in CANDIDATES}
        names_colour = []
        t0 = time.time()
        for path, caption in items:
            with Image.open(path) as im:
                clean_im = im.convert("RGB")
            clean = np.asarray(clean_im)
            file = parse_file(jpegtext.encode(clean_im, quality=q, caption=caption))
            plain = decode_detailed(file, model=restorer, consistent="off").image
            names_colour.append(bool(colour.search(caption)))
            for name, cand in CANDIDATES.items():
                img = _bound(plain, file, cand)
                rows[name]["psnr"].append(psnr(clean, img))
                rows[name]["lpips"].append(lpips_distance(clean, img, lp))
        base = rows["off"]
        entry = {}
        for name, r in rows.items():
            dp = [b - a for a, b in zip(base["psnr"], r["psnr"], strict=True)]
            dl = [b - a for a, b in zip(base["lpips"], r["lpips"], strict=True)]
            no_colour = [d for d, c in zip(dp, names_colour, strict=True) if not c]
            entry[name] = {"n": len(dp), "psnr": float(np.mean(r["psnr"])),
                           "lpips": float(np.mean(r["lpips"])), "d_psnr": _stat(dp),
                           "d_lpips": _stat(dl),
                           "d_psnr_no_colour_word": float(np.mean(no_colour)) if no_colour else None}
            print(f"QF {q:2d} {name:17s} PSNR {entry[name]['psnr']:.3f} "
                  f"({entry[name]['d_psnr']['mean']:+.4f} SE {entry[name]['d_psnr']['se']:.4f}, "
                  f"worst {entry[name]['d_psnr']['worst']:+.3f}) LPIPS {entry[name]['lpips']:.4f} "
                  f"({entry[name]['d_lpips']['mean']:+.5f})  [{time.time() - t0:.0f} s]",
                  flush=True)
        out[str(q)] = entry
    return out


def steering(restorer, split: str, n: int) -> dict[str, dict[str, float]]:
    from text_control_flowers import pick_images, shift, swaps

    import jpegtext
    from jpegtext.codec.jpegfile import parse_file

    items = pick_images(SHARED / "data" / "flowers256", n, split)
    shifts: dict[str, list[float]] = {c: [] for c in CANDIDATES}
    for file_name, caption, colour in items:
        data = jpegtext.encode(SHARED / "data" / "flowers256" / file_name, quality=1,
                               caption=caption)
        file = parse_file(data)
        base = jpegtext.decode(data, model=restorer, output_type="np", consistent="off")
        for target, new_caption in swaps(caption, colour):
            img = jpegtext.decode(data, model=restorer, caption=new_caption, output_type="np",
                                  consistent="off")
            for name, cand in CANDIDATES.items():
                shifts[name].append(shift(_bound(base, file, cand), _bound(img, file, cand),
                                          target))
    out = {}
    for name, s in shifts.items():
        out[name] = {"n_images": len(items), "n_pairs": len(s), "mean_shift_region": float(np.mean(s))}
        print(f"text control {name:17s} {out[name]['mean_shift_region']:+.2f} levels "
              f"({len(s)} pairs)", flush=True)
    return out


def verdict(fid: dict, steer: dict) -> dict:
    """The rule of ``selection_consistency_default_rule.md`` applied to this file's numbers."""
    off_steer = steer["off"]["mean_shift_region"]
    table = {}
    for name in CANDIDATES:
        if name == "off":
            continue
        failed = []
        if steer[name]["mean_shift_region"] < off_steer - STEERING_MARGIN:
            failed.append("steering")
        for q, entry in fid.items():
            e = entry[name]
            if e["d_psnr"]["mean"] < 0 or e["d_lpips"]["mean"] > 0:
                failed.append(f"fidelity QF {q}")
            if e["d_psnr"]["worst"] < -WORST_LOSS:
                failed.append(f"worst image QF {q}")
        q1 = fid["1"][name]["d_psnr"]
        if q1["mean"] < 2 * q1["se"]:
            failed.append("QF 1 gain under 2 SE")
        table[name] = {"passes": not failed, "failed": failed, "gain_qf1": q1["mean"],
                       "text_control": steer[name]["mean_shift_region"]}
    passing = [n for n, t in table.items() if t["passes"]]
    chosen = None
    if passing:
        best = max(table[n]["gain_qf1"] for n in passing)
        tied = [n for n in passing if table[n]["gain_qf1"] >= best - TIE]
        chosen = max(tied, key=lambda n: table[n]["text_control"])
    return {"candidates": table, "chosen": chosen}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="tgjar-text-v13")
    ap.add_argument("--split", default="val", choices=("val", "test"))
    ap.add_argument("--qualities", type=int, nargs="+", default=[1, 5, 10])
    ap.add_argument("--n-control", type=int, default=20)
    ap.add_argument("--limit", type=int, default=None, help="first N fidelity images (a smoke run)")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args(argv)

    import jpegtext
    from jpegtext.metrics import load_lpips
    from jpegtext.restore.runtime.zoo import use_checkout_weights

    use_checkout_weights()
    restorer = jpegtext.load_restorer(args.model)
    lp = load_lpips(trunk_path=SHARED / "weights" / "lpips" / "alexnet_features_imagenet_tv.pth",
                    device="cpu")
    from consistency import flowers_items

    items = flowers_items(args.split)[: args.limit]
    steer = steering(restorer, args.split, args.n_control)
    fid = fidelity(restorer, items, args.qualities, lp)
    result = {"model": args.model, "split": args.split,
              "command": " ".join(["python benchmarks/consistency_slack.py", *(argv or sys.argv[1:])]),
              "candidates": {k: (None if v is None else [x if math.isfinite(x) else "inf" for x in v])
                             for k, v in CANDIDATES.items()},
              "fidelity": fid, "steering": steer}
    if args.split == "val" and set(args.qualities) == {1, 5, 10} and args.limit is None:
        result["verdict"] = verdict(fid, steer)
        for name, t in result["verdict"]["candidates"].items():
            print(f"{name:17s} {'passes' if t['passes'] else 'fails: ' + ', '.join(t['failed'])}")
        print(f"chosen: {result['verdict']['chosen']}")
    if args.out:
        args.out.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
