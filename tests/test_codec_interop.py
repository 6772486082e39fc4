"""Interoperability: what Pillow, OpenCV, exiftool and jpegtran do with jpegtext files.

These tests back the "what survives which tools" table of ``docs/payload.md``. Tests of an
external program skip with a reason when it is not on PATH (Debian packages
``libimage-exiftool-perl`` and ``libjpeg-turbo-progs``).
"""

from __future__ import annotations

import io
import json
import shutil
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from jpegtext.api import encode, inspect, read_caption
from jpegtext.codec import embed_caption
from jpegtext.codec.markers import COM, segment_bytes, walk_segments
from jpegtext.errors import PayloadError

CAPTION = 'two parrots on a branch, café 😀 שלום "quoted"'
LONG = "a very long caption " * 6000  # ~120 kB: two COM segments


def _photo() -> np.ndarray:
    yy, xx = np.mgrid[0:48, 0:64]
    return np.stack([xx * 4, yy * 5, (xx + yy) * 2], axis=-1).astype(np.uint8)


def _files() -> dict[str, bytes]:
    exif = Image.Exif()
    exif[0x010F] = "camera"
    with_exif = io.BytesIO()
    Image.fromarray(_photo()).save(with_exif, "JPEG", quality=95, exif=exif.tobytes())
    return {
        "plain": encode(_photo(), 1, caption=CAPTION),
        "xmp": encode(_photo(), 5, caption=CAPTION, xmp=True),
        "long": encode(_photo(), 10, caption=LONG),
        "exif_444": encode(with_exif.getvalue(), 90, caption=CAPTION, subsampling="4:4:4"),
        "empty_caption": encode(_photo(), 1, caption=""),
    }


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not on PATH (install the Debian package to run this test)")
    return path


@pytest.mark.parametrize("name", sorted(_files()))
def test_pillow_and_opencv_open_every_file(name: str):
    data = _files()[name]
    im = Image.open(io.BytesIO(data))
    im.load()
    assert im.size == (64, 48) and im.format == "JPEG"
    arr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert arr is not None and arr.shape == (48, 64, 3)


def test_pillow_sees_the_payload_as_its_comment():
    im = Image.open(io.BytesIO(_files()["plain"]))
    comment = im.info["comment"]
    assert comment.startswith(b"JPEGTEXT\x00{")
    assert json.loads(comment[len(b"JPEGTEXT\x00") :])["caption"] == CAPTION


def test_pillow_resave_keeps_a_single_segment_caption_and_flags_the_new_quality():
    im = Image.open(io.BytesIO(_files()["plain"]))
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=20)
    info = inspect(buf.getvalue())
    assert info.caption == CAPTION and info.quality_mismatch
    assert (info.payload_quality, info.estimated_quality) == (1, 20)


def test_pillow_resave_of_a_long_caption_is_detected_not_truncated():
    im = Image.open(io.BytesIO(_files()["long"]))
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=10)  # Pillow keeps only the last COM segment
    with pytest.raises(PayloadError, match="missing \\[1\\]"):
        read_caption(buf.getvalue())


def test_opencv_re_encode_loses_the_caption():
    arr = cv2.imdecode(np.frombuffer(_files()["plain"], np.uint8), cv2.IMREAD_COLOR)
    ok, enc = cv2.imencode(".jpg", arr, [cv2.IMWRITE_JPEG_QUALITY, 1])
    assert ok and read_caption(enc.tobytes()) is None


def _exiftool(*args: str) -> str:
    out = subprocess.run([_tool("exiftool"), *args], capture_output=True, check=True, timeout=60)
    return out.stdout.decode("utf-8")


def test_exiftool_shows_the_caption_as_comment(tmp_path: Path):
    path = tmp_path / "x.jpg"
    path.write_bytes(_files()["xmp"])
    comment = _exiftool("-b", "-Comment", str(path))
    assert comment.startswith("JPEGTEXT")
    assert f'"caption":"{CAPTION.replace(chr(34), chr(92) + chr(34))}"' in comment
    assert _exiftool("-b", "-XMP-dc:Description", str(path)) == CAPTION


def test_exiftool_edits_keep_the_payload_and_comment_overwrite_leaves_the_mirror(tmp_path: Path):
    for name in ("plain", "long", "xmp"):
        path = tmp_path / f"{name}.jpg"
        path.write_bytes(_files()[name])
        _exiftool("-q", "-overwrite_original", "-Artist=someone", str(path))
        expected = LONG if name == "long" else CAPTION
        assert read_caption(path) == expected
    path = tmp_path / "xmp.jpg"
    _exiftool("-q", "-overwrite_original", "-Comment=user note", str(path))
    info = inspect(path)
    assert (info.caption, info.caption_source) == (CAPTION, "xmp")
    _exiftool("-q", "-overwrite_original", "-all=", str(path))
    assert read_caption(path) is None


def _jpegtran(src: Path, *args: str) -> bytes:
    out = subprocess.run(
        [_tool("jpegtran"), *args, str(src)], capture_output=True, check=True, timeout=60
    )
    return out.stdout


@pytest.mark.parametrize("name", ["plain", "long", "xmp", "exif_444"])
def test_jpegtran_copy_comments_keeps_the_caption(tmp_path: Path, name: str):
    path = tmp_path / "x.jpg"
    path.write_bytes(_files()[name])
    expected = LONG if name == "long" else CAPTION
    for extra in ([], ["-optimize"], ["-progressive"]):
        out = _jpegtran(path, "-copy", "comments", *extra)
        info = inspect(out)
        assert info.caption == expected and info.caption_source == "com"
        assert not info.quality_mismatch  # lossless: same tables
    assert not any(s.marker == 0xE1 for s in walk_segments(_jpegtran(path, "-copy", "comments")))
    assert read_caption(_jpegtran(path, "-copy", "none")) is None
    assert read_caption(_jpegtran(path, "-copy", "all")) == expected


def test_foreign_comments_survive_jpegtran_and_re_embedding(tmp_path: Path):
    data = _files()["plain"]
    segs = walk_segments(data)
    ours = next(s for s in segs if s.marker == COM)
    data = (
        data[: ours.offset]
        + segment_bytes(COM, b"foreign before")
        + data[ours.offset : ours.end]
        + segment_bytes(COM, b"foreign after")
        + data[ours.end :]
    )
    path = tmp_path / "x.jpg"
    path.write_bytes(data)
    assert _exiftool("-b", "-Comment", str(path)) == "foreign before"  # exiftool shows the first
    copied = _jpegtran(path, "-copy", "comments")
    assert read_caption(copied) == CAPTION
    again = embed_caption(copied, "re-embedded")
    coms = [s.data for s in walk_segments(again) if s.marker == COM]
    assert coms[0] == b"foreign before" and coms[2] == b"foreign after"
    assert read_caption(again) == "re-embedded"
