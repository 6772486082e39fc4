"""The bytes-in / bytes-out API: encode, encode_detailed, read_caption, inspect."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import types
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

import jpegtext
from jpegtext.api import (
    EncodeResult,
    JpegInfo,
    encode,
    encode_detailed,
    inspect,
    read_caption,
    resolve_captioner,
)
from jpegtext.codec import embed_caption, ijg_tables
from jpegtext.codec.markers import walk_segments
from jpegtext.errors import ConfigError, InvalidImageError, PayloadError


def _photo(width: int = 64, height: int = 48) -> np.ndarray:
    yy, xx = np.mgrid[0:height, 0:width]
    return np.stack([xx * 4 % 256, yy * 5 % 256, (xx * yy) % 256], axis=-1).astype(np.uint8)


class FakeCaptioner:
    """The captioner contract: ``name`` and ``__call__(images) -> list[str]``."""

    def __init__(self, name: str = "fake", text: str = "a fake caption") -> None:
        self.name = name
        self.text = text
        self.seen: list[Image.Image] = []

    def __call__(self, images: Sequence[Image.Image]) -> list[str]:
        self.seen.extend(images)
        return [f"{self.text} {im.width}x{im.height}" for im in images]


@pytest.fixture
def fake_captioner_module(monkeypatch: pytest.MonkeyPatch) -> dict[str, FakeCaptioner]:
    """Stand-in for ``jpegtext.captioner`` (written by another engineer) with two captioners."""
    known = {"fake": FakeCaptioner("fake"), "default-one": FakeCaptioner("default-one", "dflt")}
    module = types.ModuleType("jpegtext.captioner")

    def get_captioner(name: str) -> FakeCaptioner:
        if name not in known:
            raise ConfigError(f"unknown captioner {name!r}; known: {sorted(known)}")
        return known[name]

    module.get_captioner = get_captioner  # type: ignore[attr-defined]
    module.default_captioner = lambda: known["default-one"]  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "jpegtext.captioner", module)
    return known


def test_encode_and_read_back_from_every_input_kind(tmp_path: Path):
    arr = _photo()
    path = tmp_path / "in.png"
    Image.fromarray(arr).save(path)
    for src in (arr, Image.fromarray(arr), path, str(path), path.read_bytes()):
        data = encode(src, 5, caption="a red barn beside a pond")
        assert data[:2] == b"\xff\xd8"
        assert read_caption(data) == "a red barn beside a pond"
        out = tmp_path / "out.jpg"
        out.write_bytes(data)
        assert read_caption(out) == read_caption(str(out)) == "a red barn beside a pond"
        assert inspect(out).estimated_quality == 5


def test_package_level_names_are_the_api():
    assert jpegtext.encode is encode
    assert jpegtext.read_caption is read_caption
    assert jpegtext.inspect is inspect
    assert jpegtext.JpegInfo is JpegInfo
    assert {"encode", "read_caption", "inspect", "JpegInfo"} <= set(dir(jpegtext))
    with pytest.raises(AttributeError, match="no attribute 'nonexistent'"):
        _ = jpegtext.nonexistent  # type: ignore[attr-defined]


def test_import_jpegtext_stays_light():
    code = "import sys, jpegtext; print(sorted(m for m in ('PIL', 'numpy', 'torch') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
    code = (
        "import sys, jpegtext, numpy as np; "
        "d = jpegtext.encode(np.zeros((8, 8, 3), np.uint8), caption='x'); "
        "print(jpegtext.read_caption(d), 'torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["x", "False"]


@pytest.mark.parametrize("bad", [0, 101, -1, 1.5, "5", True, None])
def test_quality_is_validated_with_the_bad_value_quoted(bad: object):
    with pytest.raises(ConfigError, match=f'"{bad!r}"|"{bad}"'):
        encode(_photo(), bad, caption="x")  # type: ignore[arg-type]


def test_subsampling_and_caption_type_are_validated():
    with pytest.raises(ConfigError, match="4:1:1"):
        encode(_photo(), 1, caption="x", subsampling="4:1:1")
    with pytest.raises(ConfigError, match="caption must be a str"):
        encode(_photo(), 1, caption=b"bytes")  # type: ignore[arg-type]
    assert inspect(encode(_photo(), 1, caption="x", subsampling="4:4:4")).subsampling == "4:4:4"


def test_given_caption_wins_over_the_captioner():
    cap = FakeCaptioner()
    result = encode_detailed(_photo(), 1, caption="given text", captioner=cap)
    assert cap.seen == []
    assert result.caption == "given text" and result.captioner is None
    assert inspect(result.data).captioner is None


def test_captioner_object_captions_the_clean_upright_image():
    arr = _photo()
    cap = FakeCaptioner("mine")
    result = encode_detailed(arr, 1, captioner=cap)
    assert isinstance(result, EncodeResult)
    assert result == EncodeResult(result.data, "a fake caption 64x48", "mine", 1)
    (seen,) = cap.seen
    assert seen.mode == "RGB" and np.array_equal(np.asarray(seen), arr)  # clean, not the JPEG
    info = inspect(result.data)
    assert (info.caption, info.captioner, info.payload_quality) == (
        "a fake caption 64x48",
        "mine",
        1,
    )


def test_captioner_by_name_and_default(fake_captioner_module: dict[str, FakeCaptioner]):
    result = encode_detailed(_photo(), 10, captioner="fake")
    assert result.captioner == "fake" and result.caption == "a fake caption 64x48"
    result = encode_detailed(_photo(), 10)
    assert result.captioner == "default-one" and result.caption == "dflt 64x48"
    assert read_caption(result.data) == "dflt 64x48"
    with pytest.raises(ConfigError, match="unknown captioner 'nope'"):
        encode(_photo(), 10, captioner="nope")
    assert resolve_captioner(None) is fake_captioner_module["default-one"]


def test_captioner_contract_violations():
    with pytest.raises(ConfigError, match="captioner must be"):
        encode(_photo(), 1, captioner=object())  # type: ignore[arg-type]

    class Bad(FakeCaptioner):
        def __call__(self, images):  # type: ignore[override]
            return "not a list"

    with pytest.raises(TypeError, match="list of one str"):
        encode(_photo(), 1, captioner=Bad("bad"))


def test_payload_errors_surface():
    with pytest.raises(PayloadError, match="UTF-8"):
        encode(_photo(), 1, caption="bad \udc00")
    with pytest.raises(PayloadError, match="XMP"):
        encode(_photo(), 1, caption="nul \x00", xmp=True)
    assert read_caption(encode(_photo(), 1, caption="nul \x00")) == "nul \x00"


def test_inspect_sizes_add_up():
    caption = "a red barn beside a pond under a blue sky"
    data = encode(_photo(), 1, caption=caption)
    info = inspect(data)
    payload_len = len(
        b'JPEGTEXT\x00{"v":2,"caption":"' + caption.encode() + b'","captioner":null,"q":1,"h":""}'
    ) + 16
    assert info.caption_bytes == payload_len + 4
    assert info.total_bytes == len(data) == info.image_bytes + info.caption_bytes
    assert info.caption_share == pytest.approx(info.caption_bytes / len(data))
    assert (info.width, info.height, info.payload_segments) == (64, 48, 1)
    assert info.standard_tables and info.quality == 1 and not info.quality_mismatch
    assert info.caption_source == "com"
    with_xmp = inspect(encode(_photo(), 1, caption=caption, xmp=True))
    xmp_seg = next(s for s in walk_segments(encode(_photo(), 1, caption=caption, xmp=True))
                   if s.marker == 0xE1)  # fmt: skip
    assert with_xmp.caption_bytes == info.caption_bytes + xmp_seg.size
    empty = inspect(encode(_photo(), 1, caption=""))
    assert empty.caption == "" and empty.caption_source == "com"


def test_inspect_to_dict_is_json():
    info = inspect(encode(_photo(), 3, caption="x", captioner=None))
    d = json.loads(json.dumps(info.to_dict()))
    assert d["caption"] == "x" and d["quality"] == 3 and d["estimated_quality"] == 3
    assert d["caption_share"] == pytest.approx(info.caption_share)
    assert set(d) >= {"caption", "captioner", "payload_quality", "standard_tables",
                      "quality_mismatch", "width", "height", "total_bytes", "caption_bytes",
                      "image_bytes", "caption_share"}  # fmt: skip


def test_quality_mismatch_after_re_encoding():
    data = encode(_photo(), 5, caption="stored at 5")
    # Pillow re-saves the (last) comment by default: the caption survives, the QF does not.
    im = Image.open(io.BytesIO(data))
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=30)
    info = inspect(buf.getvalue())
    assert info.caption == "stored at 5"
    assert (info.payload_quality, info.estimated_quality, info.quality_mismatch) == (5, 30, True)
    custom = io.BytesIO()
    im.save(custom, "JPEG", qtables=[[3] * 64, [4] * 64])
    info = inspect(custom.getvalue())
    # other tables: the nearest IJG quality, estimated (flat steps of 3-4 are near QF 98)
    assert not info.standard_tables and info.quality_kind == "estimated"
    assert info.estimated_quality == info.quality and 96 <= info.quality <= 100
    assert info.quality_mismatch
    # CMYK: the tables say nothing, the payload's record is the quality
    cmyk = io.BytesIO()
    im.convert("CMYK").save(cmyk, "JPEG", quality=30)
    info = inspect(embed_caption(cmyk.getvalue(), "stored at 5", quality=5))
    assert (info.estimated_quality, info.quality_kind, info.quality) == (None, None, 5)
    assert info.quality_mismatch


def test_file_without_caption():
    buf = io.BytesIO()
    Image.fromarray(_photo()).save(buf, "JPEG", quality=10)
    info = inspect(buf.getvalue())
    assert (info.caption, info.caption_bytes, info.caption_source) == (None, 0, None)
    assert read_caption(buf.getvalue()) is None
    assert info.quality == 10 and not info.quality_mismatch
    assert ijg_tables(10)  # sanity: tables exist for the estimate


def test_bad_sources():
    with pytest.raises(ConfigError, match="as bytes or a path"):
        read_caption(12)  # type: ignore[arg-type]
    with pytest.raises(FileNotFoundError):
        inspect("/nonexistent.jpg")
    with pytest.raises(InvalidImageError):
        encode(b"not an image", 1, caption="x")


def test_max_pixels_reaches_the_loader():
    buf = io.BytesIO()
    Image.fromarray(_photo()).save(buf, "PNG")
    with pytest.raises(InvalidImageError, match="limit of 10 "):
        encode(buf.getvalue(), 1, caption="x", max_pixels=10)
    assert encode(buf.getvalue(), 1, caption="x", max_pixels=64 * 48)


@pytest.mark.parametrize("bad", ["100", 100.0, True, 0, -5, [100]])
def test_max_pixels_must_be_an_integer_of_at_least_one(bad: object, tmp_path: Path):
    buf = io.BytesIO()
    Image.fromarray(_photo()).save(buf, "PNG")
    path = tmp_path / "in.png"
    path.write_bytes(buf.getvalue())
    data = encode(_photo(), 5, caption="x")
    with pytest.raises(ConfigError, match="Invalid max_pixels"):
        encode(str(path), 5, caption="x", max_pixels=bad)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="Invalid max_pixels"):
        encode(_photo(), 5, caption="x", max_pixels=bad)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="Invalid max_pixels"):
        inspect(data, max_pixels=bad)  # type: ignore[arg-type]
    assert inspect(data, max_pixels=np.int64(64 * 48)).width == 64
    with pytest.raises(InvalidImageError, match="limit of 10 "):
        inspect(data, max_pixels=np.int32(10))


_TINY = np.zeros((8, 8, 3), np.uint8)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(alphabet=st.characters(exclude_categories=()), max_size=300))
def test_round_trip_through_encode(caption: str):
    try:
        data = encode(_TINY, 1, caption=caption)
    except PayloadError:
        with pytest.raises(UnicodeEncodeError):
            caption.encode("utf-8")
        return
    assert read_caption(data) == caption
    assert read_caption(embed_caption(data, caption + "!")) == caption + "!"
