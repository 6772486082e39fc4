"""The equal-bytes evaluation: jpegtext (JPEG + caption + restoration) vs WebP and AVIF.

Usage::

    OMP_NUM_THREADS=1 python benchmarks/rate_distortion.py --dataset kodak \\
        [--qualities 1 2 3 5 7 10 15 20 30] [--methods jpeg tgjar-small-v4 webp avif arcnn]
        [--capbytes-qualities 1 5 10] [--stage all|rd|capbytes|report] [--limit N]
        [--shared ../shared] [--runs runs/rd] [--results benchmarks/results]
        [--consistency auto|full|luma|off]

Built on the evaluation harness (``jpegtext.evaluation``): every clean image is captioned by
the built-in captioner, encoded by jpegtext at each QF (optimized Huffman tables, caption in a
COM segment), and each method is scored against the clean image (PSNR RGB and Y, LPIPS, NIQE):

- ``jpeg`` and the restorers (the default model with its caption, AR-CNN, DnCNN-3, ...) on the
  jpegtext file, whose bytes include the caption;
- ``webp`` (Pillow, method 6) and ``avif`` (Pillow) at the highest quality whose file is at
  most the jpegtext file's bytes (quality 0 and flagged when even that is over);
- stage ``capbytes`` ("is the caption worth its bytes", at ``--capbytes-qualities``): the
  default model with its caption at QF q, with an empty caption at QF q, and with an empty
  caption on a file without caption re-encoded at the highest QF whose size fits the captioned
  file's bytes (``:capbytes``).

Both stages resume (``--runs``/<dataset>[_capbytes] are harness output folders). The report
stage writes ``rd_<dataset>.json`` / ``.md`` (the equal-bytes table, Bjøntegaard delta rates
against JPEG) and ``rd_<dataset>.png`` (RD curves) under ``--results``. ``--consistency`` bounds the
models' restorations by their files as ``jpegtext decode`` does (default ``auto``, decode's own
default since 2026-12-05; ``off``: the models' own output, as every run before that date, whose
work folders resume only with ``off``). With ``--limit`` the
outputs go to ``--runs``/results unless ``--results`` is given, so partial numbers never
replace real ones. Exits 0 with a message when the data or weights are absent.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time
from pathlib import Path

DATASETS = {"kodak": "data/kodak", "live1": "data/live1_color"}
DEFAULT_QUALITIES = (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 15, 20, 30)


def _parse(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dataset", choices=sorted(DATASETS), default="kodak")
    ap.add_argument("--qualities", type=int, nargs="+", default=list(DEFAULT_QUALITIES))
    ap.add_argument("--methods", nargs="+", default=None,
                    help="default: jpeg, the default model, webp, avif, arcnn, dncnn3")
    ap.add_argument("--capbytes-qualities", type=int, nargs="+", default=[1, 5, 10])
    ap.add_argument("--stage", choices=("all", "rd", "capbytes", "report"), default="all")
    ap.add_argument("--part", default=None,
                    help="run the rd stage in --runs/<dataset>+PART (e.g. a slow method at a "
                    "few QFs, run beside the main run); the report merges every part")
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--shared", type=Path, default=Path(os.environ.get("JPEGTEXT_SHARED",
                                                                       "../shared")))
    ap.add_argument("--runs", type=Path, default=Path("runs/rd"))
    ap.add_argument("--results", type=Path, default=None)
    ap.add_argument("--device", default="cpu")
    from jpegtext.receiver import CONSISTENCY, DEFAULT_CONSISTENCY

    ap.add_argument("--consistency", choices=CONSISTENCY, default=DEFAULT_CONSISTENCY,
                    help="decode's bound by the file for the models (default: decode's)")
    ap.add_argument("--no-progress", action="store_true")
    return ap.parse_args(argv)


def _progress(enabled: bool):  # type: ignore[no-untyped-def]
    last = [0.0]

    def report(done: int, total: int, label: str) -> None:
        now = time.monotonic()
        if enabled and (now - last[0] > 20 or done == total):
            last[0] = now
            print(f"  [{done}/{total}] {label}", file=sys.stderr, flush=True)

    return report


def _config(args: argparse.Namespace, out: Path, qualities: list[int], methods: list[str]):  # type: ignore[no-untyped-def]
    from jpegtext.evaluation import EvaluationConfig

    w = args.shared / "weights"
    return EvaluationConfig(
        dataset_dir=args.shared / DATASETS[args.dataset],
        out_dir=out,
        qualities=tuple(qualities),
        methods=tuple(methods),
        limit=args.limit,
        name=args.dataset,
        captioner="builtin",
        device=args.device,
        consistency=args.consistency,
        metrics=("psnr", "lpips", "niqe"),
        lpips_trunk=w / "lpips/alexnet_features_imagenet_tv.pth",
        niqe_params=w / "niqe/niqe_pris_params.npz",
        arcnn_dir=w / "arcnn",
        dncnn3_path=w / "dncnn/DnCNN3.mat",
        figure_images=0,
        command=" ".join(shlex.quote(a) for a in ["python", *sys.argv]),
    )


def _records(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()
            if line.strip()]


def _mozjpeg_records(args: argparse.Namespace, rd_dir: Path, recs: list[dict],
                     model: str) -> list[dict]:
    """The default model's results with the bytes of ``encode --mozjpeg`` files.

    mozjpeg's pass is lossless (the decoded pixels are identical, checked here for every file),
    so the restored images and their scores are the same; only the bytes change.
    """
    try:
        import mozjpeg_lossless_optimization  # noqa: F401
    except ImportError:
        return []
    import numpy as np

    from jpegtext.codec import Payload, decode_jpeg, encode_jpeg, load_image

    captions = {r["image"]: r["caption"] for r in _records(rd_dir / "captions.jsonl")}
    root = args.shared / DATASETS[args.dataset]
    out = []
    cache: dict[str, object] = {}
    for r in recs:
        if r["method"] != model:
            continue
        im = cache.get(r["image"]) or load_image(root / r["image"])
        cache = {r["image"]: im}
        payload = Payload(captions[r["image"]], None, r["quality"])
        plain = encode_jpeg(im, r["quality"], payload=payload)
        data = encode_jpeg(im, r["quality"], payload=payload, mozjpeg=True)
        assert len(plain) == r["bytes"], "the run's files are not the default encoder's"
        assert np.array_equal(np.asarray(decode_jpeg(data)), np.asarray(decode_jpeg(plain)))
        out.append({**r, "method": f"{model} (mozjpeg)", "bytes": len(data),
                    "bpp": len(data) * 8.0 / (r["width"] * r["height"])})
    return out


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    from jpegtext.restore.runtime.zoo import use_checkout_weights

    use_checkout_weights()  # models not in the package, by name from examples/weights/
    data = args.shared / DATASETS[args.dataset]
    if not data.is_dir() or not (args.shared / "weights/lpips").is_dir():
        print(f"skipped: {data} or {args.shared / 'weights'} is absent", file=sys.stderr)
        return 0
    from jpegtext.evaluation import run_evaluation
    from jpegtext.evaluation.rd import bd_rates, plot_rd, rd_markdown, rd_points
    from jpegtext.restore.runtime.zoo import DEFAULT_MODEL

    model = DEFAULT_MODEL
    methods = args.methods or ["jpeg", model, "webp", "avif", "arcnn", "dncnn3"]
    cap_methods = [model, f"{model}:nocap", f"{model}:capbytes"]
    rd_dir = args.runs / args.dataset
    run_dir = rd_dir if args.part is None else args.runs / f"{args.dataset}+{args.part}"
    cap_dir = args.runs / f"{args.dataset}_capbytes"
    results = args.results or (args.runs / "results" if args.limit else Path("benchmarks/results"))
    if args.stage in ("all", "rd"):
        print(f"rate-distortion run: {args.dataset}, QF {args.qualities}, {methods}",
              file=sys.stderr)
        run_evaluation(_config(args, run_dir, args.qualities, methods),
                       progress=_progress(not args.no_progress))
    if args.stage in ("all", "capbytes"):
        print(f"caption-bytes run: {args.dataset}, QF {args.capbytes_qualities}", file=sys.stderr)
        run_evaluation(_config(args, cap_dir, args.capbytes_qualities, cap_methods),
                       progress=_progress(not args.no_progress))

    # ------------------------------------------------------------------ report
    results.mkdir(parents=True, exist_ok=True)
    report: dict = {
        "dataset": args.dataset,
        "default_model": model,
        "consistency": args.consistency,
        "report_command": " ".join(shlex.quote(a) for a in ["python", *sys.argv]),
    }
    md: list[str] = []
    parts = [rd_dir, *sorted(args.runs.glob(f"{args.dataset}+*"))]
    # only the asked QFs: a folder can hold results of an earlier, stopped run at other QFs
    recs = [r for d in parts for r in _records(d / "results.jsonl")
            if int(r["quality"]) in args.qualities]
    if recs:
        names = [m for m in methods if any(r["method"] == m for r in recs)]
        moz = _mozjpeg_records(args, rd_dir, recs, model)
        if moz:
            recs = recs + moz
            at = names.index(model) + 1 if model in names else len(names)
            names.insert(at, moz[0]["method"])
        qs = sorted({int(r["quality"]) for r in recs})
        n_images = len({r["image"] for r in recs})
        pts = rd_points(recs, qs, names)
        bd = bd_rates(pts, "jpeg")
        bd_model = bd_rates({k: v for k, v in pts.items() if k != "jpeg"}, model)
        low = {m: {q: c for q, c in rows.items() if q <= 10} for m, rows in pts.items()}
        bd_model_low = bd_rates({k: v for k, v in low.items() if k != "jpeg"}, model)
        commands = [c["command"] for d in parts if (d / "run.json").is_file()
                    for c in json.loads((d / "run.json").read_text()).get("commands", [])]
        complete = all(c["n"] == n_images for rows in pts.values() for c in rows.values())
        report["rd"] = {
            "images": n_images,
            "qualities": qs,
            "methods": names,
            # every (method, QF) cell present has all images; which QFs each method has:
            "complete_cells": complete,
            "qualities_by_method": {m: sorted(rows) for m, rows in pts.items()},
            "points": {m: {str(q): c for q, c in rows.items()} for m, rows in pts.items()},
            "bd_rate_vs_jpeg": bd,
            f"bd_rate_vs_{model}": bd_model,
            f"bd_rate_vs_{model}_qf_1_10": bd_model_low,
            "commands": commands,
        }
        md.append(rd_markdown(pts, bd, title=f"{args.dataset}: equal bytes ({n_images} images)"))
        md.append(f"\nBD-rate against `{model}` (negative = the method needs fewer bytes than "
                  "jpegtext for the same quality):\n")
        md.append("| method | PSNR RGB | PSNR-Y | LPIPS | PSNR RGB, QF 1-10 | PSNR-Y, QF 1-10 | "
                  "LPIPS, QF 1-10 |\n|---|---|---|---|---|---|---|")
        for m, row in bd_model.items():
            both = [row, bd_model_low.get(m, {})]
            md.append(f"| {m} | " + " | ".join(
                "n/a" if r.get(k) is None else f"{r[k]:+.1f} %"
                for r in both for k in ("psnr_rgb", "psnr_y", "lpips")) + " |")
        md.append("\n(QF 1-10: the curves' points from the QF 1-10 files only, the range the "
                  "TGJAR scheme is for.)")
        plot_rd(pts, results / f"rd_{args.dataset}.png",
                title=f"{args.dataset} ({n_images} images): jpegtext vs WebP / AVIF at equal bytes",
                metrics=("psnr_rgb", "lpips", "niqe"))
    cap = [r for r in _records(cap_dir / "results.jsonl")
           if int(r["quality"]) in args.capbytes_qualities]
    if cap:
        qs = sorted({int(r["quality"]) for r in cap})
        pts = rd_points(cap, qs, cap_methods)
        report["capbytes"] = {
            "qualities": qs,
            "points": {m: {str(q): c for q, c in rows.items()} for m, rows in pts.items()},
            "images": len({r["image"] for r in cap}),
        }
        md.append(f"\n## {args.dataset}: is the caption worth its bytes\n")
        md.append("Same model; PSNR RGB / LPIPS, mean bytes; `:capbytes` = no caption, the "
                  "file re-encoded at the highest QF that fits the captioned file's bytes.\n")
        md.append("| QF | with caption | empty caption, same QF | empty caption, caption's bytes "
                  "to the image (mean QF bought, images with a higher QF) |\n|---|---|---|---|")
        for q in qs:
            row = [pts[m].get(q) for m in cap_methods]
            if any(c is None for c in row):
                continue
            higher = sum(1 for r in cap if r["method"] == cap_methods[2]
                         and r["quality"] == q and r.get("coded_quality", q) > q)
            a, b, c = row
            md.append(
                f"| {q} | {a['psnr_rgb']:.2f} / {a['lpips']:.4f} ({a['bytes']:,.0f} B) | "
                f"{b['psnr_rgb']:.2f} / {b['lpips']:.4f} ({b['bytes']:,.0f} B) | "
                f"{c['psnr_rgb']:.2f} / {c['lpips']:.4f} ({c['bytes']:,.0f} B, QF "
                f"{c['coded_quality']:.2f}, {higher} of {c['n']}) |"
            )
        run = json.loads((cap_dir / "run.json").read_text())
        report["capbytes"]["commands"] = [c["command"] for c in run.get("commands", [])]
    text = "\n".join(md) + "\n"
    (results / f"rd_{args.dataset}.md").write_text(text, encoding="utf-8")
    (results / f"rd_{args.dataset}.json").write_text(json.dumps(report, indent=2) + "\n",
                                                     encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
