"""A stdlib-only JPEG marker walker.

It lists every segment from SOI up to and including the first SOS header, checks that each
length field fits inside the data, and parses the few headers jpegtext needs (SOF, DQT). It never
decodes pixels, so it is fast and safe on hostile input: every malformed stream raises
:class:`~jpegtext.errors.InvalidJpegError` and nothing else.

Layout reminder (ITU-T T.81 annex B): a marker is ``0xFF`` followed by a code byte; any number of
``0xFF`` fill bytes may precede it. SOI, EOI, RST0-7 and TEM stand alone; every other marker is
followed by a 2-byte big-endian length that counts itself but not the marker.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from jpegtext.errors import InvalidJpegError

__all__ = [
    "APP0",
    "APP1",
    "COM",
    "DQT",
    "EOI",
    "SOI",
    "SOS",
    "Component",
    "FrameHeader",
    "JpegLayout",
    "Segment",
    "parse_dqt",
    "parse_frame",
    "parse_jpeg",
    "segment_bytes",
    "walk_segments",
]

SOI = 0xD8
EOI = 0xD9
SOS = 0xDA
DQT = 0xDB
COM = 0xFE
APP0 = 0xE0
APP1 = 0xE1
TEM = 0x01

#: Largest payload one length-prefixed segment can carry (the 16-bit length counts itself).
MAX_SEGMENT_DATA = 65533

# Start-of-frame markers: C0-CF except DHT (C4), JPG (C8) and DAC (CC).
_SOF_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
_PROGRESSIVE_SOF = frozenset({0xC2, 0xC6, 0xCA, 0xCE})
_STANDALONE = frozenset({SOI, EOI, TEM, *range(0xD0, 0xD8)})
_NOT_FF = re.compile(rb"[^\xff]")

_NAMES = {
    SOI: "SOI",
    EOI: "EOI",
    SOS: "SOS",
    DQT: "DQT",
    COM: "COM",
    0xC4: "DHT",
    0xDD: "DRI",
    0xDC: "DNL",
    TEM: "TEM",
}


def _marker_name(marker: int) -> str:
    if marker in _NAMES:
        return _NAMES[marker]
    if 0xE0 <= marker <= 0xEF:
        return f"APP{marker - 0xE0}"
    if marker in _SOF_MARKERS:
        return f"SOF{marker - 0xC0}"
    if 0xD0 <= marker <= 0xD7:
        return f"RST{marker - 0xD0}"
    return f"0x{marker:02X}"


@dataclass(frozen=True)
class Segment:
    """One marker segment of a JPEG stream.

    Attributes:
        marker: the code byte after ``0xFF`` (``0xFE`` for COM, ``0xE1`` for APP1, ...).
        offset: position of the segment's ``0xFF`` marker byte in the stream (after any fill
            bytes).
        length: value of the 2-byte length field (payload size + 2); 0 for standalone markers.
        data: the payload, without marker and length field.
    """

    marker: int
    offset: int
    length: int
    data: bytes

    @property
    def end(self) -> int:
        """Offset of the first byte after this segment."""
        return self.offset + 2 + self.length

    @property
    def size(self) -> int:
        """Bytes this segment occupies in the file, marker and length field included."""
        return 2 + self.length

    @property
    def name(self) -> str:
        """Conventional name such as ``"APP1"``, ``"COM"`` or ``"SOF0"``."""
        return _marker_name(self.marker)

    @property
    def is_sof(self) -> bool:
        """Whether this is a start-of-frame segment."""
        return self.marker in _SOF_MARKERS


@dataclass(frozen=True)
class Component:
    """One colour component of a frame: id, sampling factors and quantisation table id."""

    id: int
    h: int
    v: int
    tq: int


@dataclass(frozen=True)
class FrameHeader:
    """The parsed SOF segment.

    Attributes:
        width, height: image size in pixels as declared by the frame header.
        precision: bits per sample (8 for baseline).
        components: the frame's components in order (1 = grayscale, 3 = YCbCr, 4 = CMYK/YCCK).
        progressive: whether the frame is progressive.
    """

    width: int
    height: int
    precision: int
    components: tuple[Component, ...]
    progressive: bool

    @property
    def subsampling(self) -> str:
        """``"4:4:4"``, ``"4:2:2"``, ``"4:2:0"``, ``"gray"``, or ``"other"``."""
        if len(self.components) == 1:
            return "gray"
        if len(self.components) != 3:
            return "other"
        first, *rest = self.components
        if any((c.h, c.v) != (1, 1) for c in rest):
            return "other"
        return {(1, 1): "4:4:4", (2, 1): "4:2:2", (2, 2): "4:2:0"}.get((first.h, first.v), "other")


@dataclass(frozen=True)
class JpegLayout:
    """Everything the walker learnt about a stream.

    Attributes:
        segments: every segment after SOI up to and including the first SOS, in file order.
        frame: the parsed frame header.
        qtables: quantisation tables by id (0-3), each 64 values in the zig-zag order in which
            DQT stores them.
        scan_offset: offset of the first byte of entropy-coded data (just after the SOS header).
        eoi_offset: offset of the first EOI marker after the scan data, or -1 when the stream
            has none (truncated); set only when :func:`parse_jpeg` was asked not to require it.
        size: total size of the stream in bytes.
    """

    segments: tuple[Segment, ...]
    frame: FrameHeader
    qtables: dict[int, tuple[int, ...]]
    scan_offset: int
    eoi_offset: int
    size: int


def walk_segments(data: bytes | bytearray | memoryview) -> tuple[Segment, ...]:
    """List every segment after SOI up to and including the first SOS header.

    Args:
        data: the JPEG stream.

    Returns:
        The segments in file order; the last one is the SOS segment.

    Raises:
        InvalidJpegError: the data does not start with SOI, a marker is malformed, a length
            field is below 2 or runs past the end, or the stream ends (EOI or end of data)
            before an SOS segment.
    """
    buf = bytes(data)
    n = len(buf)
    if n == 0:
        raise InvalidJpegError("not a JPEG: the data is empty")
    if buf[:2] != b"\xff\xd8":
        raise InvalidJpegError(f"not a JPEG{_guess_format(buf)}: no SOI marker at the start")
    segments: list[Segment] = []
    pos = 2
    while True:
        if pos >= n:
            raise InvalidJpegError(f"truncated JPEG: data ends at byte {n} before the image data")
        if buf[pos] != 0xFF:
            raise InvalidJpegError(
                f"invalid JPEG: expected a marker at byte {pos}, found 0x{buf[pos]:02X}"
            )
        # Skip fill bytes with a C-level search: 10 MB of 0xFF must not take a Python loop.
        match = _NOT_FF.search(buf, pos)
        if match is None:
            raise InvalidJpegError(f"truncated JPEG: only fill bytes from byte {pos} to the end")
        code_pos = match.start()
        marker = buf[code_pos]
        offset = code_pos - 1
        if marker == 0x00:
            raise InvalidJpegError(f"invalid JPEG: stuffed byte 0xFF00 at byte {offset}")
        if marker == SOI:
            raise InvalidJpegError(f"invalid JPEG: second SOI marker at byte {offset}")
        if marker == EOI:
            raise InvalidJpegError(f"invalid JPEG: EOI at byte {offset} before any image data")
        if marker in _STANDALONE:
            segments.append(Segment(marker, offset, 0, b""))
            pos = code_pos + 1
            continue
        if code_pos + 3 > n:
            raise InvalidJpegError(
                f"truncated JPEG: {_marker_name(marker)} at byte {offset} has no length field"
            )
        length = (buf[code_pos + 1] << 8) | buf[code_pos + 2]
        if length < 2:
            raise InvalidJpegError(
                f"invalid JPEG: {_marker_name(marker)} at byte {offset} has length {length} (< 2)"
            )
        end = code_pos + 1 + length
        if end > n:
            raise InvalidJpegError(
                f"truncated JPEG: {_marker_name(marker)} at byte {offset} declares {length} "
                f"bytes but only {n - code_pos - 1} remain"
            )
        segments.append(Segment(marker, offset, length, buf[code_pos + 3 : end]))
        pos = end
        if marker == SOS:
            return tuple(segments)


def parse_frame(segment: Segment) -> FrameHeader:
    """Parse a start-of-frame segment.

    Raises:
        InvalidJpegError: the segment is not a SOF or its content is inconsistent.
    """
    if not segment.is_sof:
        raise InvalidJpegError(f"invalid JPEG: {segment.name} is not a frame header")
    d = segment.data
    if len(d) < 6:
        raise InvalidJpegError(f"invalid JPEG: {segment.name} is too short ({len(d)} bytes)")
    precision = d[0]
    height = (d[1] << 8) | d[2]
    width = (d[3] << 8) | d[4]
    count = d[5]
    if count not in (1, 2, 3, 4) or len(d) != 6 + 3 * count:
        raise InvalidJpegError(
            f"invalid JPEG: {segment.name} declares {count} components in {len(d)} bytes"
        )
    if width == 0 or height == 0:
        raise InvalidJpegError(f"invalid JPEG: frame size {width}x{height} is empty")
    if precision not in (8, 12, 16):
        raise InvalidJpegError(f"invalid JPEG: sample precision {precision} bits")
    components = []
    for i in range(count):
        cid, hv, tq = d[6 + 3 * i : 9 + 3 * i]
        h, v = hv >> 4, hv & 0x0F
        if not (1 <= h <= 4 and 1 <= v <= 4) or tq > 3:
            raise InvalidJpegError(
                f"invalid JPEG: component {cid} has sampling {h}x{v} and table {tq}"
            )
        components.append(Component(cid, h, v, tq))
    return FrameHeader(
        width=width,
        height=height,
        precision=precision,
        components=tuple(components),
        progressive=segment.marker in _PROGRESSIVE_SOF,
    )


def parse_dqt(segment: Segment) -> dict[int, tuple[int, ...]]:
    """Parse a DQT segment into ``{table id: 64 values in zig-zag order}``.

    Raises:
        InvalidJpegError: a table is cut short or has an id above 3.
    """
    d = segment.data
    tables: dict[int, tuple[int, ...]] = {}
    pos = 0
    while pos < len(d):
        pq, tq = d[pos] >> 4, d[pos] & 0x0F
        if pq > 1 or tq > 3:
            raise InvalidJpegError(
                f"invalid JPEG: DQT at byte {segment.offset} has precision {pq}, id {tq}"
            )
        size = 64 * (pq + 1)
        body = d[pos + 1 : pos + 1 + size]
        if len(body) != size:
            raise InvalidJpegError(f"invalid JPEG: DQT at byte {segment.offset} is cut short")
        if pq == 0:
            tables[tq] = tuple(body)
        else:
            tables[tq] = tuple((body[2 * i] << 8) | body[2 * i + 1] for i in range(64))
        pos += 1 + size
    if not tables:
        raise InvalidJpegError(f"invalid JPEG: DQT at byte {segment.offset} holds no table")
    return tables


def parse_jpeg(data: bytes | bytearray | memoryview, *, require_eoi: bool = True) -> JpegLayout:
    """Walk a JPEG stream and check that it is complete enough to decode.

    Besides :func:`walk_segments` this requires one frame header before the first scan, valid
    DQT and SOS headers, and (by default) an EOI marker after the scan data, which is how a file
    cut anywhere after its headers is recognised without decoding it. Entropy-coded data cannot
    contain ``0xFFD9`` (a data byte ``0xFF`` is always followed by ``0x00``), so the first EOI
    after the SOS header is the real end of the image; bytes after it are ignored.

    Args:
        data: the JPEG stream.
        require_eoi: raise when no EOI follows the scan data.

    Raises:
        InvalidJpegError: any structural problem, with the byte offset where it was found.
    """
    buf = bytes(data)
    segments = walk_segments(buf)
    frame: FrameHeader | None = None
    qtables: dict[int, tuple[int, ...]] = {}
    for seg in segments:
        if seg.is_sof:
            if frame is not None:
                raise InvalidJpegError(f"invalid JPEG: second frame header at byte {seg.offset}")
            frame = parse_frame(seg)
        elif seg.marker == DQT:
            qtables.update(parse_dqt(seg))
    sos = segments[-1]
    if frame is None:
        raise InvalidJpegError("invalid JPEG: no frame header (SOF) before the image data")
    ns = sos.data[0] if sos.data else 0
    if not 1 <= ns <= 4 or len(sos.data) != 4 + 2 * ns:
        raise InvalidJpegError(f"invalid JPEG: malformed SOS header at byte {sos.offset}")
    scan_offset = sos.end
    eoi = buf.find(b"\xff\xd9", scan_offset)
    if eoi < 0 and require_eoi:
        raise InvalidJpegError(
            f"truncated JPEG: no end-of-image marker after the image data ({len(buf)} bytes)"
        )
    return JpegLayout(
        segments=segments,
        frame=frame,
        qtables=qtables,
        scan_offset=scan_offset,
        eoi_offset=eoi,
        size=len(buf),
    )


def segment_bytes(marker: int, data: bytes) -> bytes:
    """Serialise one length-prefixed segment (marker, length field, payload).

    Raises:
        ValueError: ``data`` is longer than :data:`MAX_SEGMENT_DATA` or ``marker`` stands alone.
    """
    if marker in _STANDALONE or not 0x01 <= marker <= 0xFE:
        raise ValueError(f"marker 0x{marker:02X} cannot carry data")
    if len(data) > MAX_SEGMENT_DATA:
        raise ValueError(f"segment data of {len(data)} bytes exceeds {MAX_SEGMENT_DATA}")
    return bytes((0xFF, marker)) + (len(data) + 2).to_bytes(2, "big") + data


_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"),
    (b"BM", "BMP"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
    (b"RIFF", "RIFF/WebP"),
    (b"%PDF", "PDF"),
)


def _guess_format(buf: bytes) -> str:
    """`` (looks like PNG)`` for a known non-JPEG signature, else an empty string."""
    for magic, name in _SIGNATURES:
        if buf.startswith(magic):
            return f" (looks like {name})"
    return ""
