"""Caption payload v2: the caption stored in COM segments of the JPEG file.

The format is specified in ``docs/payload.md``. In short: each payload segment is a COM segment
whose data is ``JPEGTEXT\\0`` followed by a UTF-8 JSON object. A caption that fits one segment is
one object ``{"v":2,"caption":...,"captioner":...,"q":...,"h":...}``; a longer caption is cut
into pieces at character boundaries, each piece one object that adds ``"part"`` (1-based index),
``"parts"`` (count) and ``"id"`` (first 16 hex digits of the SHA-256 of the whole caption's
UTF-8 bytes) before ``"h"``. ``"h"``, always the last member, is the first 16 hex digits of the
SHA-256 of the segment's own bytes without that member, so a change of any byte of a segment is
a :class:`~jpegtext.errors.PayloadError`; a reader joins the pieces in ``part`` order and checks
``id``, so a missing, duplicated or reordered piece is an error too. Version 1 files (no ``"h"``;
only multi-segment captions were hashed) are still read and reported as not verifiable.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from jpegtext.codec.markers import (
    APP0,
    COM,
    MAX_SEGMENT_DATA,
    Segment,
    parse_jpeg,
    segment_bytes,
)
from jpegtext.codec.quality import estimate_quality
from jpegtext.codec.xmp import (
    XMP_HEADER,
    XmpMirror,
    build_xmp_mirror,
    is_damaged_mirror_segment,
    is_xmp_segment,
    looks_like_mirror,
    parse_xmp_mirror,
)
from jpegtext.errors import PayloadError

if TYPE_CHECKING:
    from jpegtext.codec.jpegfile import JpegFile

__all__ = [
    "MAGIC",
    "MAX_CAPTION_BYTES",
    "PAYLOAD_VERSION",
    "READ_VERSIONS",
    "FoundPayload",
    "Payload",
    "build_payload_data",
    "embed_caption",
    "find_payload",
    "read_payload",
    "strip_caption",
]

#: Bytes that open every jpegtext COM segment.
MAGIC = b"JPEGTEXT\x00"
#: Version written by this module. Readers also read version 1 (not verifiable) and refuse
#: any other version.
PAYLOAD_VERSION = 2
#: Versions this module reads.
READ_VERSIONS = (1, 2)
#: Largest caption accepted, in UTF-8 bytes (about 16 COM segments of plain text).
MAX_CAPTION_BYTES = 1_000_000

logger = logging.getLogger(__name__)

_PART_KEYS = ("part", "parts", "id")
_ID_HEX = 16
_SEP = (",", ":")
# The integrity member closing every v2 object: 16 hex digits = 64 bits of SHA-256.
_HASH_TAIL = re.compile(rb',"h":"([0-9a-f]{16})"\}\Z')
_HASH_ANYWHERE = re.compile(rb',"h":"[0-9a-f]{16}"\}')


@dataclass(frozen=True)
class Payload:
    """The content of a caption payload.

    Attributes:
        caption: the caption text (any Unicode that UTF-8 can encode).
        captioner: name of the captioner that wrote it; None when the text was given by a user.
        quality: the JPEG quality (1..100) the file was written at; None when unknown.
    """

    caption: str
    captioner: str | None = None
    quality: int | None = None


@dataclass(frozen=True)
class FoundPayload:
    """A payload read from a file, with the segments it occupies.

    Attributes:
        payload: the decoded payload.
        segments: the COM segments that hold it, in file order.
        source: ``"com"`` for the COM payload, ``"xmp"`` when only the XMP mirror was found.
        xmp_segment: jpegtext's XMP mirror segment when present, else None.
        version: the payload version (1 or 2; for ``"xmp"``, the mirror's).
        verified: every byte of the caption's source is covered by an integrity hash that
            matched (v2); False for v1 payloads and mirrors, which cannot be checked.
        warnings: problems that did not stop the reading, e.g. an XMP mirror that disagrees
            with the COM payload (which wins); each is also logged.
    """

    payload: Payload
    segments: tuple[Segment, ...]
    source: str
    xmp_segment: Segment | None = None
    version: int = PAYLOAD_VERSION
    verified: bool = True
    warnings: tuple[str, ...] = ()

    @property
    def size(self) -> int:
        """Bytes in the file spent on the caption: payload segments plus the XMP mirror."""
        total = sum(s.size for s in self.segments)
        if self.xmp_segment is not None:
            total += self.xmp_segment.size
        return total


def _validate(payload: Payload) -> bytes:
    if not isinstance(payload.caption, str):
        raise PayloadError(f"the caption must be a str, not {type(payload.caption).__name__}")
    if payload.captioner is not None and not isinstance(payload.captioner, str):
        raise PayloadError("the captioner name must be a str or None")
    q = payload.quality
    if q is not None and (isinstance(q, bool) or not isinstance(q, int)):
        raise PayloadError(f"the quality in the payload must be an int or None, not "
                           f"{type(q).__name__} ({q!r})")
    if q is not None and not 1 <= q <= 100:
        raise PayloadError(f'Invalid quality "{q}" in the payload, should be between 1 and 100')
    try:
        encoded = payload.caption.encode("utf-8")
        if payload.captioner is not None:
            payload.captioner.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise PayloadError(
            f"the caption cannot be stored: {exc.reason} (U+{ord(exc.object[exc.start]):04X} "
            f"at index {exc.start}); only text that UTF-8 can encode is allowed"
        ) from None
    if len(encoded) > MAX_CAPTION_BYTES:
        raise PayloadError(
            f"the caption is {len(encoded)} UTF-8 bytes, more than the maximum of "
            f"{MAX_CAPTION_BYTES}"
        )
    return encoded


def _dumps(obj: dict[str, Any]) -> bytes:
    """Segment data: magic + compact JSON closed by the integrity member ``"h"``."""
    body = MAGIC + json.dumps(obj, ensure_ascii=False, separators=_SEP).encode("utf-8")
    return body[:-1] + b',"h":"' + _segment_hash(body).encode("ascii") + b'"}'


def _segment_hash(unhashed: bytes) -> str:
    """The ``"h"`` of segment data whose ``"h"`` member is removed (magic included)."""
    return hashlib.sha256(unhashed).hexdigest()[:_ID_HEX]


def build_payload_data(payload: Payload) -> list[bytes]:
    """The data of the COM segments (magic + JSON) that store ``payload``.

    Returns:
        One element when the caption fits one segment, else the numbered pieces in order. Each
        element is at most 65533 bytes, the payload of one COM segment.

    Raises:
        PayloadError: the caption cannot be encoded as UTF-8 (lone surrogates), is longer than
            :data:`MAX_CAPTION_BYTES`, or a field has the wrong type.
    """
    encoded = _validate(payload)
    head = {"v": PAYLOAD_VERSION}
    meta = {"captioner": payload.captioner, "q": payload.quality}
    whole = _dumps({**head, "caption": payload.caption, **meta})
    if len(whole) <= MAX_SEGMENT_DATA:
        return [whole]
    pid = hashlib.sha256(encoded).hexdigest()[:_ID_HEX]
    # Room for the caption piece once every other field (and "h") is in place.
    frame = _dumps({**head, "caption": "", **meta, "part": 99999, "parts": 99999, "id": pid})
    budget = MAX_SEGMENT_DATA - len(frame)
    pieces = _split(payload.caption, budget)
    return [
        _dumps({**head, "caption": piece, **meta, "part": i, "parts": len(pieces), "id": pid})
        for i, piece in enumerate(pieces, start=1)
    ]


def _escaped_len(text: str) -> int:
    # Length in bytes of the JSON string literal body (without its quotes).
    return len(json.dumps(text, ensure_ascii=False).encode("utf-8")) - 2


def _split(caption: str, budget: int) -> list[str]:
    """Cut ``caption`` at character boundaries into pieces whose JSON form fits ``budget``."""
    pieces = []
    start = 0
    while start < len(caption):
        # Largest k with escaped_len(caption[start:start+k]) <= budget: the escaped length only
        # grows with k, so a binary search needs ~16 json.dumps calls per piece.
        lo, hi = 1, min(len(caption) - start, budget)
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if _escaped_len(caption[start : start + mid]) <= budget:
                lo = mid
            else:
                hi = mid - 1
        pieces.append(caption[start : start + lo])
        start += lo
    return pieces


def _decode_segment(segment: Segment) -> dict[str, Any]:
    where = f"jpegtext payload at byte {segment.offset}"
    if segment.marker != COM or not segment.data.startswith(MAGIC):
        raise PayloadError(
            f"damaged {where}: its marker or magic bytes are altered "
            f"({segment.name}, {segment.data[: len(MAGIC)]!r})"
        )
    try:
        obj = json.loads(segment.data[len(MAGIC) :].decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise PayloadError(f"corrupt {where}: {exc}") from None
    if not isinstance(obj, dict):
        raise PayloadError(f"corrupt {where}: not a JSON object")
    version = obj.get("v")
    if version not in READ_VERSIONS or isinstance(version, bool):
        raise PayloadError(
            f"unsupported {where}: version {version!r} (this jpegtext reads versions "
            f"{', '.join(map(str, READ_VERSIONS))}; a newer jpegtext may read it)"
        )
    if version == 1 and "h" in obj:
        # v1 writers never wrote "h": this is a v2 payload whose version digit was changed.
        raise PayloadError(f"corrupt {where}: a version 1 payload with an integrity hash")
    if version >= 2:
        tail = _HASH_TAIL.search(segment.data)
        if tail is None or obj.get("h") != tail.group(1).decode("ascii"):
            raise PayloadError(f"corrupt {where}: no valid integrity hash (\"h\")")
        unhashed = segment.data[: tail.start()] + b"}"
        if _segment_hash(unhashed) != obj["h"]:
            raise PayloadError(
                f"damaged {where}: its integrity hash does not match (a byte was changed)"
            )
    if not isinstance(obj.get("caption"), str):
        raise PayloadError(f"corrupt {where}: no caption text")
    try:
        obj["caption"].encode("utf-8")
        if isinstance(obj.get("captioner"), str):
            obj["captioner"].encode("utf-8")
    except UnicodeEncodeError:
        # JSON escapes can spell lone surrogates; a writer never stores them.
        raise PayloadError(f"corrupt {where}: the text holds a lone surrogate") from None
    captioner = obj.get("captioner")
    if captioner is not None and not isinstance(captioner, str):
        raise PayloadError(f"corrupt {where}: captioner is not a string")
    q = obj.get("q")
    if q is not None and (isinstance(q, bool) or not isinstance(q, int) or not 1 <= q <= 100):
        raise PayloadError(f"corrupt {where}: quality {q!r} is not an integer 1..100")
    present = [k in obj for k in _PART_KEYS]
    if any(present) and not all(present):
        raise PayloadError(f"corrupt {where}: a piece needs all of part, parts and id")
    if all(present):
        part, parts, pid = obj["part"], obj["parts"], obj["id"]
        if (
            not isinstance(part, int)
            or not isinstance(parts, int)
            or isinstance(part, bool)
            or isinstance(parts, bool)
            or not 1 <= part <= parts
            or not isinstance(pid, str)
            or len(pid) != _ID_HEX
        ):
            raise PayloadError(f"corrupt {where}: invalid piece numbering")
    return obj


def _join(found: list[tuple[Segment, dict[str, Any]]]) -> Payload:
    """The payload from the decoded payload segments of one file."""
    singles = [obj for _, obj in found if "part" not in obj]
    pieces = [obj for _, obj in found if "part" in obj]
    if len(singles) + (1 if pieces else 0) > 1:
        raise PayloadError(
            f"the file holds {len(singles) + (1 if pieces else 0)} jpegtext payloads; "
            "re-embed the caption to repair it"
        )
    if singles:
        obj = singles[0]
        return Payload(obj["caption"], obj.get("captioner"), obj.get("q"))
    first = pieces[0]
    n = first["parts"]
    for obj in pieces:
        for key in ("v", "parts", "id", "captioner", "q"):
            if obj.get(key) != first.get(key):
                raise PayloadError(f"inconsistent jpegtext payload pieces: {key!r} differs")
    numbers = sorted(obj["part"] for obj in pieces)
    if numbers != list(range(1, n + 1)):
        missing = sorted(set(range(1, n + 1)) - set(numbers))
        dup = sorted({k for k in numbers if numbers.count(k) > 1})
        raise PayloadError(
            f"jpegtext payload has {len(pieces)} of {n} pieces"
            + (f", missing {missing[:10]}" if missing else "")
            + (f", duplicated {dup[:10]}" if dup else "")
        )
    caption = "".join(obj["caption"] for obj in sorted(pieces, key=lambda o: o["part"]))
    digest = hashlib.sha256(caption.encode("utf-8")).hexdigest()[:_ID_HEX]
    if digest != first["id"]:
        raise PayloadError("jpegtext payload pieces do not join to the caption they were cut from")
    return Payload(caption, first.get("captioner"), first.get("q"))


def _is_payload_like(segment: Segment) -> bool:
    """A jpegtext payload segment, or one that was one before a byte of it changed.

    A COM segment with the magic; or any segment whose data starts with the magic give or take
    one byte and continues as a payload object (its magic or marker byte was altered), or that
    opens with a payload object a few bytes in (bytes of its magic were cut or overwritten).
    Such a segment is read (and refused) rather than skipped, which would lose the caption
    silently.
    """
    data = segment.data
    if segment.marker == COM and data.startswith(MAGIC):
        return True
    if len(data) < len(MAGIC) + 5:
        return False
    near = sum(a != b for a, b in zip(data[: len(MAGIC)], MAGIC, strict=True)) <= 1
    if near and data[len(MAGIC) :].startswith(b'{"v":'):
        return True
    if MAGIC in data:
        return True
    # A v2 object whose opening was cut: a caption(er) key and its closing integrity member.
    return b'"caption' in data and _HASH_ANYWHERE.search(data) is not None


def _mirror_of(segments: Sequence[Segment]) -> tuple[Segment, XmpMirror] | None:
    for seg in segments:
        if is_damaged_mirror_segment(seg):
            raise PayloadError(
                f"damaged jpegtext XMP mirror at byte {seg.offset}: its marker or XMP header "
                f"bytes are altered ({seg.name})"
            )
        if is_xmp_segment(seg) and looks_like_mirror(seg.data):
            return seg, parse_xmp_mirror(seg.data)
    return None


def find_payload(segments: Sequence[Segment]) -> FoundPayload | None:
    """Find the caption payload among a file's segments.

    All COM segments are scanned (Pillow keeps only the last and exiftool shows the first). When
    no COM payload exists, jpegtext's own XMP mirror (if any) provides the caption. When both
    exist, the COM payload wins; a mirror that disagrees with it (or is damaged) gives a
    warning (logged, and in :attr:`FoundPayload.warnings`).

    Args:
        segments: the file's segments, e.g. from :func:`~jpegtext.codec.markers.walk_segments`.

    Returns:
        The payload with the segments it occupies, or None when the file carries none.

    Raises:
        PayloadError: a payload segment is corrupt (any changed byte of a v2 payload), of
            another version, or its pieces are missing, duplicated or inconsistent; or, without
            a COM payload, the XMP mirror is damaged.
    """
    found = [(seg, _decode_segment(seg)) for seg in segments if _is_payload_like(seg)]
    mirror: tuple[Segment, XmpMirror] | None
    mirror_error: PayloadError | None = None
    try:
        mirror = _mirror_of(segments)
    except PayloadError as exc:
        mirror, mirror_error = None, exc
    if found:
        payload = _join(found)
        version = min(obj["v"] for _, obj in found)
        warnings: list[str] = []
        mirror_seg = None
        if mirror_error is not None:
            warnings.append(f"the XMP mirror is damaged ({mirror_error}); the COM payload is used")
            mirror_seg = next((s for s in segments if _is_ours(s) and s.marker != COM), None)
        elif mirror is not None:
            mirror_seg, xmp = mirror
            if xmp.text != payload.caption:
                warnings.append(
                    "the XMP mirror's caption differs from the COM payload's (an edited XMP "
                    "description?); the COM payload is used"
                )
            elif xmp.verified is False:
                warnings.append("the XMP mirror's integrity hash does not match")
        for text in warnings:
            logger.warning("%s", text)
        return FoundPayload(
            payload,
            tuple(s for s, _ in found),
            "com",
            mirror_seg,
            version=version,
            verified=version >= 2,
            warnings=tuple(warnings),
        )
    if mirror_error is not None:
        raise mirror_error
    if mirror is not None:
        seg, xmp = mirror
        if xmp.verified is False:
            raise PayloadError(
                "the jpegtext XMP mirror is damaged: its integrity hash does not match the "
                "caption (and the file has no COM payload)"
            )
        return FoundPayload(
            Payload(xmp.text), (), "xmp", seg, version=xmp.version, verified=bool(xmp.verified)
        )
    return None


def read_payload(data: bytes) -> Payload | None:
    """The caption payload of a JPEG stream, or None when it has none.

    The whole stream is checked (:func:`~jpegtext.codec.markers.parse_jpeg`), so a truncated
    file raises rather than returning a caption from its intact headers.

    Raises:
        InvalidJpegError: the data is not a complete JPEG stream.
        PayloadError: the payload is corrupt (see :func:`find_payload`).
    """
    found = find_payload(parse_jpeg(data).segments)
    return None if found is None else found.payload


def embed_caption(
    jpeg: bytes | bytearray | memoryview | str | os.PathLike[str] | JpegFile,
    caption: str,
    *,
    captioner: str | None = None,
    quality: int | None = None,
    xmp: bool = False,
) -> bytes:
    """Store ``caption`` in an existing JPEG without touching its pixels.

    jpegtext's previous payload segments (and its XMP mirror) are removed; every other segment,
    foreign COM and APPn segments included, is kept byte for byte and in order. The new payload
    takes the place of the first old payload segment, or follows the leading APPn segments.

    Args:
        jpeg: a complete JPEG stream (bytes-like), the path of a JPEG file (``str`` is always a
            path) or a parsed :class:`~jpegtext.codec.jpegfile.JpegFile`, as
            :func:`~jpegtext.api.read_caption` takes it. A file is only read.
        caption: the text to store.
        captioner: the captioner name to record (None for a user's text).
        quality: the quality to record, an integer 1..100 (numpy integers too); by default the
            IJG quality estimated from the file's tables (None when they are not standard).
        xmp: also write the XMP ``dc:description`` mirror (replacing only jpegtext's own).

    Returns:
        The new JPEG stream.

    Raises:
        InvalidJpegError: ``jpeg`` is not a complete JPEG stream.
        PayloadError: the caption cannot be stored (see :func:`build_payload_data`, and
            :func:`~jpegtext.codec.xmp.build_xmp_mirror` with ``xmp=True``).
        ConfigError: ``jpeg`` is not bytes-like, a path or a JpegFile; ``quality`` is not an
            integer 1..100 (a bool or float included).
        OSError: a path cannot be read.
    """
    from jpegtext.codec.image import validate_quality

    if quality is not None:
        quality = validate_quality(quality)
    jpeg = _read_jpeg(jpeg)
    layout = parse_jpeg(jpeg)
    if quality is None:
        found = estimate_quality(layout.qtables, layout.frame)
        # only an exact quality is a record; a fitted one stays the reader's estimate
        quality = found.quality if found.kind == "exact" else None
    datas = build_payload_data(Payload(caption, captioner, quality))
    new = [segment_bytes(COM, d) for d in datas]
    if xmp:
        new.insert(0, segment_bytes(0xE1, XMP_HEADER + build_xmp_mirror(caption)))
    return splice_segments(jpeg, layout.segments, new)


def strip_caption(
    jpeg: bytes | bytearray | memoryview | str | os.PathLike[str] | JpegFile,
) -> bytes:
    """Remove jpegtext's payload segments and XMP mirror; everything else is kept.

    Args:
        jpeg: a complete JPEG stream (bytes-like), the path of a JPEG file (``str`` is always a
            path) or a parsed :class:`~jpegtext.codec.jpegfile.JpegFile`, as
            :func:`~jpegtext.api.read_caption` takes it. A file is only read.

    Returns:
        The new JPEG stream.

    Raises:
        InvalidJpegError: ``jpeg`` is not a complete JPEG stream.
        ConfigError: ``jpeg`` is not bytes-like, a path or a JpegFile.
        OSError: a path cannot be read.
    """
    jpeg = _read_jpeg(jpeg)
    layout = parse_jpeg(jpeg)
    return splice_segments(jpeg, layout.segments, [])


def _read_jpeg(jpeg: bytes | bytearray | memoryview | str | os.PathLike[str] | JpegFile) -> bytes:
    """The stream's bytes, taken as ``read_caption`` takes them (``parse_file``'s reader)."""
    from jpegtext.codec.jpegfile import JpegFile, _read  # here: jpegfile imports this module

    return jpeg.data if isinstance(jpeg, JpegFile) else _read(jpeg)


def _is_ours(segment: Segment) -> bool:
    # Damaged payloads and mirrors count as ours, so that re-embedding and stripping repair them.
    if _is_payload_like(segment) or is_damaged_mirror_segment(segment):
        return True
    return is_xmp_segment(segment) and looks_like_mirror(segment.data)


def splice_segments(jpeg: bytes, segments: Sequence[Segment], new: Sequence[bytes]) -> bytes:
    """Replace jpegtext's segments of ``jpeg`` by the serialised segments ``new``.

    Args:
        jpeg: the stream ``segments`` was walked from.
        segments: its segments up to SOS (from the walker).
        new: complete segments (marker, length, data) to insert.
    """
    ours = [s for s in segments if _is_ours(s)]
    if ours:
        insert_at = ours[0].offset
    else:
        # After SOI and the leading APPn run, so JFIF/EXIF stay first as viewers expect.
        insert_at = 2
        for seg in segments:
            if not APP0 <= seg.marker <= 0xEF:
                break
            insert_at = seg.end
    out = bytearray()
    pos = 0
    inserted = False
    for seg in [*ours, None]:
        stop = seg.offset if seg is not None else len(jpeg)
        if not inserted and insert_at <= stop:
            out += jpeg[pos:insert_at]
            out += b"".join(new)
            pos = insert_at
            inserted = True
        out += jpeg[pos:stop]
        if seg is not None:
            pos = seg.end
    return bytes(out)
