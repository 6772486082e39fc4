"""Image quality metrics for evaluating JPEG artifact reduction.

Full reference (numpy, no torch needed)::

    from jpegtext.metrics import psnr, ssim, psnr_b
    psnr(clean, restored, channel="y")           # uint8 (H, W, 3) arrays, dB
    ssim(clean_t, restored_t, data_range=1.0)     # or (3, H, W) tensors in [0, 1]

No reference: :func:`niqe` (pristine model from a path or ``JPEGTEXT_NIQE_PARAMS``).
Learned: :func:`load_lpips` / :class:`LPIPSMetric` (torch). Distribution level: :func:`fid`,
:func:`fid_from_features`, :func:`perceptual_index`, available only with user-supplied models.

The torch-based names are imported on first use, so ``import jpegtext.metrics`` stays light.
"""

from __future__ import annotations

import importlib
from typing import Any

from jpegtext.metrics._image import rgb_to_y, rgb_to_ycbcr, ycbcr_to_rgb
from jpegtext.metrics.full_reference import blocking_effect_factor, psnr, psnr_b, ssim
from jpegtext.metrics.niqe import ENV_NIQE_PARAMS, NIQEParams, load_niqe_params, niqe

__all__ = [
    "ENV_FID_INCEPTION",
    "ENV_LPIPS_TRUNK",
    "ENV_NIQE_PARAMS",
    "InceptionFeatures",
    "LPIPSMetric",
    "NIQEParams",
    "blocking_effect_factor",
    "fid",
    "fid_from_features",
    "frechet_distance",
    "load_lpips",
    "load_niqe_params",
    "lpips_distance",
    "niqe",
    "perceptual_index",
    "psnr",
    "psnr_b",
    "rgb_to_y",
    "rgb_to_ycbcr",
    "ssim",
    "ycbcr_to_rgb",
]

_LAZY = {
    "ENV_LPIPS_TRUNK": "jpegtext.metrics.perceptual",
    "LPIPSMetric": "jpegtext.metrics.perceptual",
    "load_lpips": "jpegtext.metrics.perceptual",
    "lpips_distance": "jpegtext.metrics.perceptual",
    "ENV_FID_INCEPTION": "jpegtext.metrics.distribution",
    "InceptionFeatures": "jpegtext.metrics.distribution",
    "fid": "jpegtext.metrics.distribution",
    "fid_from_features": "jpegtext.metrics.distribution",
    "frechet_distance": "jpegtext.metrics.distribution",
    "perceptual_index": "jpegtext.metrics.distribution",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'jpegtext.metrics' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
