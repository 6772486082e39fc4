"""JPEG codec of jpegtext: pixels, the marker walker, the caption payload and QF estimation.

Imports only Pillow, numpy and the standard library (never torch), so the ``info`` command and
transmission code that only reads captions stay light.
"""

from __future__ import annotations

from jpegtext.codec.image import (
    ACCEPTED_FORMATS,
    SUBSAMPLINGS,
    ImageSource,
    check_pixel_limit,
    default_max_pixels,
    encode_jpeg,
    encode_jpeg_within,
    load_image,
    read_metadata_description,
    validate_quality,
)
from jpegtext.codec.jpegfile import JpegFile, decode_jpeg, parse_file
from jpegtext.codec.markers import (
    FrameHeader,
    JpegLayout,
    Segment,
    parse_jpeg,
    walk_segments,
)
from jpegtext.codec.payload import (
    MAGIC,
    MAX_CAPTION_BYTES,
    PAYLOAD_VERSION,
    FoundPayload,
    Payload,
    build_payload_data,
    embed_caption,
    find_payload,
    read_payload,
    strip_caption,
)
from jpegtext.codec.quality import QualityEstimate, estimate_quality, ijg_tables

__all__ = [
    "ACCEPTED_FORMATS",
    "MAGIC",
    "MAX_CAPTION_BYTES",
    "PAYLOAD_VERSION",
    "SUBSAMPLINGS",
    "FoundPayload",
    "FrameHeader",
    "ImageSource",
    "JpegFile",
    "JpegLayout",
    "Payload",
    "QualityEstimate",
    "Segment",
    "build_payload_data",
    "check_pixel_limit",
    "decode_jpeg",
    "default_max_pixels",
    "embed_caption",
    "encode_jpeg",
    "encode_jpeg_within",
    "estimate_quality",
    "find_payload",
    "ijg_tables",
    "load_image",
    "parse_file",
    "parse_jpeg",
    "read_metadata_description",
    "read_payload",
    "strip_caption",
    "validate_quality",
    "walk_segments",
]
