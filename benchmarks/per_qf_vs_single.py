"""One model for QF 1-10 or one model per QF? A controlled comparison at equal training steps.

Trains the small config twice from the same start (stage-1 text encoder, seed, data, steps,
learning rate): once on QF 1 only (a per-QF model) and once on QF 1..10 with the quality as an
input (the single model). Both are then scored at QF 1 on flowers256 split **val** (never test:
this is a design decision, so it is taken on validation data) with the evaluation harness.

Reading the result: a per-QF model sees ten times more QF 1 samples than the single model in the
same number of steps; if the single model is still about as good at QF 1, one model serving
QF 1-10 is the better product (one file, a tenth of the training cost of ten models).

    python benchmarks/per_qf_vs_single.py --steps 1200 --threads 2

Writes ``benchmarks/results/per_qf_vs_single.json`` (+ the table on stdout).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("JPEGTEXT_SHARED", REPO.parent / "shared"))


def _train(name: str, qualities: tuple[int, ...], args: argparse.Namespace) -> Path:
    from jpegtext.restore.training.config import load_yaml_config
    from jpegtext.restore.training.train import run_training

    cfg = load_yaml_config(REPO / "examples/configs/tgjar_small_cpu.yaml")
    cfg = cfg.replace(
        data=cfg.data.replace(qualities=qualities, val_limit=10),
        damsm_checkpoint=str(args.damsm.resolve()),
        lr=args.lr,
        max_steps=args.steps,
        val_every=args.steps,
        ckpt_every=max(100, args.steps // 4),
        log_every=50,
        threads=args.threads,
        ema_decay=0.0,
        seed=args.seed,
    )
    run_dir = args.runs / name
    t0 = time.perf_counter()
    run_training(cfg, run_dir, resume=True, progress=not args.quiet)
    print(f"{name}: {args.steps} steps in {time.perf_counter() - t0:.0f} s", flush=True)
    named = args.runs / f"{name}.safetensors"  # the harness names a model file by its stem
    shutil.copyfile(run_dir / "model.safetensors", named)
    return named


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=1200)
    ap.add_argument("--lr", type=float, default=5e-4)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--quality", type=int, default=1, help="the QF both models are scored at")
    ap.add_argument("--limit", type=int, default=100, help="flowers256 val images scored")
    ap.add_argument("--damsm", type=Path, default=REPO / "examples/weights/damsm-cpu.safetensors")
    ap.add_argument("--runs", type=Path, default=REPO / "runs/per_qf_vs_single")
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks/results/per_qf_vs_single.json")
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args()

    per_qf = _train(f"q{args.quality}_only", (args.quality,), args)
    single = _train("q1_10", tuple(range(1, 11)), args)

    from jpegtext.evaluation import EvaluationConfig, run_evaluation

    weights = SHARED / "weights"
    cfg = EvaluationConfig(
        dataset_dir=SHARED / "data/flowers256",
        out_dir=args.runs / "eval",
        manifest="labels.jsonl",
        split="val",
        limit=args.limit,
        qualities=(args.quality,),
        methods=("jpeg", str(per_qf), str(single)),
        captioner="builtin",
        device="cpu",
        lpips_trunk=weights / "lpips/alexnet_features_imagenet_tv.pth",
        metrics=("psnr", "lpips"),
        figure_images=0,
    )
    res = run_evaluation(cfg)
    means = res.summary["results"][str(args.quality)]
    labels = {"jpeg": "JPEG", per_qf.stem: f"QF {args.quality} only", single.stem: "QF 1-10"}
    rows = []
    print(f"\nflowers256 val ({args.limit} images) at QF {args.quality}, {args.steps} steps each")
    print("model        PSNR dB   PSNR-Y dB   LPIPS")
    for name in res.summary["method_names"]:
        m = means[name]
        label = labels.get(name, name)
        rows.append(
            {"model": label, "psnr": m["psnr_rgb"], "psnr_y": m["psnr_y"], "lpips": m["lpips"]}
        )
        print(f"{label:<12} {m['psnr_rgb']:7.2f}   {m['psnr_y']:9.2f}   {m['lpips']:.4f}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(
            {
                "command": "python benchmarks/per_qf_vs_single.py "
                + " ".join(
                    f"--{k.replace('_', '-')} {v}"
                    for k, v in {
                        "steps": args.steps,
                        "lr": args.lr,
                        "seed": args.seed,
                        "threads": args.threads,
                        "quality": args.quality,
                        "limit": args.limit,
                    }.items()
                ),
                "data": f"flowers256 split val, first {args.limit} of the seeded subset, builtin captions",
                "machine": f"{platform.machine()}, {os.cpu_count()} cores",
                "rows": rows,
            },
            indent=2,
        )
        + "\n"
    )
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
