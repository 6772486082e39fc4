"""Stage-1 check: image-to-text R@1 of a DAMSM export on flowers256 *val* (never trained on).

For every val image, its caption competes with 99 captions of other val images whose text and
class differ; R@1 is how often the true caption scores highest (chance: 1%). Reports the
sentence-level (global feature . sentence) and the word-level (region-word attention) scores.
Captions: ``--captions builtin`` (the built-in captioner on the clean image) or ``human`` (the
first of the 10 human captions of Reed et al. in ``captions.jsonl``).

    python benchmarks/damsm_retrieval.py examples/weights/damsm-cpu.safetensors
    python benchmarks/damsm_retrieval.py examples/weights/damsm-minilm-cpu.safetensors \
        --captions human --out benchmarks/results/damsm_retrieval_minilm_human.json
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import torch
from torch.nn import functional as F

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("JPEGTEXT_SHARED", REPO.parent / "shared"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("damsm", type=Path)
    ap.add_argument("--data", type=Path, default=SHARED / "data" / "flowers256")
    ap.add_argument("--trunk", type=Path,
                    default=SHARED / "weights" / "lpips" / "alexnet_features_imagenet_tv.pth")
    ap.add_argument("--candidates", type=int, default=100)
    ap.add_argument("--captions", choices=["builtin", "human"], default="builtin")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks/results/damsm_retrieval.json")
    args = ap.parse_args()

    from jpegtext.restore.networks.image_encoder import load_alexnet_trunk_state
    from jpegtext.restore.networks.text import tokenize
    from jpegtext.restore.runtime.modelfile import load_damsm_file
    from jpegtext.restore.training.config import DataConfig
    from jpegtext.restore.training.data import CaptionedImageDataset, read_records
    from jpegtext.restore.training.train import retrieval_r1

    text, image, vocab, info = load_damsm_file(args.damsm, load_alexnet_trunk_state(args.trunk))
    source = {"root": str(args.data), "manifest": "labels.jsonl", "split": "val",
              "caption": "builtin"}
    if args.captions == "human":
        source.update(caption="manifest", captions="captions.jsonl")
    recs = read_records(source)
    ds = CaptionedImageDataset(recs, DataConfig(), train=False)
    items = [ds[i] for i in range(len(ds))]
    size = image.config.input_size
    imgs = torch.stack([F.interpolate(it["clean"][None], size=(size, size), mode="bilinear",
                                      align_corners=False)[0] for it in items])
    caps = [it["caption"] for it in items]
    cls = [it["class_id"] for it in items]
    lost = getattr(text, "lost_words", None)
    tokens = sum(len(tokenize(c)) for c in caps)
    oov = sum(len(lost(c)) for c in caps) / max(tokens, 1) if lost is not None else 0.0
    runs = [retrieval_r1(text, image, imgs, caps, cls, args.candidates, seed) for seed in args.seeds]
    mean = {k: sum(r[k] for r in runs) / len(runs) for k in ("r1_sentence", "r1_word")}
    result = {"damsm": str(args.damsm), "steps": info.get("steps"), "images": len(items),
              "captions": args.captions, "text_encoder": text.config.kind,
              "candidates": args.candidates, "chance": 1 / args.candidates, "oov_rate": oov,
              "per_seed": runs, **mean}
    print(f"flowers256 val, {len(items)} images, R@1 among {args.candidates} candidates "
          f"(chance {100 / args.candidates:.1f}%): sentence {100 * mean['r1_sentence']:.1f}%, "
          f"word {100 * mean['r1_word']:.1f}%  (words lost, OOV or truncated: {100 * oov:.1f}%)")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
