"""JPEG quality factor (QF) estimation from the quantisation tables.

libjpeg (and so Pillow, OpenCV and most tools built on it) derives its tables from the two
example tables of ITU-T T.81 annex K, scaled by the IJG quality formula and clamped to 1..255
(baseline). Every quality 1..100 gives a different luminance table, so a file whose tables match
one of them was written at exactly that quality. Other encoders (mozjpeg, cameras, Photoshop)
use their own tables: for those we say "non-standard tables" instead of guessing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

from jpegtext.codec.markers import FrameHeader

__all__ = ["QualityEstimate", "estimate_quality", "ijg_tables"]

# ITU-T T.81 annex K, tables K.1 and K.2, in natural (row-major) order.
_LUMA_BASE = (
    16, 11, 10, 16, 24, 40, 51, 61,
    12, 12, 14, 19, 26, 58, 60, 55,
    14, 13, 16, 24, 40, 57, 69, 56,
    14, 17, 22, 29, 51, 87, 80, 62,
    18, 22, 37, 56, 68, 109, 103, 77,
    24, 35, 55, 64, 81, 104, 113, 92,
    49, 64, 78, 87, 103, 121, 120, 101,
    72, 92, 95, 98, 112, 100, 103, 99,
)  # fmt: skip
_CHROMA_BASE = (
    17, 18, 24, 47, 99, 99, 99, 99,
    18, 21, 26, 66, 99, 99, 99, 99,
    24, 26, 56, 99, 99, 99, 99, 99,
    47, 66, 99, 99, 99, 99, 99, 99,
    *([99] * 32),
)  # fmt: skip

# ZIGZAG[k] = natural-order index of the k-th coefficient in zig-zag order (T.81 figure A.6).
_ZIGZAG = (
    0, 1, 8, 16, 9, 2, 3, 10,
    17, 24, 32, 25, 18, 11, 4, 5,
    12, 19, 26, 33, 40, 48, 41, 34,
    27, 20, 13, 6, 7, 14, 21, 28,
    35, 42, 49, 56, 57, 50, 43, 36,
    29, 22, 15, 23, 30, 37, 44, 51,
    58, 59, 52, 45, 38, 31, 39, 46,
    53, 60, 61, 54, 47, 55, 62, 63,
)  # fmt: skip


@dataclass(frozen=True)
class QualityEstimate:
    """Result of :func:`estimate_quality`.

    Attributes:
        quality: the exact IJG quality 1..100, or None when the tables are not IJG tables.
        standard_tables: whether the tables are the scaled annex K tables of some quality.
    """

    quality: int | None
    standard_tables: bool


def _scale(base: Sequence[int], quality: int) -> tuple[int, ...]:
    # The IJG formula (jcparam.c): percentage scaling, rounded, clamped to the baseline range.
    factor = 5000 // quality if quality < 50 else 200 - 2 * quality
    return tuple(min(255, max(1, (b * factor + 50) // 100)) for b in base)


def ijg_tables(quality: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """The (luminance, chrominance) tables libjpeg writes at ``quality``, in zig-zag order.

    Raises:
        ValueError: ``quality`` is outside 1..100.
    """
    if not 1 <= quality <= 100:
        raise ValueError(f'Invalid quality "{quality}", should be between 1 and 100')
    return _all_tables()[quality]


@lru_cache(maxsize=1)
def _all_tables() -> dict[int, tuple[tuple[int, ...], tuple[int, ...]]]:
    tables = {}
    for q in range(1, 101):
        luma, chroma = _scale(_LUMA_BASE, q), _scale(_CHROMA_BASE, q)
        tables[q] = (tuple(luma[i] for i in _ZIGZAG), tuple(chroma[i] for i in _ZIGZAG))
    return tables


@lru_cache(maxsize=1)
def _luma_index() -> dict[tuple[int, ...], int]:
    index = {luma: q for q, (luma, _) in _all_tables().items()}
    # The estimate is only exact if every quality has its own luminance table.
    assert len(index) == 100, "IJG luminance tables are not unique per quality"
    return index


def estimate_quality(
    qtables: Mapping[int, Sequence[int]], frame: FrameHeader | None = None
) -> QualityEstimate:
    """Recognise the IJG quality of a file from its quantisation tables.

    Args:
        qtables: tables by id, 64 values each in zig-zag (file) order, as returned by
            :func:`jpegtext.codec.markers.parse_dqt`.
        frame: the frame header; its components say which table the luminance (first
            component) and chrominance (second and third) use. Without it, table 0 is taken as
            luminance and table 1 (if present) as chrominance.

    Returns:
        The exact quality when the luminance table and every chrominance table equal libjpeg's
        tables for one quality; otherwise ``QualityEstimate(None, False)``.
    """
    if frame is not None and frame.components:
        luma_id = frame.components[0].tq
        chroma_ids = {c.tq for c in frame.components[1:]}
        if len(frame.components) > 3:  # CMYK/YCCK: libjpeg's tables do not apply as such
            return QualityEstimate(None, False)
    else:
        luma_id = 0
        chroma_ids = {1} if 1 in qtables else set()
    luma = qtables.get(luma_id)
    if luma is None:
        return QualityEstimate(None, False)
    quality = _luma_index().get(tuple(luma))
    if quality is None:
        return QualityEstimate(None, False)
    chroma_table = _all_tables()[quality][1]
    if any(tuple(qtables.get(tid, ())) != chroma_table for tid in chroma_ids):
        return QualityEstimate(None, False)
    return QualityEstimate(quality, True)
