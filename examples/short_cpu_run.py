"""A short stage-2 run on the CPU (under 20 minutes) that shows TGJAR learning at QF 1.

Trains the small config from scratch (text encoder from the stage-1 export) on 128x128 crops
of the training sets at QF 1 only, validates on 30 flowers256 *val* images every 100 steps, and
prints the validation PSNR curve against the JPEG input's PSNR.

    python examples/short_cpu_run.py --damsm examples/weights/damsm-cpu.safetensors --minutes 15
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from jpegtext.restore.training.config import load_yaml_config
from jpegtext.restore.training.train import run_training

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--damsm", type=Path, default=REPO / "examples/weights/damsm-cpu.safetensors",
                    help="stage-1 export (jpegtext train damsm ...)")
    ap.add_argument("--minutes", type=float, default=15.0)
    ap.add_argument("--run-dir", type=Path, default=REPO / "runs/short_cpu_run")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    cfg = load_yaml_config(REPO / "examples/configs/tgjar_small_cpu.yaml")
    data = cfg.data.replace(qualities=(1,), val_limit=30)
    cfg = cfg.replace(data=data, damsm_checkpoint=str(args.damsm.resolve()), lr=5e-4,
                      max_minutes=args.minutes, val_every=100, ckpt_every=100, log_every=20,
                      threads=args.threads, ema_decay=0.0)
    run_training(cfg, args.run_dir, resume=False, progress=True)
    rows = [json.loads(x) for x in (args.run_dir / "log.jsonl").read_text().splitlines()]
    print("\nstep   val PSNR (restored)   val PSNR (JPEG QF 1)   val LPIPS (restored / JPEG)")
    for r in rows:
        if r.get("val"):
            print(f"{r['step']:5d}   {r['val_psnr']:8.3f} dB           {r['val_psnr_jpeg']:8.3f} dB"
                  f"            {r['val_lpips']:.4f} / {r['val_lpips_jpeg']:.4f}")


if __name__ == "__main__":
    main()
