"""The optional XMP mirror of the caption and reading descriptions from XMP packets.

The mirror is a minimal XMP packet in one APP1 segment whose ``dc:description`` holds the
caption and whose ``rdf:Description`` carries ``jpegtext:v="1"`` so that readers can tell it from
a photographer's own description. Only the standard library is used (``xml.etree`` with expat,
which refuses external entities and, since expat 2.4, entity-expansion bombs).
"""

from __future__ import annotations

import logging
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable

from jpegtext.codec.markers import APP1, MAX_SEGMENT_DATA, Segment
from jpegtext.errors import PayloadError

__all__ = [
    "JPEGTEXT_XMP_NS",
    "XMP_HEADER",
    "build_xmp_mirror",
    "is_xmp_segment",
    "parse_xmp_description",
]

logger = logging.getLogger(__name__)

#: Identifier of an XMP APP1 segment (the standard "main packet" namespace, NUL-terminated).
XMP_HEADER = b"http://ns.adobe.com/xap/1.0/\x00"
#: Namespace of the attribute that marks jpegtext's own mirror (a URN: it is a name only).
JPEGTEXT_XMP_NS = "urn:jpegtext:xmp:1/"

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
    ' jpegtext:v="1">'
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
    packet = _TEMPLATE.replace("{caption}", escaped).encode("utf-8")
    if len(XMP_HEADER) + len(packet) > MAX_SEGMENT_DATA:
        raise PayloadError(
            f"the caption is too long for the XMP mirror ({len(packet)} bytes of XMP, at most "
            f"{MAX_SEGMENT_DATA - len(XMP_HEADER)}); encode without the XMP mirror"
        )
    return packet


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
