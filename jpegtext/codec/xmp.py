"""The optional XMP mirror of the caption and reading descriptions from XMP packets.

The mirror is a minimal XMP packet in one APP1 segment whose ``dc:description`` holds the
caption and whose ``rdf:Description`` carries ``jpegtext:v="2"`` so that readers can tell it from
a photographer's own description, and ``jpegtext:h``, the first 16 hex digits of the SHA-256 of
the caption's UTF-8 bytes, so that an edited mirror is detected (version 1 mirrors, without
``jpegtext:h``, are read as not verifiable). Only the standard library is used (``xml.etree``
with expat, which refuses external entities and, since expat 2.4, entity-expansion bombs).
"""

from __future__ import annotations

import hashlib
import logging
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import dataclass

from jpegtext.codec.markers import APP1, MAX_SEGMENT_DATA, Segment
from jpegtext.errors import PayloadError

__all__ = [
    "JPEGTEXT_XMP_NS",
    "MIRROR_VERSION",
    "XMP_HEADER",
    "XmpMirror",
    "build_xmp_mirror",
    "is_damaged_mirror_segment",
    "is_xmp_segment",
    "looks_like_mirror",
    "parse_xmp_description",
    "parse_xmp_mirror",
]

logger = logging.getLogger(__name__)

#: Identifier of an XMP APP1 segment (the standard "main packet" namespace, NUL-terminated).
XMP_HEADER = b"http://ns.adobe.com/xap/1.0/\x00"
#: Namespace of the attribute that marks jpegtext's own mirror (a URN: it is a name only).
JPEGTEXT_XMP_NS = "urn:jpegtext:xmp:1/"
#: Mirror version written (``jpegtext:v``); version 1 had no ``jpegtext:h``.
MIRROR_VERSION = 2
_HASH_HEX = 16

_RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
_DC = "http://purl.org/dc/elements/1.1/"
_XML = "http://www.w3.org/XML/1998/namespace"
# Characters XML 1.0 cannot carry at all (not even escaped): C0 controls except TAB/LF/CR,
# lone surrogates and the two non-characters U+FFFE/U+FFFF.
_XML_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
# CR would be normalised to LF by every XML parser: escape it so the mirror stays exact.
_ESCAPES = {"&": "&amp;", "<": "&lt;", ">": "&gt;", "\r": "&#13;"}
_ESCAPE_RE = re.compile("[&<>\r]")

_TEMPLATE = (
    '<x:xmpmeta xmlns:x="adobe:ns:meta/">'
    f'<rdf:RDF xmlns:rdf="{_RDF}">'
    f'<rdf:Description rdf:about="" xmlns:dc="{_DC}" xmlns:jpegtext="{JPEGTEXT_XMP_NS}"'
    ' jpegtext:v="2" jpegtext:h="{hash}">'
    '<dc:description><rdf:Alt><rdf:li xml:lang="x-default">{caption}</rdf:li></rdf:Alt>'
    "</dc:description></rdf:Description></rdf:RDF></x:xmpmeta>"
)


def build_xmp_mirror(caption: str) -> bytes:
    """The XMP packet (without the APP1 header) that mirrors ``caption``.

    Raises:
        PayloadError: the caption holds characters XML 1.0 cannot represent (NUL and other C0
            controls, lone surrogates) or does not fit into one APP1 segment. The mirror is
            refused rather than written with a changed caption.
    """
    bad = _XML_FORBIDDEN.search(caption)
    if bad is not None:
        raise PayloadError(
            f"the caption contains U+{ord(bad.group()):04X} at index {bad.start()}, which XMP "
            "(XML 1.0) cannot carry; encode without the XMP mirror"
        )
    escaped = _ESCAPE_RE.sub(lambda m: _ESCAPES[m.group()], caption)
    packet = (
        _TEMPLATE.replace("{hash}", caption_hash(caption))
        .replace("{caption}", escaped)
        .encode("utf-8")
    )
    if len(XMP_HEADER) + len(packet) > MAX_SEGMENT_DATA:
        raise PayloadError(
            f"the caption is too long for the XMP mirror ({len(packet)} bytes of XMP, at most "
            f"{MAX_SEGMENT_DATA - len(XMP_HEADER)}); encode without the XMP mirror"
        )
    return packet


def caption_hash(caption: str) -> str:
    """The mirror's ``jpegtext:h``: first 16 hex digits of SHA-256 of the caption's UTF-8."""
    return hashlib.sha256(caption.encode("utf-8", "surrogatepass")).hexdigest()[:_HASH_HEX]


@dataclass(frozen=True)
class XmpMirror:
    """jpegtext's XMP mirror as read from a packet.

    Attributes:
        text: the mirrored caption.
        version: the mirror's ``jpegtext:v``.
        verified: True when ``jpegtext:h`` matches ``text``, False when it does not, None for a
            version 1 mirror (no hash: cannot be checked).
    """

    text: str
    version: int
    verified: bool | None


def looks_like_mirror(packet: bytes) -> bool:
    """Whether an XMP packet is (or, before a byte of it changed, was) jpegtext's mirror.

    Any of the namespace, ``jpegtext:v="`` or ``jpegtext:h="`` is enough: one changed byte
    cannot remove all three.
    """
    return any(key in packet for key in (JPEGTEXT_XMP_NS.encode(), b'jpegtext:v="',
                                         b'jpegtext:h="'))


def is_damaged_mirror_segment(segment: Segment) -> bool:
    """A segment that was jpegtext's XMP mirror before its marker or XMP header changed."""
    if is_xmp_segment(segment):
        return False
    head = segment.data[: len(XMP_HEADER)]
    near = len(head) == len(XMP_HEADER) and sum(
        a != b for a, b in zip(head, XMP_HEADER, strict=True)) <= 1
    return near and looks_like_mirror(segment.data)


def parse_xmp_mirror(packet: bytes) -> XmpMirror:
    """jpegtext's mirror in ``packet`` (one for which :func:`looks_like_mirror` holds).

    Raises:
        PayloadError: the packet is not well-formed, holds no description marked as jpegtext's,
            has an unknown version, or a version 2 mirror lacks its hash.
    """
    if packet.startswith(XMP_HEADER):
        packet = packet[len(XMP_HEADER) :]
    try:
        root = ET.fromstring(packet)
    except (ET.ParseError, ValueError) as exc:
        raise PayloadError(f"jpegtext XMP mirror is not well-formed XML: {exc}") from None
    for desc in root.iter(f"{{{_RDF}}}Description"):
        version = desc.get(f"{{{JPEGTEXT_XMP_NS}}}v")
        if version is None:
            continue
        text = _description_of(desc)
        if text is None:
            raise PayloadError("jpegtext XMP mirror without a dc:description")
        if version == "1":
            return XmpMirror(text, 1, None)
        if version != str(MIRROR_VERSION):
            raise PayloadError(f"jpegtext XMP mirror of unsupported version {version!r}")
        digest = desc.get(f"{{{JPEGTEXT_XMP_NS}}}h")
        if digest is None:
            raise PayloadError("jpegtext XMP mirror without its integrity hash (jpegtext:h)")
        return XmpMirror(text, MIRROR_VERSION, digest == caption_hash(text))
    raise PayloadError("damaged jpegtext XMP mirror: no description is marked as jpegtext's")


def is_xmp_segment(segment: Segment) -> bool:
    """Whether ``segment`` is an APP1 segment holding a main XMP packet."""
    return segment.marker == APP1 and segment.data.startswith(XMP_HEADER)


def parse_xmp_description(packet: bytes, *, jpegtext_only: bool) -> str | None:
    """The ``dc:description`` of an XMP packet (the ``x-default`` entry, else the first one).

    Args:
        packet: the XMP packet, with or without the APP1 ``XMP_HEADER``.
        jpegtext_only: only accept a description inside an ``rdf:Description`` marked as
            jpegtext's mirror; otherwise any description.

    Returns:
        The description text, or None when there is none (or none of ours).

    Raises:
        PayloadError: the packet names the jpegtext namespace but is not well-formed XML. A
            malformed foreign packet is not ours to judge and reads as "no description".
    """
    if packet.startswith(XMP_HEADER):
        packet = packet[len(XMP_HEADER) :]
    try:
        root = ET.fromstring(packet)
    except (ET.ParseError, ValueError) as exc:
        if JPEGTEXT_XMP_NS.encode() in packet:
            raise PayloadError(f"jpegtext XMP mirror is not well-formed XML: {exc}") from None
        logger.debug("ignoring a malformed XMP packet: %s", exc)
        return None
    for desc in root.iter(f"{{{_RDF}}}Description"):
        if jpegtext_only and desc.get(f"{{{JPEGTEXT_XMP_NS}}}v") is None:
            continue
        text = _description_of(desc)
        if text is not None:
            return text
    return None


def _description_of(desc: ET.Element) -> str | None:
    attr = desc.get(f"{{{_DC}}}description")
    if attr is not None:
        return attr
    node = desc.find(f"{{{_DC}}}description")
    if node is None:
        return None
    items: Iterable[ET.Element] = node.iter(f"{{{_RDF}}}li")
    first: str | None = None
    for li in items:
        text = li.text or ""
        if li.get(f"{{{_XML}}}lang") == "x-default":
            return text
        if first is None:
            first = text
    if first is None and node.text and node.text.strip():
        return node.text.strip()
    return first
