"""``jpegtext evaluate`` vs ``jpegtext encode`` + ``jpegtext decode`` run by hand: the same PSNR.

The harness restores through the same receiver as ``jpegtext decode`` (caption and QF read from
the file), so its published numbers are those of the path users run. This script checks it end
to end with the real commands (subprocesses): ``jpegtext evaluate`` on the images (default
Kodak kodim01-04) at each QF with the default model and the built-in captioner, then, with the
captions the evaluation stored (``captions.jsonl``), ``jpegtext encode --caption-file`` and
``jpegtext decode`` by hand; PSNR (RGB) of each restored PNG against the clean image is compared
with the harness's, and the PNGs with the harness's saved ones (pixel for pixel). Prints a table
and writes ``benchmarks/results/evaluate_vs_cli.json``; exits 1 if any PSNR differs by 0.01 dB
or more.

    python benchmarks/evaluate_vs_cli.py                              # kodim01-04, QF 1 and 10
    python benchmarks/evaluate_vs_cli.py --images kodim05 --qualities 5 --device cpu
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _jpegtext(*args: str) -> float:
    """Run ``python -m jpegtext ARGS`` (this checkout) and return its wall time in seconds."""
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "jpegtext", *args], env=env,
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"jpegtext {' '.join(args)} failed ({proc.returncode}):\n"
                         f"{proc.stdout}{proc.stderr}")
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "kodak")
    parser.add_argument("--images", nargs="+", default=["kodim01", "kodim02", "kodim03",
                                                        "kodim04"])
    parser.add_argument("--qualities", nargs="+", type=int, default=[1, 10])
    parser.add_argument("--model", default=None, help="zoo name or file (default: the default)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", type=Path,
                        default=ROOT / "benchmarks" / "results" / "evaluate_vs_cli.json")
    args = parser.parse_args(argv)

    import numpy as np
    from PIL import Image

    from jpegtext.evaluation.harness import _safe
    from jpegtext.metrics import psnr
    from jpegtext.restore.runtime.zoo import DEFAULT_MODEL

    model = args.model or DEFAULT_MODEL
    missing = [n for n in args.images if not (args.data / f"{n}.png").is_file()]
    if missing:
        print(f"missing in {args.data}: {', '.join(missing)}", file=sys.stderr)
        return 1
    qs = [str(q) for q in args.qualities]
    with tempfile.TemporaryDirectory(prefix="evaluate_vs_cli_") as tmp_name:
        tmp = Path(tmp_name)
        data = tmp / "images"
        data.mkdir()
        for n in args.images:
            (data / f"{n}.png").symlink_to((args.data / f"{n}.png").resolve())
        ev = tmp / "eval"
        times = {"evaluate_s": _jpegtext(
            "evaluate", str(data), "--out", str(ev), "-q", *qs, "--methods", model,
            "--metrics", "psnr", "--captioner", "builtin", "--device", args.device,
            "--figure-images", "0", "--no-progress", "--save-images")}
        rows = [json.loads(line) for line in (ev / "results.jsonl").read_text().splitlines()]
        captions = {}
        for line in (ev / "captions.jsonl").read_text().splitlines():
            rec = json.loads(line)
            captions[rec["image"]] = rec["caption"]
        cap_file = tmp / "captions.jsonl"
        cap_file.write_text("".join(json.dumps({"file": f"{i}.png" if not i.endswith(".png")
                                                else i, "caption": c}) + "\n"
                                    for i, c in captions.items()), encoding="utf-8")
        times["encode_s"] = times["decode_s"] = 0.0
        for q in qs:
            times["encode_s"] += _jpegtext("encode", str(data), "-q", q, "--out-dir",
                                           str(tmp / f"jpg{q}"), "--caption-file", str(cap_file))
            times["decode_s"] += _jpegtext("decode", str(tmp / f"jpg{q}"), "--out-dir",
                                           str(tmp / f"png{q}"), "--model", model,
                                           "--device", args.device)
        table = []
        for row in sorted(rows, key=lambda r: (r["quality"], r["image"])):
            image, q = row["image"], row["quality"]
            stem = Path(image).stem
            clean = np.asarray(Image.open(args.data / f"{stem}.png").convert("RGB"))
            with Image.open(tmp / f"png{q}" / f"{stem}.png") as im:
                by_hand = np.asarray(im.convert("RGB"))
            with Image.open(ev / "images" / f"q{q}" / _safe(row["method"])
                            / f"{_safe(image)}.png") as im:
                saved = np.asarray(im.convert("RGB"))
            cli = psnr(clean, by_hand)
            table.append({"image": stem, "quality": q, "caption": captions[image],
                          "evaluate_psnr": row["psnr_rgb"], "cli_psnr": cli,
                          "diff_db": cli - row["psnr_rgb"],
                          "same_pixels": bool(np.array_equal(saved, by_hand))})
    print(f"model {model}, device {args.device}; PSNR (RGB, dB)")
    print(f"{'image':8} {'QF':>3} {'evaluate':>9} {'CLI':>9} {'diff':>8}  same pixels  caption")
    for r in table:
        print(f"{r['image']:8} {r['quality']:>3} {r['evaluate_psnr']:9.4f} {r['cli_psnr']:9.4f} "
              f"{r['diff_db']:+8.4f}  {str(r['same_pixels']):11}  {r['caption'][:40]!r}")
    worst = max(abs(r["diff_db"]) for r in table)
    ok = worst < 0.01
    print(f"largest difference {worst:.4f} dB: {'PASS' if ok else 'FAIL'} (< 0.01 dB); "
          f"{sum(r['same_pixels'] for r in table)}/{len(table)} identical restorations; "
          f"evaluate {times['evaluate_s']:.1f} s, encode {times['encode_s']:.1f} s, "
          f"decode {times['decode_s']:.1f} s")
    result = {"model": model, "device": args.device, "qualities": args.qualities,
              "images": args.images, "rows": table, "max_abs_diff_db": worst, "pass": ok,
              "times": times, "python": platform.python_version(),
              "command": "python benchmarks/evaluate_vs_cli.py " + " ".join(argv or sys.argv[1:])}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
