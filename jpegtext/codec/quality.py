"""JPEG quality factor (QF) estimation from the quantisation tables.

libjpeg (and so Pillow, OpenCV and most tools built on it) derives its tables from the two
example tables of ITU-T T.81 annex K, scaled by the IJG quality formula and clamped to 1..255
(baseline). Every quality 1..100 gives a different luminance table, so a file whose tables match
one of them was written at exactly that quality ("exact"). Other encoders (mozjpeg, cameras,
Photoshop, hand-written DQTs) use their own tables: for those the nearest IJG quality is fitted by
least squares on the log steps of every table in use ("estimated"); a log step is how a table's
coarseness is felt, so a table twice as coarse everywhere is one quality scale away whatever its
shape. CMYK/YCCK files (four components) stay unknown: libjpeg's tables say nothing of them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

import numpy as np

from jpegtext.codec.markers import FrameHeader

__all__ = ["QualityEstimate", "QualityKind", "estimate_quality", "ijg_tables"]

#: How a quality was found: equal to libjpeg's tables, or fitted to other tables.
QualityKind = Literal["exact", "estimated"]

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
        quality: the IJG quality 1..100 (exact, or the nearest fitted one), or None when unknown
            (CMYK, no luminance table).
        standard_tables: whether the tables are the scaled annex K tables of some quality.
        kind: ``"exact"`` (the tables are libjpeg's at ``quality``), ``"estimated"`` (the nearest
            IJG quality to other tables) or None (unknown).
    """

    quality: int | None
    standard_tables: bool
    kind: QualityKind | None = None


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


@lru_cache(maxsize=1)
def _log_tables() -> tuple[np.ndarray, np.ndarray]:
    """(100, 64) log steps of libjpeg's luminance and chrominance tables at qualities 1..100."""
    tables = _all_tables()
    luma = np.log(np.array([tables[q][0] for q in range(1, 101)], dtype=np.float64))
    chroma = np.log(np.array([tables[q][1] for q in range(1, 101)], dtype=np.float64))
    return luma, chroma


def _fit_quality(luma: Sequence[int], chromas: Sequence[Sequence[int]]) -> int:
    """The IJG quality whose tables are nearest to the given ones in log steps (least squares).

    Steps are clamped to 1..255 first, as a baseline encoder would store them, so a 16-bit table
    coarser than any IJG table gives quality 1 rather than an error. Ties go to the lower quality.
    """
    ref_luma, ref_chroma = _log_tables()

    def logs(table: Sequence[int]) -> np.ndarray:
        return np.log(np.clip(np.asarray(table, dtype=np.float64), 1, 255))

    cost = ((ref_luma - logs(luma)) ** 2).sum(axis=1)
    for table in chromas:
        cost += ((ref_chroma - logs(table)) ** 2).sum(axis=1)
    return int(np.argmin(cost)) + 1


def estimate_quality(
    qtables: Mapping[int, Sequence[int]], frame: FrameHeader | None = None
) -> QualityEstimate:
    """The IJG quality of a file from its quantisation tables: exact, else the nearest one.

    Args:
        qtables: tables by id, 64 values each in zig-zag (file) order, as returned by
            :func:`jpegtext.codec.markers.parse_dqt`.
        frame: the frame header; its components say which table the luminance (first
            component) and chrominance (second and third) use. Without it, table 0 is taken as
            luminance and table 1 (if present) as chrominance.

    Returns:
        ``QualityEstimate(q, True, "exact")`` when the luminance table and every chrominance
        table equal libjpeg's tables for quality ``q``; ``QualityEstimate(q, False,
        "estimated")`` with the least-squares nearest quality for any other tables;
        ``QualityEstimate(None, False)`` for CMYK/YCCK or without a luminance table.
    """
    if frame is not None and frame.components:
        luma_id = frame.components[0].tq
        chroma_ids = sorted({c.tq for c in frame.components[1:]})
        if len(frame.components) > 3:  # CMYK/YCCK: libjpeg's tables do not apply as such
            return QualityEstimate(None, False)
    else:
        luma_id = 0
        chroma_ids = [1] if 1 in qtables else []
    luma = qtables.get(luma_id)
    if luma is None or len(luma) != 64:
        return QualityEstimate(None, False)
    chromas = [qtables[tid] for tid in chroma_ids if len(qtables.get(tid, ())) == 64]
    quality = _luma_index().get(tuple(luma))
    if quality is not None and len(chromas) == len(chroma_ids):
        chroma_table = _all_tables()[quality][1]
        if all(tuple(t) == chroma_table for t in chromas):
            return QualityEstimate(quality, True, "exact")
    return QualityEstimate(_fit_quality(luma, chromas), False, "estimated")
