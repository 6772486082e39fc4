"""Input conversion and colour conventions shared by the metrics.

Every full-reference metric converts its inputs to float64 ``(H, W, C)`` arrays on a
``[0, 255]`` scale before computing anything, so that one set of constants (SSIM's C1/C2, the
PSNR peak, the BT.601 offsets) serves uint8 images, float arrays and torch tensors alike.

Luma convention: ``Y = 16 + (65.481 R + 128.553 G + 24.966 B) / 255`` for ``R, G, B`` in
``[0, 255]``, i.e. ITU-R BT.601 limited range exactly as MATLAB's ``rgb2ycbcr`` computes it for a
double image (``Y`` lies in ``[16, 235]``). This is the convention of the JPEG-artifact and
super-resolution literature (AR-CNN, DnCNN, BasicSR). MATLAB rounds ``Y`` to uint8 when its input
is uint8; jpegtext keeps ``Y`` unrounded so that float and uint8 inputs give the same number (the
difference is below 0.01 dB on natural images).
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np

from jpegtext.errors import InvalidImageError

__all__ = [
    "BT601_RGB_TO_YCBCR",
    "BT601_YCBCR_OFFSET",
    "as_float_image",
    "rgb_to_ycbcr",
    "rgb_to_y",
    "ycbcr_to_rgb",
]

# MATLAB rgb2ycbcr, for R, G, B in [0, 1] and Y, Cb, Cr on a [0, 255] scale.
BT601_RGB_TO_YCBCR = np.array(
    [
        [65.481, 128.553, 24.966],
        [-37.797, -74.203, 112.0],
        [112.0, -93.786, -18.214],
    ],
    dtype=np.float64,
)
BT601_YCBCR_OFFSET = np.array([16.0, 128.0, 128.0], dtype=np.float64)


def _is_torch_tensor(x: Any) -> bool:
    # torch is only looked up when the caller already imported it: the numpy metrics must not pay
    # torch's import time.
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(x, torch.Tensor)


def as_float_image(x: Any, *, data_range: float = 255.0, name: str = "image") -> np.ndarray:
    """Convert one image to a float64 ``(H, W, C)`` array on a ``[0, 255]`` scale.

    Args:
        x: numpy array ``(H, W)``, ``(H, W, 1)`` or ``(H, W, 3)`` (channels last), or a torch
            tensor ``(H, W)``, ``(C, H, W)`` or ``(1, C, H, W)`` (channels first) with ``C`` in
            {1, 3}. Values on the scale ``[0, data_range]``.
        data_range: the value of white in ``x``: 255 for uint8, 1.0 for ``[0, 1]`` floats.
        name: how error messages call this input.

    Returns:
        ``(H, W, C)`` float64 array, ``C`` in {1, 3}, values ``x * 255 / data_range``.

    Raises:
        InvalidImageError: wrong rank or channel count, non-finite values, values far outside
            ``[0, data_range]``, or float values that look like ``[0, 1]`` while
            ``data_range`` is 255 (the usual silent mistake: it would add ~48 dB to a PSNR).
    """
    if not data_range > 0:
        raise InvalidImageError(f"data_range must be positive, got {data_range!r}")
    if _is_torch_tensor(x):
        arr = x.detach().to("cpu").double().numpy()
        if arr.ndim == 4:
            if arr.shape[0] != 1:
                raise InvalidImageError(
                    f"{name}: expected one image, got a batch of {arr.shape[0]} "
                    f"(shape {tuple(arr.shape)}); call the metric once per image"
                )
            arr = arr[0]
        if arr.ndim == 3:
            if arr.shape[0] not in (1, 3):
                raise InvalidImageError(
                    f"{name}: torch tensors are channels-first (C, H, W) with C in {{1, 3}}, "
                    f"got shape {tuple(arr.shape)}"
                )
            arr = np.moveaxis(arr, 0, -1)
        is_float = True
    elif isinstance(x, np.ndarray):
        arr = x
        is_float = np.issubdtype(arr.dtype, np.floating)
        if not (is_float or np.issubdtype(arr.dtype, np.integer) or arr.dtype == np.bool_):
            raise InvalidImageError(f"{name}: unsupported dtype {arr.dtype}")
        arr = arr.astype(np.float64)
    else:
        raise InvalidImageError(
            f"{name}: expected a numpy array or a torch tensor, got {type(x).__name__}"
        )
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if arr.ndim != 3 or arr.shape[2] not in (1, 3):
        raise InvalidImageError(
            f"{name}: expected (H, W), (H, W, 1) or (H, W, 3), got shape {tuple(arr.shape)}"
        )
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise InvalidImageError(f"{name}: empty image of shape {tuple(arr.shape)}")
    if not np.isfinite(arr).all():
        raise InvalidImageError(f"{name}: contains NaN or infinite values")
    lo, hi = float(arr.min()), float(arr.max())
    # Restored images may overshoot a little before clipping; a large excursion is a wrong scale.
    slack = 0.05 * data_range
    if lo < -slack or hi > data_range + slack:
        raise InvalidImageError(
            f"{name}: values span [{lo:g}, {hi:g}], outside [0, {data_range:g}]; "
            "pass the right data_range (255 for uint8, 1.0 for [0, 1] floats)"
        )
    if is_float and data_range > 1.0 and hi <= 1.0 and hi > 0.0:
        raise InvalidImageError(
            f"{name}: float values in [0, 1] with data_range={data_range:g}; "
            "pass data_range=1.0 for [0, 1] images"
        )
    return arr * (255.0 / data_range)


def rgb_to_ycbcr(rgb: np.ndarray) -> np.ndarray:
    """BT.601 limited-range YCbCr of an RGB image (MATLAB ``rgb2ycbcr`` for doubles).

    Args:
        rgb: ``(..., 3)`` float array on a ``[0, 255]`` scale.

    Returns:
        ``(..., 3)`` float64 array: Y in [16, 235], Cb and Cr in [16, 240], unrounded.
    """
    rgb = np.asarray(rgb, dtype=np.float64)
    return rgb @ (BT601_RGB_TO_YCBCR.T / 255.0) + BT601_YCBCR_OFFSET


def rgb_to_y(rgb: np.ndarray) -> np.ndarray:
    """BT.601 limited-range luma (MATLAB ``rgb2ycbcr(...)(:, :, 1)`` for doubles).

    Args:
        rgb: ``(..., 3)`` float array on a ``[0, 255]`` scale.

    Returns:
        ``(...)`` float64 array in [16, 235], unrounded.
    """
    rgb = np.asarray(rgb, dtype=np.float64)
    return rgb @ (BT601_RGB_TO_YCBCR[0] / 255.0) + BT601_YCBCR_OFFSET[0]


def ycbcr_to_rgb(ycbcr: np.ndarray) -> np.ndarray:
    """Inverse of :func:`rgb_to_ycbcr` (MATLAB ``ycbcr2rgb`` for doubles), unclipped.

    Args:
        ycbcr: ``(..., 3)`` float array, BT.601 limited range on a ``[0, 255]`` scale.

    Returns:
        ``(..., 3)`` float64 RGB on a ``[0, 255]`` scale (may leave the range; clip yourself).
    """
    ycbcr = np.asarray(ycbcr, dtype=np.float64)
    inv = np.linalg.inv(BT601_RGB_TO_YCBCR / 255.0)
    return (ycbcr - BT601_YCBCR_OFFSET) @ inv.T
