"""QF estimation: exact for libjpeg's tables at every quality, the nearest IJG quality (within
+-2) for any other encoder's tables, unknown for CMYK."""

from __future__ import annotations

import io

import cv2
import numpy as np
import pytest
from PIL import Image

from jpegtext.codec.markers import parse_jpeg
from jpegtext.codec.quality import QualityEstimate, estimate_quality, ijg_tables

_RGB = Image.fromarray(np.random.default_rng(3).integers(0, 256, (16, 24, 3), dtype=np.uint8))


def _estimate(data: bytes) -> QualityEstimate:
    layout = parse_jpeg(data)
    return estimate_quality(layout.qtables, layout.frame)


def _pillow(im: Image.Image, **save: object) -> bytes:
    buf = io.BytesIO()
    im.save(buf, "JPEG", **save)
    return buf.getvalue()


@pytest.mark.parametrize(
    ("mode", "subsampling"), [("RGB", "4:2:0"), ("RGB", "4:4:4"), ("L", "4:2:0")]
)
def test_every_quality_is_recognised_exactly(mode: str, subsampling: str):
    im = _RGB.convert(mode)
    found = {}
    for q in range(1, 101):
        found[q] = _estimate(_pillow(im, quality=q, subsampling=subsampling)).quality
    wrong = {q: got for q, got in found.items() if got != q}
    assert wrong == {}


def test_luminance_tables_differ_for_every_quality():
    lumas = {ijg_tables(q)[0] for q in range(1, 101)}
    assert len(lumas) == 100
    assert ijg_tables(1)[0] == (255,) * 64
    assert ijg_tables(100) == ((1,) * 64, (1,) * 64)
    assert ijg_tables(50)[0][:3] == (16, 11, 12)  # annex K table in zig-zag order
    for bad in (0, 101):
        with pytest.raises(ValueError, match=f'"{bad}"'):
            ijg_tables(bad)


def test_opencv_files_are_recognised():
    bgr = np.ascontiguousarray(np.asarray(_RGB)[:, :, ::-1])
    for q in (1, 5, 10, 37, 90):
        ok, enc = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, q])
        assert ok
        assert _estimate(enc.tobytes()) == QualityEstimate(q, True, "exact")


def test_custom_tables_are_estimated():
    luma, chroma = ijg_tables(50)
    custom = [min(255, v + 1) for v in luma]  # one off from IJG quality 50
    # Pillow takes tables in natural order; any order works for "is it standard?".
    data = _pillow(_RGB, qtables=[custom, list(chroma)])
    est = _estimate(data)
    assert (est.standard_tables, est.kind) == (False, "estimated")
    assert abs(est.quality - 50) <= 2


def test_mixed_qualities_are_estimated():
    luma10 = ijg_tables(10)[0]
    chroma20 = ijg_tables(20)[1]
    est = estimate_quality({0: luma10, 1: chroma20})
    assert (est.standard_tables, est.kind) == (False, "estimated") and 10 <= est.quality <= 20
    assert estimate_quality({0: luma10, 1: ijg_tables(10)[1]}) == QualityEstimate(10, True, "exact")
    assert estimate_quality({0: luma10}) == QualityEstimate(10, True, "exact")  # grayscale
    assert estimate_quality({1: luma10}) == QualityEstimate(None, False)  # no table 0


# ---- tables that are not IJG's: the nearest IJG quality, within +-2 --------------------------

_LUMA_K1 = np.array(ijg_tables(50)[0])  # annex K table (zig-zag); IJG quality 50 = scale 100 %
_CHROMA_K2 = np.array(ijg_tables(50)[1])
# mozjpeg's default tables (jcparam.c quant table 3, N. Robidoux's, for luma and chroma alike),
# natural order
_ROBIDOUX = (
    16, 16, 16, 18, 25, 37, 56, 85,
    16, 17, 20, 27, 34, 40, 53, 75,
    16, 20, 24, 31, 43, 62, 91, 135,
    18, 27, 31, 40, 53, 74, 106, 156,
    25, 34, 43, 53, 69, 94, 131, 189,
    37, 40, 62, 74, 94, 124, 169, 238,
    56, 53, 91, 106, 131, 169, 226, 311,
    85, 75, 135, 156, 189, 238, 311, 418,
)  # fmt: skip


def _ijg_scale(quality: int) -> int:
    return 5000 // quality if quality < 50 else 200 - 2 * quality


def _scaled(base: np.ndarray, factor: float, rounding=np.rint) -> list[int]:
    return [int(v) for v in np.clip(rounding(base * factor), 1, 255)]


def test_hand_written_dqt_is_estimated():
    # A DQT written by hand (not through any encoder): IJG quality 8's tables with every step
    # nudged by -1/0/+1, spliced into a real file in place of its tables.
    rng = np.random.default_rng(0)
    luma, chroma = (np.array(t) for t in ijg_tables(8))
    luma = np.clip(luma + rng.integers(-1, 2, 64), 1, 255)
    chroma = np.clip(chroma + rng.integers(-1, 2, 64), 1, 255)
    dqt = b"\x00" + bytes(luma.tolist()) + b"\x01" + bytes(chroma.tolist())
    data = _pillow(_RGB, quality=50)
    layout = parse_jpeg(data)
    old = [seg for seg in layout.segments if seg.marker == 0xDB]
    start, end = old[0].offset, old[-1].end
    data = data[:start] + b"\xff\xdb" + (len(dqt) + 2).to_bytes(2, "big") + dqt + data[end:]
    est = _estimate(data)
    assert est.kind == "estimated" and abs(est.quality - 8) <= 2
    Image.open(io.BytesIO(data)).load()  # still a valid file


@pytest.mark.parametrize("quality", [1, 2, 3, 5, 7, 10, 15, 25, 40, 60, 75, 90])
def test_pillow_custom_qtables_of_a_scaled_family(quality: int):
    # libjpeg-turbo through Pillow's qtables=: the annex K tables scaled by the IJG factor of
    # `quality` but rounded down (another encoder's rounding), so no table is IJG's.
    factor = _ijg_scale(quality) / 100
    luma = _scaled(_LUMA_K1, factor, np.floor)
    chroma = _scaled(_CHROMA_K2, factor, np.floor)
    # Pillow wants natural order; the zig-zag order of the tables is undone for it
    from jpegtext.codec.quality import _ZIGZAG

    nat_l, nat_c = [0] * 64, [0] * 64
    for k, i in enumerate(_ZIGZAG):
        nat_l[i], nat_c[i] = luma[k], chroma[k]
    data = _pillow(_RGB, qtables=[nat_l, nat_c])
    est = _estimate(data)
    assert est.quality is not None and abs(est.quality - quality) <= 2, est


@pytest.mark.parametrize("factor", [0.3, 0.7, 1.0, 1.6, 2.5, 4.0, 9.0])
def test_base_tables_scaled_by_a_factor(factor: float):
    # Every step times `factor` (no IJG formula): the nearest IJG quality is the one whose
    # scale is nearest to the factor.
    tables = {0: _scaled(_LUMA_K1, factor), 1: _scaled(_CHROMA_K2, factor)}
    nearest = min(range(1, 100), key=lambda q: abs(np.log(_ijg_scale(q) / 100 / factor)))
    est = estimate_quality(tables)
    assert est.quality is not None and abs(est.quality - nearest) <= 2, (est, nearest)


@pytest.mark.parametrize("quality", range(1, 101))
def test_mozjpeg_like_tables(quality: int):
    # mozjpeg's default: Robidoux's table for both components, scaled with the IJG formula.
    from jpegtext.codec.quality import _ZIGZAG

    scale = _ijg_scale(quality)
    natural = [min(255, max(1, (b * scale + 50) // 100)) for b in _ROBIDOUX]
    table = [natural[i] for i in _ZIGZAG]
    est = estimate_quality({0: table, 1: table})
    # at QF 1-3 every step clamps to 255 (IJG quality 1's tables), at QF 100 to 1 (IJG 100's)
    assert est.kind == ("exact" if quality <= 3 or quality == 100 else "estimated")
    # measured: within +-2 of mozjpeg's own quality setting except 18-22 (+3: Robidoux's
    # table is relatively coarser at high frequencies than annex K's, and there the IJG scale
    # 5000/q moves 5 % per quality step)
    assert abs(est.quality - quality) <= (3 if 18 <= quality <= 22 else 2), est


def test_cmyk_stays_unknown():
    cmyk = _pillow(_RGB.convert("CMYK"), quality=10)
    assert _estimate(cmyk) == QualityEstimate(None, False, None)
