"""QF estimation: exact for libjpeg's tables at every quality, "non-standard" otherwise."""

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
        assert _estimate(enc.tobytes()) == QualityEstimate(q, True)


def test_custom_tables_are_non_standard():
    luma, chroma = ijg_tables(50)
    custom = [min(255, v + 1) for v in luma]  # one off from IJG quality 50
    # Pillow takes tables in natural order; any order works for "is it standard?".
    data = _pillow(_RGB, qtables=[custom, list(chroma)])
    assert _estimate(data) == QualityEstimate(None, False)
    flat = _pillow(_RGB, qtables=[[2] * 64, [3] * 64])
    assert _estimate(flat) == QualityEstimate(None, False)


def test_mixed_qualities_are_non_standard():
    luma10 = ijg_tables(10)[0]
    chroma20 = ijg_tables(20)[1]
    tables = {0: luma10, 1: chroma20}
    assert estimate_quality(tables) == QualityEstimate(None, False)
    assert estimate_quality({0: luma10, 1: ijg_tables(10)[1]}) == QualityEstimate(10, True)
    assert estimate_quality({0: luma10}) == QualityEstimate(10, True)  # grayscale
    assert estimate_quality({1: luma10}) == QualityEstimate(None, False)  # no table 0
