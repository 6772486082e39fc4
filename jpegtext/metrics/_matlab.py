"""MATLAB image functions that reference metric code depends on, reproduced in numpy.

NIQE's official release (LIVE, 2012) is MATLAB code; its numbers depend on MATLAB's
``imresize`` (bicubic with antialiasing when shrinking, mirrored borders) and ``rgb2gray``
(rounded for uint8 input). OpenCV's and PIL's resizers differ from ``imresize`` by enough to
move NIQE in the second decimal, so the MATLAB algorithm is reproduced here.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["imresize", "rgb2gray"]

# First row of inv([1 0.956 0.621; 1 -0.272 -0.647; 1 -1.106 1.703]) (MATLAB rgb2gray).
RGB2GRAY = np.array([0.298936021293775, 0.587043074451121, 0.114020904255103])


def rgb2gray(rgb: np.ndarray, *, round_to_uint8: bool) -> np.ndarray:
    """MATLAB ``rgb2gray``.

    Args:
        rgb: ``(H, W, 3)`` array on a ``[0, 255]`` scale.
        round_to_uint8: round half away from zero and clip to [0, 255], as MATLAB does for uint8
            input; ``False`` keeps the float result, as MATLAB does for double input.

    Returns:
        ``(H, W)`` float64 array.
    """
    gray = np.asarray(rgb, dtype=np.float64) @ RGB2GRAY
    if round_to_uint8:
        gray = np.clip(np.floor(gray + 0.5), 0.0, 255.0)
    return gray


def _cubic(x: np.ndarray) -> np.ndarray:
    # Keys' cubic convolution kernel with a = -0.5, as in MATLAB's imresize.
    ax = np.abs(x)
    ax2, ax3 = ax * ax, ax * ax * ax
    return (1.5 * ax3 - 2.5 * ax2 + 1.0) * (ax <= 1) + (-0.5 * ax3 + 2.5 * ax2 - 4.0 * ax + 2.0) * (
        (ax > 1) & (ax <= 2)
    )


def _contributions(
    in_len: int, out_len: int, scale: float, antialias: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Weights (out_len, P) and 0-based source indices (out_len, P) along one axis."""
    kernel_width = 4.0
    if scale < 1 and antialias:
        # Widen the kernel to low-pass before decimating.
        def kernel(v: np.ndarray) -> np.ndarray:
            return scale * _cubic(scale * v)

        kernel_width = kernel_width / scale
    else:
        kernel = _cubic
    x = np.arange(1, out_len + 1, dtype=np.float64)
    u = x / scale + 0.5 * (1.0 - 1.0 / scale)  # output pixel centre in input coordinates
    left = np.floor(u - kernel_width / 2.0)
    taps = int(math.ceil(kernel_width)) + 2
    indices = left[:, None] + np.arange(taps, dtype=np.float64)[None, :]  # 1-based
    weights = kernel(u[:, None] - indices)
    weights = weights / weights.sum(axis=1, keepdims=True)
    # Mirror out-of-range indices (MATLAB's symmetric boundary handling).
    mirror = np.concatenate([np.arange(in_len), np.arange(in_len - 1, -1, -1)])
    indices = mirror[np.mod(indices.astype(np.int64) - 1, 2 * in_len)]
    keep = np.any(weights != 0, axis=0)
    return weights[:, keep], indices[:, keep]


def _resize_axis(img: np.ndarray, axis: int, out_len: int, scale: float) -> np.ndarray:
    weights, indices = _contributions(img.shape[axis], out_len, scale, antialias=True)
    moved = np.moveaxis(img, axis, 0)
    gathered = moved[indices]  # (out_len, P, ...)
    w = weights.reshape(weights.shape + (1,) * (moved.ndim - 1))
    return np.moveaxis((gathered * w).sum(axis=1), 0, axis)


def imresize(img: np.ndarray, scale: float) -> np.ndarray:
    """MATLAB ``imresize(img, scale)`` with its defaults (bicubic, antialiasing) for doubles.

    Args:
        img: ``(H, W)`` or ``(H, W, C)`` float array (any range; no rounding or clipping).
        scale: the same factor for both axes, e.g. 0.5.

    Returns:
        float64 array of size ``ceil(H * scale) x ceil(W * scale)``.
    """
    img = np.asarray(img, dtype=np.float64)
    out_h = int(math.ceil(img.shape[0] * scale))
    out_w = int(math.ceil(img.shape[1] * scale))
    # MATLAB resizes the dimension with the smaller scale first; with equal scales, rows first.
    out = _resize_axis(img, 0, out_h, scale)
    return _resize_axis(out, 1, out_w, scale)
