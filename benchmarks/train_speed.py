"""Stage-2 training speed: steps/s of the real trainer for the small and base configs.

A full TGJAR step (generator forward/backward with L1 + contrastive LPIPS + GAN + DAMSM, then
the discriminator step) on synthetic 256x256 images written to a temp folder, so disk and JPEG
decoding of a real dataset do not blur the number. Reports the median over the timed steps.

    python benchmarks/train_speed.py                         # CPU, both configs, crops 128 + 256
    python benchmarks/train_speed.py --device cuda --crops 256 --batch 16
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("JPEGTEXT_SHARED", REPO.parent / "shared"))
sys.path.insert(0, str(REPO / "benchmarks"))

from decode import CONFIGS  # noqa: E402  (same generator configs as the decode benchmark)


def _dataset(root: Path, n: int = 16) -> None:
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    (root / "img").mkdir(parents=True)
    rows = []
    for i in range(n):
        base = rng.integers(0, 256, (8, 8, 3)).astype(np.uint8)
        img = Image.fromarray(base).resize((256, 256), Image.Resampling.BICUBIC)
        arr = np.clip(np.asarray(img) + rng.normal(0, 10, (256, 256, 3)), 0, 255)
        Image.fromarray(arr.astype(np.uint8)).save(root / "img" / f"{i}.png")
        rows.append({"file": f"img/{i}.png", "captions": ["green at the top, red at the bottom"]})
    (root / "m.jsonl").write_text("\n".join(json.dumps(r) for r in rows))


def _measure(config: str, crop: int, batch: int, steps: int, device: str, root: Path
             ) -> dict[str, object]:
    import torch

    from jpegtext.restore.training.config import TrainConfig
    from jpegtext.restore.training.train import Trainer

    trunk = SHARED / "weights" / "lpips" / "alexnet_features_imagenet_tv.pth"
    have_trunk = trunk.exists()
    raw = {
        "stage": "tgjar",
        "model": {"generator": CONFIGS[config]},
        "image_encoder": {"feature_dim": 256, "input_size": 128},
        "loss": {"damsm_weight": 0.0, "contrastive_weight": 0.01 if have_trunk else 0.0},
        "data": {"sources": [{"root": str(root), "manifest": "m.jsonl", "caption": "manifest"}],
                 "crop": crop, "scale_min": 1.0},
        "batch_size": batch, "epochs": 1000, "log_every": 1, "val_every": 10**9,
        "ckpt_every": 10**9, "workers": 0,
        "lpips_trunk": str(trunk) if have_trunk else None,
    }
    trainer = Trainer(TrainConfig.from_dict(raw), root / f"run_{config}_{crop}", device=device,
                      progress=False)
    from torch.utils.data import DataLoader

    from jpegtext.restore.training.data import collate

    loader = DataLoader(trainer.train_set, batch_size=batch, collate_fn=collate)
    batch_data = next(iter(loader))
    times = []
    for i in range(steps + 2):
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        trainer._train_step(batch_data)
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        if i >= 2:  # warm-up
            times.append(time.perf_counter() - t0)
    sec = statistics.median(times)
    return {"config": config, "crop": crop, "batch": batch, "device": device,
            "threads": torch.get_num_threads(), "seconds_per_step": round(sec, 4),
            "steps_per_s": round(1 / sec, 3), "samples_per_s": round(batch / sec, 2),
            "contrastive_lpips": have_trunk,
            "params_g": sum(p.numel() for p in trainer.generator.parameters())}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--configs", nargs="+", default=list(CONFIGS), choices=list(CONFIGS))
    ap.add_argument("--crops", nargs="+", type=int, default=[128, 256])
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks/results/train_speed.json")
    args = ap.parse_args()
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        _dataset(root)
        for config in args.configs:
            for crop in args.crops:
                row = _measure(config, crop, args.batch, args.steps, args.device, root)
                rows.append(row)
                print(f"{config:6s} crop {crop:4d} batch {args.batch} {args.device:5s} "
                      f"threads {row['threads']}: {row['seconds_per_step']:.3f} s/step "
                      f"({row['steps_per_s']:.2f} steps/s)", flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"machine": platform.platform(), "cpu_count": os.cpu_count(),
                                    "rows": rows}, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
