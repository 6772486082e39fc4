"""Blend two restoration models of one architecture weight by weight; print the new file's hash.

    python tools/interpolate_model.py START.safetensors TUNED.safetensors 0.5 OUT.safetensors

Every floating-point tensor (generator and text encoder, buffers included) becomes
``(1 - alpha) * START + alpha * TUNED``; integer buffers are TUNED's. alpha = 0 is START, 1 is
TUNED. ``--fusion-alpha`` gives the generator's text-fusion modules (``gfm``, ``lfm``: where the
caption modulates the image features) their own alpha, the rest keeping ``alpha``: a blend by
module, which can take what fine-tuning taught the fusion further than what it moved in the trunk.
This is weight-space interpolation between a model and one fine-tuned from it
(Wortsman et al., "Robust fine-tuning of zero-shot models", 2022): it trades what the fine-tuning
taught against what it moved, with one number and no training. The two files must share their
model config, text vocabulary and text backbone; the result records both hashes and alpha.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from jpegtext.errors import WeightsError
from jpegtext.restore.runtime.modelfile import (
    LoadedModel,
    file_sha256,
    load_model_file,
    save_model_file,
)

FUSION_MODULES = ("gfm.", "lfm.")


def _blend(start: torch.nn.Module, tuned: torch.nn.Module, alpha: float,
           fusion_alpha: float | None = None) -> None:
    """Write the blend into ``tuned`` in place (``fusion_alpha`` for :data:`FUSION_MODULES`)."""
    a, b = start.state_dict(), tuned.state_dict()
    if a.keys() != b.keys() or any(a[k].shape != b[k].shape for k in a):
        raise WeightsError("the two models' tensors differ in names or shapes")
    with torch.no_grad():
        for name, t in b.items():
            if t.is_floating_point():
                fusion = fusion_alpha is not None and name.startswith(FUSION_MODULES)
                t.copy_(torch.lerp(a[name].to(t.dtype), t, fusion_alpha if fusion else alpha))


def interpolate(start_path: Path, tuned_path: Path, alpha: float,
                fusion_alpha: float | None = None) -> LoadedModel:
    """The blended model, ``alpha`` of the way from ``start_path`` to ``tuned_path``
    (``fusion_alpha`` of the way for the generator's text-fusion modules, when given)."""
    for name, value in (("alpha", alpha), ("fusion alpha", fusion_alpha)):
        if value is not None and not 0.0 <= value <= 1.0:
            raise WeightsError(f"{name} must lie in [0, 1], got {value}")
    start, tuned = load_model_file(start_path), load_model_file(tuned_path)
    if start.config.to_json() != tuned.config.to_json():
        raise WeightsError(f"{start_path} and {tuned_path} have different model configs")
    same_vocab = (start.vocab is None and tuned.vocab is None) or (
        start.vocab is not None and tuned.vocab is not None
        and start.vocab.to_json() == tuned.vocab.to_json())
    if not same_vocab:
        raise WeightsError(f"{start_path} and {tuned_path} have different text vocabularies")
    _blend(start.generator, tuned.generator, alpha, fusion_alpha)
    _blend(start.text_encoder, tuned.text_encoder, alpha)
    tuned.info = {
        "interpolated": {"start": start_path.name, "start_sha256": file_sha256(start_path),
                         "tuned": tuned_path.name, "tuned_sha256": file_sha256(tuned_path),
                         "alpha": alpha,
                         **({} if fusion_alpha is None else {"fusion_alpha": fusion_alpha})},
        "text_off": tuned.info.get("text_off", "False"),
    }
    return tuned


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("start", type=Path, help="the model fine-tuning started from (alpha = 0)")
    ap.add_argument("tuned", type=Path, help="the fine-tuned model (alpha = 1)")
    ap.add_argument("alpha", type=float, help="how far towards TUNED, in [0, 1]")
    ap.add_argument("out", type=Path)
    ap.add_argument("--fusion-alpha", type=float, default=None,
                    help="alpha for the text-fusion modules (gfm, lfm) alone; default: ALPHA")
    ap.add_argument("--force", action="store_true", help="overwrite OUT")
    args = ap.parse_args()
    try:
        m = interpolate(args.start, args.tuned, args.alpha, args.fusion_alpha)
        save_model_file(args.out, m.generator, m.text_encoder, m.config, m.vocab, m.info,
                        force=args.force)
    except (WeightsError, FileExistsError, FileNotFoundError) as exc:
        raise SystemExit(f"error: {exc}") from None
    print(f"{args.out}  sha256 {file_sha256(args.out)}")


if __name__ == "__main__":
    main()
