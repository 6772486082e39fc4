"""Where a stage-2 step's time goes on this CPU: each part of the step timed on its own.

The small generator at the shipped fine-tuning crop (160 px, batch 4): data loading of real
flowers256 train images (read + crop, built-in captioner, the product's JPEG encoder), text
encoding (bi-LSTM; MiniLM with a cold and a warm caption cache), the generator's forward and
backward, the contrastive LPIPS term (two separate LPIPS calls vs the restored image's features
computed once), the DAMSM image encoder on the output, and the discriminator (its use in the
generator step + its own step). Medians of ``--repeats`` runs, after one warm-up; the JSON
goes to ``benchmarks/results/train_profile.json``.

    OMP_NUM_THREADS=2 python benchmarks/train_profile.py --threads 2
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("JPEGTEXT_SHARED", REPO.parent / "shared"))
sys.path.insert(0, str(REPO / "benchmarks"))

from decode import CONFIGS  # noqa: E402


def _median(fn: Callable[[], object], repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--crop", type=int, default=160)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks/results/train_profile.json")
    args = ap.parse_args()
    import torch

    from jpegtext.metrics import load_lpips
    from jpegtext.restore.networks.config import (
        DiscriminatorConfig,
        GeneratorConfig,
        ImageEncoderConfig,
        TextEncoderConfig,
    )
    from jpegtext.restore.networks.discriminator import PatchDiscriminator
    from jpegtext.restore.networks.generator import TGJARGenerator
    from jpegtext.restore.networks.image_encoder import DAMSMImageEncoder, load_alexnet_trunk_state
    from jpegtext.restore.networks.text import BiLSTMTextEncoder, MiniLMTextEncoder, Vocabulary
    from jpegtext.restore.training.config import DataConfig
    from jpegtext.restore.training.data import CaptionedImageDataset, read_records
    from jpegtext.restore.training.losses import ContrastiveLoss, GANLoss

    if args.threads:
        torch.set_num_threads(args.threads)
    trunk = SHARED / "weights" / "lpips" / "alexnet_features_imagenet_tv.pth"
    flowers = SHARED / "data" / "flowers256"
    b, c = args.batch, args.crop
    rows: dict[str, float] = {}

    # data loading, per batch
    dcfg = DataConfig(crop=c, scale_min=0.4)
    src = {"root": str(flowers), "manifest": "labels.jsonl", "split": "train"}
    for mode in ("builtin", "manifest"):
        extra = {"captions": "captions.jsonl"} if mode == "manifest" else {}
        ds = CaptionedImageDataset(read_records({**src, "caption": mode, **extra})[:64], dcfg,
                                   train=True)
        k = iter(range(10**6))
        rows[f"data_batch_{mode}_captions"] = _median(
            lambda ds=ds, k=k: [ds[next(k) % 64] for _ in range(b)], args.repeats)

    captions = ["this flower has petals that are yellow with red tips and a green centre"] * b
    vocab = Vocabulary.build(captions)
    lstm = BiLSTMTextEncoder(vocab, TextEncoderConfig()).eval()
    rows["text_bilstm"] = _median(lambda: lstm.encode(captions), args.repeats)
    mini = MiniLMTextEncoder(TextEncoderConfig(kind="minilm", proj_dim=256, max_words=32),
                             cache_size=0).eval()
    with torch.no_grad():
        rows["text_minilm_no_cache"] = _median(lambda: mini.encode(captions), args.repeats)
        warm = MiniLMTextEncoder(TextEncoderConfig(kind="minilm", proj_dim=256, max_words=32))
        warm.eval()
        rows["text_minilm_cached"] = _median(lambda: warm.encode(captions), args.repeats)

    gen = TGJARGenerator(GeneratorConfig(**CONFIGS["small"]))
    x = torch.rand(b, 3, c, c)
    clean = torch.rand(b, 3, c, c)
    q = torch.full((b,), 5)
    with torch.no_grad():
        feats = lstm.encode(captions)

    def gen_step() -> torch.Tensor:
        out = gen(x, feats.words, feats.mask, feats.sentence, q)
        (out - clean).abs().mean().backward()
        return out

    rows["generator_fwd_bwd"] = _median(gen_step, args.repeats)
    if trunk.exists():
        lpips = load_lpips(trunk_path=trunk, device="cpu")
        out = torch.rand(b, 3, c, c, requires_grad=True)

        def two_calls() -> None:
            (lpips(out, clean) / (lpips(out, x) + 0.1)).mean().backward()

        shared = ContrastiveLoss(lpips, 0.1, 1.0)
        rows["contrastive_two_lpips_calls"] = _median(two_calls, args.repeats)
        rows["contrastive_shared_features"] = _median(
            lambda: shared(out, clean, x).backward(), args.repeats)
        image = DAMSMImageEncoder(ImageEncoderConfig(feature_dim=256, input_size=128),
                                  load_alexnet_trunk_state(trunk)).eval().requires_grad_(False)
        rows["damsm_image_encoder_fwd_bwd"] = _median(
            lambda: sum(t.sum() for t in image(out)).backward(), args.repeats)
    disc = PatchDiscriminator(DiscriminatorConfig(base=32, layers=3))
    gan = GANLoss(1.0)
    out = torch.rand(b, 3, c, c, requires_grad=True)

    def disc_parts() -> None:
        gan(disc(out), True).backward()
        real, fake = disc(torch.cat([clean, out.detach()])).chunk(2)
        (gan(real, True, is_disc=True) + gan(fake, False, is_disc=True)).backward()

    rows["discriminator_g_and_d"] = _median(disc_parts, args.repeats)
    result = {"machine": platform.platform(), "cpu_count": os.cpu_count(),
              "threads": torch.get_num_threads(), "crop": c, "batch": b,
              "seconds": {k: round(v, 4) for k, v in rows.items()}}
    for k, v in rows.items():
        print(f"{k:34s} {1000 * v:8.1f} ms")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
