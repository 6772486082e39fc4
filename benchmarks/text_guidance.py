"""Decode-time text guidance, a probe: does amplifying what the caption changes buy text control
without losing fidelity?

Classifier-free guidance carried over to TGJAR: the generator's decoder (the only part the text
enters) runs twice, with the caption and with an empty one, and the output is
``empty + s * (caption - empty)`` (s = 1: the model as it ships). For each scale the script
measures text control on flowers256 *val* (the measure of ``text_control_flowers.py``) and the
true-caption fidelity on the selection images of ``select_text_model.sh`` (flowers256 val, the
fixed seeded draw of 100, first human caption, QF 1) through ``jpegtext evaluate``.

It is not a product option: the second decoder pass costs most of a second restoration, and the
numbers say it does not pay.

    python benchmarks/text_guidance.py --model tgjar-text-v11 --scale 1 1.5 2 3
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("JPEGTEXT_SHARED", REPO.parent / "shared"))
sys.path.insert(0, str(REPO / "benchmarks"))


@contextlib.contextmanager
def guided(scale: float) -> Iterator[None]:
    """Every TGJAR generator decodes as ``empty + scale * (caption - empty)`` inside the block."""
    import torch

    from jpegtext.restore.networks.generator import TGJARGenerator

    plain = TGJARGenerator.decode

    def decode(self, inp, feat, skips, words, mask, sentence, pooled=None):  # type: ignore[no-untyped-def]
        out = plain(self, inp, feat, skips, words, mask, sentence, pooled)
        empty = mask.all(1)
        if scale == 1.0 or bool(empty.all()):
            return out
        base = plain(self, inp, feat, skips, torch.zeros_like(words), torch.ones_like(mask),
                     torch.zeros_like(sentence), pooled)
        return torch.where(empty[:, None, None, None], out, base + scale * (out - base))

    TGJARGenerator.decode = decode
    try:
        yield
    finally:
        TGJARGenerator.decode = plain


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="tgjar-text-v11")
    ap.add_argument("--scale", type=float, nargs="+", default=[1.0, 1.5, 2.0, 3.0])
    ap.add_argument("--work", type=Path, default=REPO / "runs" / "text_guidance")
    ap.add_argument("--out", type=Path,
                    default=REPO / "benchmarks" / "results" / "text_guidance.json")
    args = ap.parse_args(argv)
    import text_control_flowers as tc
    from click.testing import CliRunner

    from jpegtext.cli import main as cli

    root = SHARED / "data" / "flowers256"
    items = tc.checkout_items(root, 20, "val")
    if items is None:
        return 1
    work = args.work
    work.mkdir(parents=True, exist_ok=True)
    first = work / "flowers_first_caption.jsonl"
    import first_captions

    first_captions.main([str(root / "captions.jsonl"), str(first)])
    rows = []
    for scale in args.scale:
        with guided(scale):
            control = tc.measure(args.model, items, root, 1, None)
            out = work / f"s{scale:g}"
            res = CliRunner().invoke(cli, [
                "evaluate", str(root), "--manifest", "labels.jsonl", "--split", "val",
                "--limit", "100", "--qualities", "1", "--metrics", "psnr", "lpips",
                "--weights-dir", str(SHARED / "weights"), "--captions", str(first),
                "--out", str(out), "--methods", args.model, f"{args.model}:nocap"])
            if res.exit_code != 0:
                print(res.output, file=sys.stderr)
                return 1
        summary = json.loads((out / "summary.json").read_text())["results"]["1"]
        name = next(k for k in summary if k not in ("jpeg",) and not k.endswith(":nocap"))
        row = {"scale": scale, "text_control_val": control["mean_shift_region"],
               "lpips_true": summary[name]["lpips"], "psnr_true": summary[name]["psnr_rgb"],
               "lpips_empty": summary[name + ":nocap"]["lpips"],
               "psnr_empty": summary[name + ":nocap"]["psnr_rgb"]}
        rows.append(row)
        print(f"s={scale:g}: text control {row['text_control_val']:+.2f} levels; true caption "
              f"LPIPS {row['lpips_true']:.4f} PSNR {row['psnr_true']:.3f} dB (empty "
              f"{row['lpips_empty']:.4f} / {row['psnr_empty']:.3f})")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({
        "command": "python benchmarks/text_guidance.py --model " + args.model + " --scale "
                   + " ".join(f"{s:g}" for s in args.scale),
        "model": args.model, "rows": rows}, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
