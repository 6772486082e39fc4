"""Keep a restoration consistent with the JPEG file it came from (quantisation constraint).

A JPEG file does not say what the clean image was, but it bounds it: every 8x8 DCT coefficient
``c`` of every component (chroma after the encoder's downsampling) was quantised to
``k = round(c / Q)``, so the clean image's coefficient lies in ``[(k - 1/2) Q, (k + 1/2) Q]``.
The set of images meeting all these bounds is convex and contains the clean image, so the
Euclidean projection onto it (clipping each coefficient of the restoration into its interval;
the DCT is orthonormal) never moves a restoration further from the clean image in that space,
and moves it closer wherever the restoration left the set. That is what a caption that misleads
the generator does: a colour word bound to the wrong part repaints a region by more than the
file's own chroma allows (README, "Where a true caption costs"). A caption that *steers* colour
on purpose (text control) is undone to the same extent, so the projection is an option.

The coefficients ``k`` are not read from the entropy-coded data: they are recovered from the
decoded pixels (the forward DCT of the decoded planes, chroma averaged back to its coded
resolution), which is exact up to the decoder's rounding and upsampling when the quantisation
steps are large (QF 1-10: steps of 16 to 255); the intervals are widened by ``tolerance`` for
that. The decoded JPEG itself is a fixed point. Chroma corrections are made at the coded
resolution and spread to the pixels each coded sample covers, which is the exact projection for
the averaging downsampler.

``slack`` widens every interval to ``[(k - s/2) Q, (k + s/2) Q]`` (``s = 1``: exactly what the
file allows; ``chroma_slack`` for Cb and Cr alone, ``inf``: chroma left as restored). A wider set
still contains the clean image, so the projection keeps its guarantee (never further from the
clean image in DCT space) while leaving a caption more room to steer colour;
``benchmarks/consistency_slack.py`` measures the trade.
"""

from __future__ import annotations

import math

import numpy as np

from jpegtext.codec.jpegfile import JpegFile, _oriented, unoriented
from jpegtext.codec.markers import FrameHeader
from jpegtext.codec.quality import _ZIGZAG  # natural position of each zig-zag index (DQT order)

__all__ = ["UnsupportedLayout", "project_jpeg_file", "project_to_file"]

# JFIF's full-range BT.601 conversion, as libjpeg does it
_JFIF = np.array([[0.299, 0.587, 0.114],
                  [-0.168735892, -0.331264108, 0.5],
                  [0.5, -0.418687589, -0.081312411]])
_TO_YCC = _JFIF.astype(np.float32)
_FROM_YCC = np.linalg.inv(_JFIF).astype(np.float32)
_OFFSET = np.array([0.0, 128.0, 128.0], dtype=np.float32)


class UnsupportedLayout(ValueError):
    """The file's components cannot be projected (CMYK, RGB-coded, unusual sampling)."""


def _natural(table: tuple[int, ...]) -> np.ndarray:
    out = np.zeros(64, dtype=np.float32)
    out[list(_ZIGZAG)] = np.asarray(table, dtype=np.float32)
    return out.reshape(8, 8)


def _dct(plane: np.ndarray) -> np.ndarray:
    from scipy import fft

    h, w = plane.shape
    blocks = (plane - 128.0).reshape(h // 8, 8, w // 8, 8).transpose(0, 2, 1, 3)
    return fft.dctn(blocks, axes=(2, 3), norm="ortho")


def _idct(coef: np.ndarray) -> np.ndarray:
    from scipy import fft

    n, m = coef.shape[:2]
    return fft.idctn(coef, axes=(2, 3), norm="ortho").transpose(0, 2, 1, 3).reshape(
        n * 8, m * 8) + 128.0


def _factors(frame: FrameHeader) -> list[tuple[int, int]]:
    """Per component: how many pixels (rows, columns) one coded sample covers."""
    comps = frame.components
    if len(comps) not in (1, 3):
        raise UnsupportedLayout(f"{len(comps)} components (only gray and YCbCr files)")
    if len(comps) == 3 and tuple(c.id for c in comps) == (82, 71, 66):
        raise UnsupportedLayout("an RGB-coded JPEG (no YCbCr transform)")
    vmax, hmax = max(c.v for c in comps), max(c.h for c in comps)
    out = []
    for c in comps:
        if vmax % c.v or hmax % c.h or vmax // c.v > 2 or hmax // c.h > 2:
            raise UnsupportedLayout(f"sampling factors {[(c.h, c.v) for c in comps]}")
        out.append((vmax // c.v, hmax // c.h))
    return out


def project_to_file(restored: np.ndarray, decoded: np.ndarray, frame: FrameHeader,
                    qtables: dict[int, tuple[int, ...]], tolerance: float = 1.0,
                    slack: float = 1.0, chroma_slack: float | None = None) -> np.ndarray:
    """The restoration with every DCT coefficient clipped into the interval the file allows.

    Args:
        restored: (H, W, 3) uint8 RGB restoration, in the file's own orientation.
        decoded: (H, W, 3) uint8 RGB decoded JPEG, the same orientation and size.
        frame: the file's frame header (components, sampling factors, table ids).
        qtables: the file's quantisation tables (zig-zag order, as in DQT).
        tolerance: DCT units added to each side of every interval (decoder rounding).
        slack: the intervals' width in quantisation steps (1: what the file allows; more: wider;
            ``inf``: no bound).
        chroma_slack: the same for Cb and Cr (None: ``slack``).

    Returns:
        (H, W, 3) uint8 RGB.

    Raises:
        UnsupportedLayout: not a gray or YCbCr file with sampling ratios of 1 or 2.
        ValueError: a slack under 1 (that set could exclude the clean image) or NaN.
    """
    chroma_slack = slack if chroma_slack is None else chroma_slack
    for name, value in (("slack", slack), ("chroma_slack", chroma_slack)):
        if math.isnan(value) or value < 1.0:
            raise ValueError(f"{name} must be at least 1 (or inf), got {value}")
    factors = _factors(frame)
    if restored.shape != decoded.shape or restored.ndim != 3 or restored.shape[2] != 3:
        raise ValueError(f"shapes differ: {restored.shape} vs {decoded.shape}")
    h, w = restored.shape[:2]
    # float32 (a 12 MP image's planes stay a few hundred MB; DCT error ~1e-4 of a step). Each
    # bounded component is converted alone (one (H*W, 3) x (3,) product) and its correction is
    # added back in RGB (the inverse transform's column for that component): no full
    # conversion of the image, and a luma correction is the same in R, G and B.
    rest = restored.reshape(-1, 3).astype(np.float32)
    dec = decoded.reshape(-1, 3).astype(np.float32)
    out = None
    for ci, (comp, (fy, fx)) in enumerate(zip(frame.components, factors, strict=True)):
        if comp.tq not in qtables:
            raise UnsupportedLayout(f"component {comp.id} names a missing table {comp.tq}")
        width = slack if ci == 0 else chroma_slack
        if math.isinf(width):
            continue
        q = _natural(qtables[comp.tq])
        pad = ((0, (-h) % (8 * fy)), (0, (-w) % (8 * fx)))
        r = np.pad((rest @ _TO_YCC[ci] + _OFFSET[ci]).reshape(h, w), pad, mode="edge")
        d = np.pad((dec @ _TO_YCC[ci] + _OFFSET[ci]).reshape(h, w), pad, mode="edge")
        r_coded, d_coded = _coded(r, fy, fx), _coded(d, fy, fx)
        k = np.round(_dct(d_coded) / q)
        coef = _dct(r_coded)
        half = 0.5 * width * q + tolerance
        clipped = np.clip(coef, k * q - half, k * q + half)
        if np.array_equal(clipped, coef):
            continue
        delta = _idct(clipped) - r_coded
        delta = np.repeat(np.repeat(delta, fy, axis=0), fx, axis=1)[:h, :w]
        if out is None:
            out = rest.copy()
        out += delta.reshape(-1, 1) * _FROM_YCC[:, ci]  # a gray file bounds the luma only
    if out is None:  # already within every bound
        return np.array(restored, dtype=np.uint8, copy=True)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8).reshape(h, w, 3)


def _coded(plane: np.ndarray, fy: int, fx: int) -> np.ndarray:
    """The plane at its coded resolution: the mean of each ``fy`` x ``fx`` cell."""
    if fy == fx == 1:
        return plane
    h, w = plane.shape
    return plane.reshape(h // fy, fy, w // fx, fx).mean(axis=(1, 3))


def project_jpeg_file(restored: np.ndarray, file: JpegFile, tolerance: float = 1.0,
                      slack: float = 1.0, chroma_slack: float | None = None) -> np.ndarray:
    """:func:`project_to_file` for a restoration of ``file.pixels()`` (EXIF orientation applied:
    the projection runs in the file's own orientation and the result is turned back)."""
    o = file.orientation
    out = project_to_file(np.ascontiguousarray(unoriented(restored, o)),
                          np.ascontiguousarray(unoriented(file.pixels(), o)),
                          file.layout.frame, file.layout.qtables, tolerance, slack,
                          chroma_slack)
    return np.ascontiguousarray(_oriented(out, o))
