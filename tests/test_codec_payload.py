"""Caption payload v1: exact bytes, multi-segment captions, damage detection, re-embedding."""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from PIL import Image

from jpegtext.codec.jpegfile import parse_file
from jpegtext.codec.markers import COM, MAX_SEGMENT_DATA, parse_jpeg, segment_bytes, walk_segments
from jpegtext.codec.payload import (
    MAGIC,
    MAX_CAPTION_BYTES,
    Payload,
    build_payload_data,
    embed_caption,
    find_payload,
    read_payload,
    strip_caption,
)
from jpegtext.codec.xmp import XMP_HEADER, build_xmp_mirror, parse_xmp_description
from jpegtext.errors import ConfigError, InvalidJpegError, PayloadError


def _tiny_jpeg(quality: int = 1, **save: object) -> bytes:
    im = Image.fromarray(np.arange(8 * 8 * 3, dtype=np.uint8).reshape(8, 8, 3))
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=quality, **save)
    return buf.getvalue()


TINY = _tiny_jpeg()


def _coms(data: bytes) -> list[bytes]:
    return [s.data for s in walk_segments(data) if s.marker == COM]


def _rebuild(data: bytes, keep) -> bytes:
    """``data`` with only the COM segments for which ``keep(segment)`` is true (others kept)."""
    out = bytearray(data[:2])
    segs = walk_segments(data)
    for seg in segs:
        if seg.marker != COM or keep(seg):
            out += data[seg.offset : seg.end]
    out += data[segs[-1].end :]
    return bytes(out)


def _v2(body: bytes) -> bytes:
    """Segment data of a v2 payload: ``body`` closed by its integrity member (docs/payload.md)."""
    unhashed = b"JPEGTEXT\x00" + body
    digest = hashlib.sha256(unhashed).hexdigest()[:16].encode()
    return unhashed[:-1] + b',"h":"' + digest + b'"}'


def test_single_segment_bytes_are_exactly_the_documented_format():
    datas = build_payload_data(Payload("a red barn beside a pond", "blip-base", 1))
    assert datas == [
        b'JPEGTEXT\x00{"v":2,"caption":"a red barn beside a pond","captioner":"blip-base","q":1,'
        b'"h":"36a14e82c3951536"}'
    ]
    body = b'{"v":2,"caption":"a red barn beside a pond","captioner":"blip-base","q":1}'
    assert datas == [_v2(body)]
    assert build_payload_data(Payload("é", None, None)) == [
        _v2(b'{"v":2,"caption":"\xc3\xa9","captioner":null,"q":null}')
    ]


def test_embed_then_read_round_trip_and_pixels_untouched():
    data = embed_caption(TINY, "a red barn", captioner="builtin")
    assert read_payload(data) == Payload("a red barn", "builtin", 1)  # q from the tables
    # The entropy-coded data and every other segment are byte-identical.
    assert data.endswith(TINY[parse_jpeg(TINY).scan_offset - 200 :])
    assert len(data) == len(TINY) + 4 + len(
        build_payload_data(Payload("a red barn", "builtin", 1))[0]
    )
    assert strip_caption(data) == TINY
    assert read_payload(TINY) is None


def test_long_caption_is_split_and_joined():
    caption = "".join(f"word{i} " for i in range(30000))  # ~260 kB of ASCII
    datas = build_payload_data(Payload(caption, "x", 5))
    assert len(datas) >= 4
    assert all(len(d) <= MAX_SEGMENT_DATA for d in datas)
    objs = [json.loads(d[len(MAGIC) :]) for d in datas]
    assert [o["part"] for o in objs] == list(range(1, len(datas) + 1))
    assert {o["parts"] for o in objs} == {len(datas)}
    assert {o["id"] for o in objs} == {hashlib.sha256(caption.encode()).hexdigest()[:16]}
    assert "".join(o["caption"] for o in objs) == caption
    data = embed_caption(TINY, caption, captioner="x")
    assert read_payload(data) == Payload(caption, "x", 1)
    found = find_payload(walk_segments(data))
    assert found is not None and len(found.segments) == len(datas)
    assert found.size == sum(len(d) + 4 for d in datas)
    Image.open(io.BytesIO(data)).load()  # still a valid JPEG for Pillow


@pytest.mark.parametrize("char", ["\x00", "😀", "א", '"', "\\", "\u2028"])
def test_escaping_heavy_captions_of_100k_bytes(char: str):
    n = 100_000 // len(char.encode())
    caption = char * n
    data = embed_caption(TINY, caption)
    assert read_payload(data).caption == caption
    assert all(len(d) <= MAX_SEGMENT_DATA for d in _coms(data))


def test_maximum_caption_size():
    at_limit = "a" * MAX_CAPTION_BYTES
    assert read_payload(embed_caption(TINY, at_limit)).caption == at_limit
    with pytest.raises(PayloadError, match="maximum"):
        build_payload_data(Payload("a" * (MAX_CAPTION_BYTES + 1)))


@pytest.mark.parametrize("text", ["\ud800", "ok \udfff", "\udbff\udfff"])
def test_lone_surrogates_are_refused(text: str):
    with pytest.raises(PayloadError, match="UTF-8"):
        embed_caption(TINY, text)
    with pytest.raises(PayloadError):
        build_payload_data(Payload("fine", captioner=text))


def test_bad_payload_fields_are_refused():
    with pytest.raises(PayloadError, match='"0"'):
        build_payload_data(Payload("x", quality=0))
    with pytest.raises(PayloadError, match="str"):
        build_payload_data(Payload(b"bytes"))  # type: ignore[arg-type]


def test_embed_quality_takes_numpy_integers_and_refuses_bools_and_floats():
    data = embed_caption(TINY, "y", quality=np.int64(3))
    assert read_payload(data).quality == 3 and type(read_payload(data).quality) is int
    assert embed_caption(TINY, "y", quality=np.uint8(3)) == embed_caption(TINY, "y", quality=3)
    for bad in (True, 3.0, "3"):
        with pytest.raises(ConfigError, match="should be an integer between 1 and 100"):
            embed_caption(TINY, "y", quality=bad)  # type: ignore[arg-type]
    for bad in (0, np.int64(101)):
        with pytest.raises(ConfigError, match="between 1 and 100"):
            embed_caption(TINY, "y", quality=bad)
    with pytest.raises(PayloadError, match="must be an int or None, not float"):
        build_payload_data(Payload("x", quality=3.0))  # type: ignore[arg-type]


def test_embed_and_strip_take_what_read_caption_takes(tmp_path: Path):
    data = embed_caption(TINY, "old")
    path = tmp_path / "in.jpg"
    path.write_bytes(data)
    want = embed_caption(data, "new")
    for src in (str(path), path, bytearray(data), memoryview(data), parse_file(data)):
        assert embed_caption(src, "new") == want
        assert strip_caption(src) == TINY
    assert path.read_bytes() == data  # the file is only read
    for bad in (None, 12, np.frombuffer(data, np.uint8), ["x"]):
        with pytest.raises(ConfigError, match="bytes or a path"):
            embed_caption(bad, "new")  # type: ignore[arg-type]
        with pytest.raises(ConfigError, match="bytes or a path"):
            strip_caption(bad)  # type: ignore[arg-type]
    with pytest.raises(FileNotFoundError):
        strip_caption(tmp_path / "missing.jpg")


def _multi(caption_len: int = 150_000) -> tuple[bytes, str]:
    caption = "".join(chr(0x61 + i % 26) for i in range(caption_len))
    return embed_caption(TINY, caption, captioner="c"), caption


def test_missing_piece_is_detected():
    data, _ = _multi()
    second = _coms(data)[1]
    damaged = _rebuild(data, lambda s: s.data != second)
    with pytest.raises(PayloadError, match="missing \\[2\\]"):
        read_payload(damaged)


def test_duplicated_piece_is_detected():
    data, _ = _multi()
    segs = walk_segments(data)
    first = next(s for s in segs if s.marker == COM)
    dup = data[: first.end] + data[first.offset : first.end] + data[first.end :]
    with pytest.raises(PayloadError, match="duplicated \\[1\\]"):
        read_payload(dup)


def test_reordered_pieces_still_read_correctly():
    data, caption = _multi()
    segs = [s for s in walk_segments(data) if s.marker == COM]
    a, b = segs[0], segs[1]
    swapped = data[: a.offset] + data[b.offset : b.end] + data[a.offset : a.end] + data[b.end :]
    assert read_payload(swapped).caption == caption


def _edit_piece(data: bytes, index: int, *, rehash: bool = True, **changes: object) -> bytes:
    """``data`` with piece ``index`` changed; ``rehash``: with a valid integrity hash again."""
    segs = [s for s in walk_segments(data) if s.marker == COM]
    seg = segs[index]
    obj = json.loads(seg.data[len(MAGIC) :])
    obj.pop("h")
    obj.update(changes)
    body = json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode()
    new = segment_bytes(COM, _v2(body) if rehash else MAGIC + body)
    return data[: seg.offset] + new + data[seg.end :]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"q": 7}, "'q' differs"),
        ({"captioner": "other"}, "'captioner' differs"),
        ({"parts": 9}, "'parts' differs"),
        ({"id": "0123456789abcdef"}, "'id' differs"),
        ({"caption": "tampered"}, "do not join"),
        ({"part": 0}, "invalid piece numbering"),
        ({"v": 3}, "version 3"),
    ],
)
def test_inconsistent_pieces_are_detected(changes: dict, message: str):
    data, _ = _multi()
    with pytest.raises(PayloadError, match=message):
        read_payload(_edit_piece(data, 1, **changes))
    # Without a fresh hash the piece itself is refused first.
    if "v" not in changes:
        with pytest.raises(PayloadError, match="integrity hash"):
            read_payload(_edit_piece(data, 1, rehash=False, **changes))


def test_two_payloads_are_an_error():
    one = embed_caption(TINY, "first")
    extra = segment_bytes(COM, build_payload_data(Payload("second"))[0])
    sos = walk_segments(one)[-1]
    both = one[: sos.offset] + extra + one[sos.offset :]
    with pytest.raises(PayloadError, match="2 jpegtext payloads"):
        read_payload(both)
    # Re-embedding repairs it: every old payload segment is replaced.
    fixed = embed_caption(both, "third")
    assert read_payload(fixed).caption == "third"
    assert sum(d.startswith(MAGIC) for d in _coms(fixed)) == 1


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{not json", "corrupt"),
        (b"[1, 2]", "not a JSON object"),
        (b'{"v":1}', "no caption"),
        (b'{"v":1,"caption":"x","q":"5"}', "quality"),
        (b'{"v":1,"caption":"x","q":true}', "quality"),
        (b'{"v":1,"caption":"x","captioner":3}', "captioner"),
        (b'{"v":1,"caption":"\\ud800"}', "lone surrogate"),
        (b'{"v":1,"caption":"x","part":1}', "all of part"),
        (b'{"v":3,"caption":"x"}', "version 3"),
        (b'{"caption":"x"}', "version None"),
        (b"\xff\xfe", "corrupt"),
    ],
)
def test_corrupt_payload_segments(body: bytes, message: str):
    data = TINY[:2] + segment_bytes(COM, MAGIC + body) + TINY[2:]
    with pytest.raises(PayloadError, match=message):
        read_payload(data)


def _with_foreign_comments(data: bytes) -> bytes:
    """SOI, APP0, COM 'before', <our payload>, COM 'after', the rest."""
    segs = walk_segments(data)
    app0 = segs[0]
    ours = [s for s in segs if s.marker == COM and s.data.startswith(MAGIC)]
    assert len(ours) == 1
    before = segment_bytes(COM, b"foreign comment before")
    after = segment_bytes(COM, b"foreign comment after")
    rest = [s for s in segs[1:] if s not in ours]
    out = data[:2] + data[app0.offset : app0.end] + before
    out += data[ours[0].offset : ours[0].end] + after
    out += b"".join(data[s.offset : s.end] for s in rest) + data[segs[-1].end :]
    return out


def test_foreign_comments_before_and_after_are_kept_on_re_embedding():
    data = _with_foreign_comments(embed_caption(TINY, "ours"))
    assert _coms(data) == [b"foreign comment before", _coms(embed_caption(TINY, "ours"))[0],
                           b"foreign comment after"]  # fmt: skip
    assert read_payload(data).caption == "ours"
    again = embed_caption(data, "new caption " * 10000)  # becomes several pieces
    coms = _coms(again)
    assert coms[0] == b"foreign comment before" and coms[-1] == b"foreign comment after"
    assert all(c.startswith(MAGIC) for c in coms[1:-1]) and len(coms) > 3
    assert read_payload(again).caption == "new caption " * 10000
    back = embed_caption(again, "short")
    assert _coms(back)[0] == b"foreign comment before"
    assert _coms(back)[2] == b"foreign comment after" and len(_coms(back)) == 3


def test_foreign_app_segments_are_kept_byte_for_byte():
    exif = Image.Exif()
    exif[0x010F] = "jpegtext-test"
    src = _tiny_jpeg(exif=exif.tobytes(), icc_profile=b"\0" * 16 + b"RGB " + b"\0" * 100)
    apps = [s for s in walk_segments(src) if 0xE0 <= s.marker <= 0xEF]
    out = embed_caption(src, "x", xmp=True)
    kept = [s for s in walk_segments(out) if 0xE0 <= s.marker <= 0xEF]
    assert [s.data for s in kept if s.data in {a.data for a in apps}] == [a.data for a in apps]


def test_xmp_mirror_round_trip_and_fallback():
    caption = 'barn & pond <b> "quoted" \r\n\ttab émoji 😀'
    data = embed_caption(TINY, caption, captioner="c", xmp=True)
    found = find_payload(walk_segments(data))
    assert found.source == "com" and found.xmp_segment is not None
    assert found.size == sum(s.size for s in found.segments) + found.xmp_segment.size
    # A tool that drops COM but keeps APP1: the mirror still gives the caption.
    no_com = _rebuild(data, lambda s: False)
    found = find_payload(walk_segments(no_com))
    assert found.source == "xmp" and found.payload == Payload(caption)
    assert read_payload(no_com).caption == caption
    # Re-embedding without --xmp removes our stale mirror.
    plain = embed_caption(data, "new")
    assert find_payload(walk_segments(plain)).xmp_segment is None


def test_foreign_xmp_is_kept_and_not_read_as_caption():
    foreign = (
        b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF '
        b'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description '
        b'xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:description><rdf:Alt>'
        b'<rdf:li xml:lang="x-default">photographer text</rdf:li></rdf:Alt></dc:description>'
        b"</rdf:Description></rdf:RDF></x:xmpmeta>"
    )
    src = _tiny_jpeg(xmp=foreign)
    assert read_payload(src) is None
    assert parse_xmp_description(foreign, jpegtext_only=False) == "photographer text"
    out = embed_caption(src, "ours")
    assert any(s.data == XMP_HEADER + foreign for s in walk_segments(out))
    assert read_payload(out).caption == "ours"
    # Malformed foreign XMP is ignored; malformed XMP in our namespace is an error.
    broken = _tiny_jpeg(xmp=b"<x:xmpmeta><unclosed>")
    assert read_payload(broken) is None
    ours_broken = _tiny_jpeg(xmp=b'<a xmlns:j="urn:jpegtext:xmp:1/"><unclosed>')
    with pytest.raises(PayloadError, match="not well-formed"):
        read_payload(ours_broken)


@pytest.mark.parametrize("text", ["nul\x00", "bell\x07", "\ufffe"])
def test_xmp_mirror_refuses_what_xml_cannot_carry(text: str):
    with pytest.raises(PayloadError, match="XMP"):
        build_xmp_mirror(text)
    with pytest.raises(PayloadError, match="XMP"):
        embed_caption(TINY, text, xmp=True)
    assert read_payload(embed_caption(TINY, text)).caption == text  # COM alone is fine


def test_xmp_mirror_too_long():
    with pytest.raises(PayloadError, match="too long for the XMP"):
        build_xmp_mirror("a" * 70_000)


def test_truncated_file_is_not_read():
    data = embed_caption(TINY, "caption")
    with pytest.raises(InvalidJpegError):
        read_payload(data[:-1])
    with pytest.raises(InvalidJpegError):
        embed_caption(data[:-1], "x")


# ---- property tests ---------------------------------------------------------------------------

_ANY_CHAR = st.characters(exclude_categories=())  # every code point, surrogates included
_SPECIAL = st.sampled_from(
    ["\x00", "😀", "👩‍👩‍👧", "שלום", "مرحبا", "\u202e", "\ufeff", "\r\n", '"\\']
)


def _cap_bytes(text: str, limit: int = 100_000) -> str:
    """``text`` cut (at a character) to at most ``limit`` UTF-8 bytes."""
    while len(text.encode("utf-8", "surrogatepass")) > limit:
        text = text[: len(text) * 3 // 4]
    return text


_CAPTIONS = st.one_of(
    st.text(alphabet=_ANY_CHAR, max_size=200),
    st.lists(st.one_of(_SPECIAL, st.text(alphabet=_ANY_CHAR, max_size=5)), max_size=50).map(
        "".join
    ),
    # Long captions (up to 100,000 bytes) by repetition: cheap to generate, many segments.
    st.tuples(st.text(alphabet=_ANY_CHAR, min_size=1, max_size=40), st.integers(1, 30_000)).map(
        lambda t: _cap_bytes(t[0] * t[1])
    ),
)


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


@settings(
    max_examples=10_000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(_CAPTIONS)
def test_round_trip_any_caption(caption: str):
    try:
        data = embed_caption(TINY, caption, captioner="prop")
    except PayloadError:
        # The only allowed refusal: text that UTF-8 cannot encode (lone surrogates).
        assert not _encodable(caption)
        event("refused: not UTF-8 encodable")
        return
    assert _encodable(caption)
    assert read_payload(data) == Payload(caption, "prop", 1)
    size = len(caption.encode("utf-8"))
    event("several segments" if size > 60_000 else "over 1 kB" if size > 1000 else "short")
