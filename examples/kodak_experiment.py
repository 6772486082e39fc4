"""The paper's cross-dataset experiment (its Section 4.5 / Table 4) on Kodak, end to end.

Kodak has no captions, so, as the paper does with a captioning model, every clean image is
captioned first (the built-in captioner by default, or a captions file); each image is then
compressed at QF 1 (default) with jpegtext's encoder, restored by every model of the zoo with
its caption and with an empty caption, and scored against the clean image (LPIPS, NIQE, PSNR,
SSIM, PSNR-B; FID/PI are "n/a" unless their weights are given to ``jpegtext evaluate``).

Usage::

    OMP_NUM_THREADS=2 python examples/kodak_experiment.py
        [--data ../shared/data/kodak] [--weights-dir ../shared/weights]
        [--qualities 1 5 10] [--captions FILE.jsonl | --captioner builtin]
        [--model extra.safetensors ...] [--baselines] [--limit N] [--device cpu]
        [--out runs/kodak_experiment]

It prints the markdown table and writes everything ``jpegtext evaluate`` writes (per-image
JSONL/CSV, summary.json with the command and versions, table.md, figure_q*.png) to ``--out``;
a rerun resumes. The same run as one command::

    jpegtext evaluate ../shared/data/kodak -q 1 -m jpeg zoo zoo:nocap --captioner builtin \\
        --weights-dir ../shared/weights --out runs/kodak_experiment
"""

from __future__ import annotations

import argparse
import logging
import os
import shlex
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("JPEGTEXT_SHARED", REPO.parent / "shared"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=SHARED / "data" / "kodak")
    parser.add_argument(
        "--weights-dir",
        type=Path,
        default=SHARED / "weights",
        help="lpips/, niqe/ (and arcnn/, dncnn/ for --baselines) inside",
    )
    parser.add_argument("--qualities", type=int, nargs="+", default=[1])
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--captions", type=Path, help="JSONL {image, caption} per Kodak file")
    source.add_argument("--captioner", default=None, help="captioner name [default: builtin]")
    parser.add_argument(
        "--model",
        action="append",
        default=[],
        help="extra .safetensors model (repeatable), evaluated with and without caption",
    )
    parser.add_argument("--baselines", action="store_true", help="add arcnn and dncnn3")
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--device", default=None)
    parser.add_argument("--figure-images", type=int, default=3)
    parser.add_argument("--out", type=Path, default=REPO / "runs" / "kodak_experiment")
    args = parser.parse_args(argv)
    from jpegtext.restore.runtime.zoo import use_checkout_weights

    use_checkout_weights()  # models not in the package, by name from examples/weights/
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")

    from jpegtext.evaluation import EvaluationConfig, run_evaluation
    from jpegtext.restore.runtime.zoo import list_models

    if not args.data.is_dir():
        print(f"Kodak not found at {args.data} (pass --data)", file=sys.stderr)
        return 1
    methods = ["jpeg"] + (["arcnn", "dncnn3"] if args.baselines else [])
    models = [e.name for e in list_models()] + args.model
    for m in models:
        methods += [m, f"{m}:nocap"]
    if not models:
        print(
            "note: the model zoo is empty and no --model was given: only JPEG is scored",
            file=sys.stderr,
        )
    wd = args.weights_dir
    cfg = EvaluationConfig(
        dataset_dir=args.data,
        out_dir=args.out,
        qualities=tuple(args.qualities),
        methods=tuple(methods),
        limit=args.limit,
        name="kodak",
        captions_file=args.captions,
        captioner=None if args.captions else (args.captioner or "builtin"),
        device=args.device,
        lpips_trunk=wd / "lpips" / "alexnet_features_imagenet_tv.pth",
        niqe_params=wd / "niqe" / "niqe_pris_params.npz",
        arcnn_dir=wd / "arcnn" if args.baselines else None,
        dncnn3_path=wd / "dncnn" / "DnCNN3.mat" if args.baselines else None,
        figure_images=args.figure_images,
        command="python examples/kodak_experiment.py "
        + shlex.join(sys.argv[1:] if argv is None else argv),
    )

    def progress(done: int, total: int, label: str) -> None:
        print(f"\r[{done}/{total}] {label:60.60s}", end="", file=sys.stderr, flush=True)

    out = run_evaluation(cfg, progress=progress)
    print(file=sys.stderr)
    print(out.markdown)
    print(f"outputs in {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
