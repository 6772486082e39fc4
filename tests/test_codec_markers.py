"""The stdlib marker walker: segment listing, header parsing, and hostile input."""

from __future__ import annotations

import io
import time

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from jpegtext.codec.markers import (
    COM,
    SOS,
    Segment,
    parse_dqt,
    parse_frame,
    parse_jpeg,
    segment_bytes,
    walk_segments,
)
from jpegtext.errors import InvalidJpegError


def _jpeg(width: int = 96, height: int = 64, mode: str = "RGB", **save: object) -> bytes:
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:height, 0:width]
    base = np.stack([xx * 255 // width, yy * 255 // height, (xx + yy) % 256], axis=-1)
    noisy = np.clip(base + rng.normal(0, 12, base.shape), 0, 255).astype(np.uint8)
    im = Image.fromarray(noisy).convert(mode)
    buf = io.BytesIO()
    im.save(buf, "JPEG", **{"quality": 75, **save})
    return buf.getvalue()


def test_walker_lists_pillow_segments_in_order():
    data = _jpeg(comment=b"hello", exif=Image.Exif().tobytes())
    segs = walk_segments(data)
    names = [s.name for s in segs]
    assert names[0] == "APP0" and names[-1] == "SOS"
    assert "APP1" in names and "COM" in names and "DQT" in names and "SOF0" in names
    assert segs[0].offset == 2
    for a, b in zip(segs, segs[1:], strict=False):
        assert a.end == b.offset  # Pillow writes no fill bytes
    com = next(s for s in segs if s.marker == COM)
    assert com.data == b"hello" and com.length == 7 and com.size == 9
    assert data[com.offset : com.end] == segment_bytes(COM, b"hello")


def test_fill_bytes_before_markers_are_skipped():
    data = _jpeg()
    segs = walk_segments(data)
    dqt = next(s for s in segs if s.name == "DQT")
    padded = data[: dqt.offset] + b"\xff" * 5 + data[dqt.offset :]
    segs2 = walk_segments(padded)
    assert [s.data for s in segs2] == [s.data for s in segs]
    assert [s.name for s in segs2] == [s.name for s in segs]
    assert parse_jpeg(padded).frame.width == 96


def test_frame_header_and_subsampling():
    for kwargs, expected in (
        ({"subsampling": "4:2:0"}, "4:2:0"),
        ({"subsampling": "4:4:4"}, "4:4:4"),
        ({"subsampling": "4:2:2"}, "4:2:2"),
    ):
        layout = parse_jpeg(_jpeg(40, 24, **kwargs))
        assert (layout.frame.width, layout.frame.height) == (40, 24)
        assert layout.frame.subsampling == expected
        assert layout.frame.precision == 8 and not layout.frame.progressive
    gray = parse_jpeg(_jpeg(17, 9, mode="L"))
    assert gray.frame.subsampling == "gray" and len(gray.frame.components) == 1
    assert parse_jpeg(_jpeg(progressive=True)).frame.progressive


def test_dqt_tables_8_and_16_bit():
    layout = parse_jpeg(_jpeg(quality=1))
    assert set(layout.qtables) == {0, 1}
    assert layout.qtables[0] == (255,) * 64  # IJG quality 1: every entry 255
    values = list(range(300, 364))
    body = bytes([0x12]) + b"".join(v.to_bytes(2, "big") for v in values)
    tables = parse_dqt(Segment(0xDB, 0, len(body) + 2, body))
    assert tables == {2: tuple(values)}


def test_scan_offset_and_eoi():
    data = _jpeg()
    layout = parse_jpeg(data)
    assert layout.segments[-1].marker == SOS
    assert layout.eoi_offset == len(data) - 2
    assert layout.size == len(data)
    assert layout.scan_offset == layout.segments[-1].end
    # Bytes after EOI (camera trailers) are allowed.
    assert parse_jpeg(data + b"trailer").eoi_offset == len(data) - 2
    # Without EOI: an error, unless asked not to require it.
    assert parse_jpeg(data[:-2], require_eoi=False).eoi_offset == -1
    with pytest.raises(InvalidJpegError, match="no end-of-image"):
        parse_jpeg(data[:-2])


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty"),
        (b"\x89PNG\r\n\x1a\n" + b"\0" * 20, "looks like PNG"),
        (b"GIF89a", "looks like GIF"),
        (b"\xff\xd8", "truncated"),
        (b"\xff\xd8\x00", "expected a marker"),
        (b"\xff\xd8\xff\xd9", "EOI"),
        (b"\xff\xd8\xff\xd8", "second SOI"),
        (b"\xff\xd8\xff\x00", "stuffed"),
        (b"\xff\xd8\xff\xe0\x00\x01", "length 1"),
        (b"\xff\xd8\xff\xe0\x00", "no length field"),
        (b"\xff\xd8\xff\xe0\xff\xff" + b"x" * 100, "declares 65535 bytes"),
        (b"\xff\xd8\xff\xfe\x00\x06abc", "declares 6 bytes"),
        (b"\xff\xd8\xff\xfe\x00\x04ab", "before the image data"),
    ],
)
def test_walker_errors(data: bytes, message: str):
    with pytest.raises(InvalidJpegError, match=message):
        walk_segments(data)


def test_structure_errors():
    data = _jpeg()
    layout = parse_jpeg(data)
    sof = next(s for s in layout.segments if s.is_sof)
    no_sof = data[: sof.offset] + data[sof.end :]
    with pytest.raises(InvalidJpegError, match="no frame header"):
        parse_jpeg(no_sof)
    two_sof = data[: sof.end] + data[sof.offset : sof.end] + data[sof.end :]
    with pytest.raises(InvalidJpegError, match="second frame header"):
        parse_jpeg(two_sof)
    zero = bytearray(data)
    zero[sof.offset + 5 : sof.offset + 7] = b"\0\0"  # height 0
    with pytest.raises(InvalidJpegError, match="empty"):
        parse_jpeg(bytes(zero))
    short_dqt = Segment(0xDB, 0, 12, b"\x00" + b"\x01" * 9)
    with pytest.raises(InvalidJpegError, match="cut short"):
        parse_dqt(short_dqt)
    with pytest.raises(InvalidJpegError, match="not a frame header"):
        parse_frame(short_dqt)


def test_ten_megabytes_of_ff_fail_fast():
    for data in (b"\xff" * 10_000_000, b"\xff\xd8" + b"\xff" * 10_000_000):
        start = time.perf_counter()
        with pytest.raises(InvalidJpegError):
            parse_jpeg(data)
        assert time.perf_counter() - start < 1.0


def test_segment_bytes_limits():
    assert segment_bytes(COM, b"") == b"\xff\xfe\x00\x02"
    assert len(segment_bytes(COM, b"x" * 65533)) == 65537
    with pytest.raises(ValueError, match="exceeds"):
        segment_bytes(COM, b"x" * 65534)
    with pytest.raises(ValueError, match="cannot carry"):
        segment_bytes(0xD8, b"")


_REAL = _jpeg(48, 32, comment=b"note")


def _mutations() -> st.SearchStrategy[bytes]:
    """Real headers with bytes overwritten, inserted or cut, plus arbitrary data after SOI."""
    header_end = parse_jpeg(_REAL).scan_offset + 40
    edit = st.tuples(
        st.integers(0, header_end), st.binary(min_size=0, max_size=8), st.integers(0, 8)
    )

    def apply(edits: list[tuple[int, bytes, int]]) -> bytes:
        data = bytearray(_REAL)
        for pos, new, cut in edits:
            data[pos : pos + cut] = new
        return bytes(data)

    return st.one_of(
        st.binary(max_size=300),
        st.binary(max_size=300).map(lambda b: b"\xff\xd8" + b),
        st.lists(edit, min_size=1, max_size=4).map(apply),
    )


@settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_mutations())
def test_fuzz_walker_raises_only_invalid_jpeg(data: bytes):
    for fn in (walk_segments, parse_jpeg):
        try:
            result = fn(data)
        except InvalidJpegError:
            continue
        # Whatever passes must be self-consistent.
        segments = result if isinstance(result, tuple) else result.segments
        assert segments[-1].marker == SOS
        assert all(s.end <= len(data) for s in segments)
