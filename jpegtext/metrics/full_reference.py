"""Full-reference fidelity metrics: PSNR, SSIM and PSNR-B.

Conventions (the same for the three functions):

- ``a`` is the reference (clean) image, ``b`` the image under test. Both are numpy arrays
  ``(H, W)`` / ``(H, W, 3)`` or torch tensors ``(C, H, W)`` / ``(1, C, H, W)`` of the same size,
  with values on ``[0, data_range]`` (255 for uint8, pass ``data_range=1.0`` for ``[0, 1]``
  tensors). Everything is computed in float64 on a ``[0, 255]`` scale.
- ``channel="rgb"``: all three channels. PSNR uses one MSE over every pixel and channel; SSIM
  and PSNR-B are computed per channel and averaged. ``channel="y"``: the BT.601 limited-range
  luma of MATLAB's ``rgb2ycbcr`` (see :mod:`jpegtext.metrics._image`), unrounded. Single-channel
  inputs are used as they are whatever ``channel`` says.
- ``crop_border`` pixels are removed from each side before computing (the SR convention).
- PSNR of identical images is ``inf``.
"""

from __future__ import annotations

import math
from typing import Any, Literal

import numpy as np
from scipy import ndimage

from jpegtext.errors import InvalidImageError
from jpegtext.metrics._image import as_float_image, rgb_to_y

__all__ = ["blocking_effect_factor", "psnr", "psnr_b", "ssim"]

Channel = Literal["rgb", "y"]

_PEAK = 255.0


def _prepare(
    a: Any, b: Any, channel: str, crop_border: int, data_range: float
) -> tuple[np.ndarray, np.ndarray]:
    """Both images as float64 (H, W, C) on [0, 255], in the requested channel, cropped."""
    if channel not in ("rgb", "y"):
        raise InvalidImageError(f'channel must be "rgb" or "y", got {channel!r}')
    if not isinstance(crop_border, int | np.integer) or crop_border < 0:
        raise InvalidImageError(f"crop_border must be an integer >= 0, got {crop_border!r}")
    x = as_float_image(a, data_range=data_range, name="a (reference)")
    y = as_float_image(b, data_range=data_range, name="b (test)")
    if x.shape != y.shape:
        raise InvalidImageError(
            f"a and b must have the same shape, got {x.shape[:2] + (x.shape[2],)} "
            f"and {y.shape[:2] + (y.shape[2],)} (H, W, C)"
        )
    if channel == "y" and x.shape[2] == 3:
        x, y = rgb_to_y(x)[:, :, None], rgb_to_y(y)[:, :, None]
    if crop_border:
        h, w = x.shape[:2]
        if 2 * crop_border >= min(h, w):
            raise InvalidImageError(f"crop_border={crop_border} leaves nothing of a {h}x{w} image")
        x = x[crop_border:-crop_border, crop_border:-crop_border]
        y = y[crop_border:-crop_border, crop_border:-crop_border]
    return x, y


def _psnr_from_mse(mse: float) -> float:
    return math.inf if mse == 0 else 10.0 * math.log10(_PEAK * _PEAK / mse)


def psnr(
    a: Any,
    b: Any,
    *,
    channel: Channel = "rgb",
    crop_border: int = 0,
    data_range: float = 255.0,
) -> float:
    """Peak signal-to-noise ratio in dB, ``10 log10(255^2 / MSE)`` on a ``[0, 255]`` scale.

    Args:
        a: reference image (see the module docstring for accepted types and shapes).
        b: image under test, same shape as ``a``.
        channel: ``"rgb"`` (one MSE over all channels) or ``"y"`` (BT.601 luma).
        crop_border: pixels removed from each side first.
        data_range: value of white in the inputs (255 for uint8, 1.0 for [0, 1] floats).

    Returns:
        PSNR in dB (``inf`` when the images are identical).
    """
    x, y = _prepare(a, b, channel, crop_border, data_range)
    return _psnr_from_mse(float(np.mean((x - y) ** 2)))


def _gaussian_window_1d(size: int = 11, sigma: float = 1.5) -> np.ndarray:
    # Same normalised taps as MATLAB fspecial('gaussian', 11, 1.5), which is separable.
    r = np.arange(size, dtype=np.float64) - (size - 1) / 2.0
    g = np.exp(-(r**2) / (2.0 * sigma * sigma))
    return g / g.sum()


def _filter_valid(img: np.ndarray, window: np.ndarray) -> np.ndarray:
    """2-D separable correlation keeping only the positions where the window fits ('valid')."""
    out = ndimage.correlate1d(img, window, axis=0, mode="constant")
    out = ndimage.correlate1d(out, window, axis=1, mode="constant")
    r = (len(window) - 1) // 2
    return out[r : img.shape[0] - r, r : img.shape[1] - r]


def _ssim_channel(x: np.ndarray, y: np.ndarray) -> float:
    window = _gaussian_window_1d()
    c1 = (0.01 * _PEAK) ** 2
    c2 = (0.03 * _PEAK) ** 2
    mu_x = _filter_valid(x, window)
    mu_y = _filter_valid(y, window)
    # Population (biased) moments under the Gaussian weights, as in Wang et al.'s ssim_index.m.
    sxx = _filter_valid(x * x, window) - mu_x * mu_x
    syy = _filter_valid(y * y, window) - mu_y * mu_y
    sxy = _filter_valid(x * y, window) - mu_x * mu_y
    ssim_map = ((2 * mu_x * mu_y + c1) * (2 * sxy + c2)) / (
        (mu_x * mu_x + mu_y * mu_y + c1) * (sxx + syy + c2)
    )
    return float(ssim_map.mean())


def ssim(
    a: Any,
    b: Any,
    *,
    channel: Channel = "rgb",
    crop_border: int = 0,
    data_range: float = 255.0,
) -> float:
    """Structural similarity of Wang, Bovik, Sheikh and Simoncelli (IEEE TIP 2004).

    The reference formulation (``ssim_index.m``): 11x11 Gaussian window with sigma 1.5,
    ``K1 = 0.01``, ``K2 = 0.03``, ``L = 255``, local statistics only where the window fits
    entirely inside the image ("valid", no padding), mean of the SSIM map; no automatic
    downsampling (the later ``ssim.m`` downsamples large images; BasicSR, pyiqa and skimage with
    ``gaussian_weights=True, use_sample_covariance=False`` do not). For RGB the per-channel SSIMs
    are averaged.

    Args:
        a: reference image (see the module docstring).
        b: image under test, same shape as ``a``.
        channel: ``"rgb"`` (mean over channels) or ``"y"`` (BT.601 luma).
        crop_border: pixels removed from each side first.
        data_range: value of white in the inputs.

    Returns:
        SSIM in [-1, 1] (1 for identical images).

    Raises:
        InvalidImageError: bad inputs, or an image smaller than 11x11 after cropping.
    """
    x, y = _prepare(a, b, channel, crop_border, data_range)
    if min(x.shape[:2]) < 11:
        raise InvalidImageError(f"SSIM needs at least 11x11 pixels, got {x.shape[0]}x{x.shape[1]}")
    return float(np.mean([_ssim_channel(x[:, :, c], y[:, :, c]) for c in range(x.shape[2])]))


def blocking_effect_factor(img: np.ndarray, block_size: int = 8) -> float:
    """Blocking effect factor (BEF) of one channel, Yim and Bovik (IEEE TIP 2011), eq. 7-10.

    ``BEF = eta * (D_B - D_Bc)`` where ``D_B`` is the mean squared difference of horizontally
    or vertically adjacent pixel pairs that straddle a block boundary, ``D_Bc`` the same over all
    other adjacent pairs, and ``eta = log2(B) / log2(min(H, W))`` when ``D_B > D_Bc`` (else the
    factor is 0).

    Args:
        img: ``(H, W)`` float array on a ``[0, 255]`` scale.
        block_size: the codec's block size ``B`` (8 for JPEG).

    Returns:
        BEF >= 0, in squared grey levels (same unit as an MSE).
    """
    img = np.asarray(img, dtype=np.float64)
    if img.ndim != 2:
        raise InvalidImageError(f"blocking_effect_factor takes one channel (H, W), got {img.shape}")
    h, w = img.shape
    if min(h, w) < 2:
        raise InvalidImageError(f"PSNR-B needs at least 2x2 pixels, got {h}x{w}")
    dh = (img[:, :-1] - img[:, 1:]) ** 2  # pair (j, j+1) along each row, j = 0..W-2
    dv = (img[:-1, :] - img[1:, :]) ** 2  # pair (i, i+1) along each column
    # A pair straddles a boundary when its left/upper pixel is the last of a block.
    bh = (np.arange(w - 1) % block_size) == block_size - 1
    bv = (np.arange(h - 1) % block_size) == block_size - 1
    n_b = h * int(bh.sum()) + w * int(bv.sum())
    n_bc = h * int((~bh).sum()) + w * int((~bv).sum())
    if n_b == 0 or n_bc == 0:
        return 0.0
    d_b = (dh[:, bh].sum() + dv[bv, :].sum()) / n_b
    d_bc = (dh[:, ~bh].sum() + dv[~bv, :].sum()) / n_bc
    if d_b <= d_bc:
        return 0.0
    eta = math.log2(block_size) / math.log2(min(h, w))
    return float(eta * (d_b - d_bc))


def psnr_b(
    a: Any,
    b: Any,
    *,
    channel: Channel = "rgb",
    crop_border: int = 0,
    data_range: float = 255.0,
    block_size: int = 8,
) -> float:
    """PSNR-B of Yim and Bovik (IEEE TIP 2011): PSNR with the blocking effect factor added.

    ``PSNR-B = 10 log10(255^2 / (MSE + BEF(b)))``, where the BEF is measured on the image under
    test ``b`` only (so argument order matters). For RGB the per-channel PSNR-Bs are averaged
    (the convention of QGAC / FBCNN's evaluation code). The block grid is anchored at the
    top-left pixel after ``crop_border``, so keep ``crop_border`` a multiple of 8 (or 0).

    Args:
        a: reference image (see the module docstring).
        b: image under test, same shape as ``a``.
        channel: ``"rgb"`` or ``"y"``.
        crop_border: pixels removed from each side first.
        data_range: value of white in the inputs.
        block_size: the codec's block size (8 for JPEG).

    Returns:
        PSNR-B in dB (``inf`` for identical images without blocking).
    """
    x, y = _prepare(a, b, channel, crop_border, data_range)
    values = []
    for c in range(x.shape[2]):
        mse = float(np.mean((x[:, :, c] - y[:, :, c]) ** 2))
        values.append(_psnr_from_mse(mse + blocking_effect_factor(y[:, :, c], block_size)))
    return float(np.mean(values))
