"""One parsed JPEG file: every reader of a JPEG (inspect, read_caption, decode, the receiver)
works from one :class:`JpegFile`.

:func:`parse_file` walks the markers once and keeps what each reader needs: the segments, frame
and tables (:class:`~jpegtext.codec.markers.JpegLayout`), the caption payload, the quality
estimate, the ICC profile (reassembled from the APP2 ``ICC_PROFILE`` chunks by sequence number)
and the EXIF orientation (read from the APP1 Exif block), all without Pillow. The pixels are
decoded on first use by :meth:`JpegFile.pixels`, with a single ``PIL.Image.open``, and cached.
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass, field

import numpy as np

from jpegtext.codec.markers import APP1, JpegLayout, Segment, parse_jpeg
from jpegtext.codec.payload import FoundPayload, find_payload
from jpegtext.codec.quality import QualityEstimate, estimate_quality
from jpegtext.errors import ConfigError, PayloadError

__all__ = ["JpegFile", "decode_jpeg", "parse_file", "read_exif_orientation", "read_icc_profile"]

log = logging.getLogger(__name__)

_APP2 = 0xE2
_ICC_MAGIC = b"ICC_PROFILE\x00"
_EXIF_MAGIC = b"Exif\x00\x00"
_ORIENTATION_TAG = 0x0112


@dataclass(frozen=True)
class JpegFile:
    """A JPEG stream parsed once.

    Attributes:
        data: the complete stream.
        layout: segments, frame header and quantisation tables.
        payload: the caption payload found, or None (none, or a damaged one read past).
        payload_error: why a damaged payload was read past (``parse_file(...,
            payload_errors="keep")``), else None.
        quality: the quality estimate from the tables (``kind`` "exact" / "estimated" / None).
        icc_profile: the ICC profile from the APP2 chunks, or None (none, or chunks missing).
        orientation: the EXIF orientation 1..8 (1 when absent or unreadable).
        max_pixels: the pixel limit the decode in :meth:`pixels` applies (None = Pillow's).
    """

    data: bytes = field(repr=False)
    layout: JpegLayout = field(repr=False)
    payload: FoundPayload | None
    payload_error: str | None
    quality: QualityEstimate
    icc_profile: bytes | None
    orientation: int
    max_pixels: int | None = None
    _cache: dict[str, np.ndarray] = field(default_factory=dict, repr=False, compare=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    @property
    def caption(self) -> str | None:
        """The stored caption, or None."""
        return self.payload.payload.caption if self.payload is not None else None

    @property
    def payload_quality(self) -> int | None:
        """The quality recorded in the payload, or None."""
        return self.payload.payload.quality if self.payload is not None else None

    @property
    def grayscale(self) -> bool:
        """Whether the frame has a single (gray) component."""
        return self.layout.frame.subsampling == "gray"

    def pixels(self) -> np.ndarray:
        """The decoded image, EXIF orientation applied: decoded once, then the same array.

        Returns:
            (H, W, 3) uint8 RGB in [0, 255], C-contiguous and writable (grayscale files give
            three equal channels). Every call returns the same array, so a caller that writes
            to it changes what later callers see: copy it first when sharing the file.

        Raises:
            InvalidJpegError: the entropy-coded data cannot be decoded.
            InvalidImageError: over the pixel limit (checked again by Pillow).
        """
        with self._lock:
            arr = self._cache.get("rgb")
            if arr is None:
                arr = _decode(self)
                self._cache["rgb"] = arr
        return arr


def parse_file(
    data: bytes | bytearray | memoryview | str | os.PathLike[str],
    *,
    max_pixels: int | None = None,
    payload_errors: str = "raise",
    check_size: bool = True,
) -> JpegFile:
    """Parse a JPEG stream once (headers only; pixels are decoded by :meth:`JpegFile.pixels`).

    Args:
        data: the JPEG bytes, or a path (``str`` is always a path).
        max_pixels: refuse frames that declare more pixels (decompression-bomb guard); default
            ``PIL.Image.MAX_IMAGE_PIXELS``.
        payload_errors: ``"raise"`` a damaged payload, or ``"keep"`` reading: the file then has
            no payload and says why in :attr:`JpegFile.payload_error`.
        check_size: False skips the pixel limit for a reader of headers only
            (``read_caption``); :meth:`JpegFile.pixels` still checks it (Pillow's limit).

    Raises:
        InvalidJpegError: not a complete JPEG stream.
        InvalidImageError: the frame declares more than ``max_pixels`` pixels.
        PayloadError: a damaged payload (with ``payload_errors="raise"``).
        ConfigError: ``data`` is not bytes or a path, or a bad ``payload_errors``.
        OSError: a path cannot be read.
    """
    from jpegtext.codec.image import check_pixel_limit

    if payload_errors not in ("raise", "keep"):
        raise ConfigError(f'Invalid payload_errors "{payload_errors}", should be "raise" or '
                          '"keep"')
    raw = _read(data)
    layout = parse_jpeg(raw)
    frame = layout.frame
    if check_size:
        check_pixel_limit(frame.width, frame.height, max_pixels, "the JPEG")
    payload: FoundPayload | None = None
    error: str | None = None
    try:
        payload = find_payload(layout.segments)
    except PayloadError as exc:
        if payload_errors == "raise":
            raise
        error = str(exc)
    return JpegFile(
        data=raw,
        layout=layout,
        payload=payload,
        payload_error=error,
        quality=estimate_quality(layout.qtables, frame),
        icc_profile=read_icc_profile(layout.segments),
        orientation=read_exif_orientation(layout.segments),
        max_pixels=max_pixels,
    )


def decode_jpeg(
    data: bytes | bytearray | memoryview | str | os.PathLike, *, max_pixels: int | None = None
) -> np.ndarray:
    """Decode a JPEG to an RGB array, honouring its EXIF orientation.

    A shortcut for ``parse_file(data).pixels()``: the stream is
    walked once and opened with Pillow once; a damaged caption payload does not stop it.

    Args:
        data: the JPEG stream, or a path to a JPEG file.
        max_pixels: refuse frames larger than this before decoding; default
            :func:`default_max_pixels`.

    Returns:
        (H, W, 3) uint8 RGB in [0, 255], C-contiguous and writable (grayscale files give three
        equal channels; H, W after the orientation is applied).

    Raises:
        InvalidJpegError: the data is not a complete, decodable JPEG.
        InvalidImageError: the frame is over the pixel limit.
        OSError: a path cannot be read.
    """
    return parse_file(_read(data), max_pixels=max_pixels, payload_errors="keep").pixels()


def _read(data: bytes | bytearray | memoryview | str | os.PathLike[str]) -> bytes:
    from pathlib import Path

    if isinstance(data, (bytes, bytearray, memoryview)):
        return bytes(data)
    if isinstance(data, (str, os.PathLike)):
        return Path(data).read_bytes()
    raise ConfigError(
        f"expected the JPEG file as bytes or a path, not {type(data).__name__}: a decoded image "
        "has lost the caption and the quantisation tables (pass the file's bytes)"
    )


def read_icc_profile(segments: tuple[Segment, ...]) -> bytes | None:
    """The ICC profile stored in APP2 ``ICC_PROFILE`` chunks, joined by sequence number.

    As Pillow does: the chunks are ordered by their sequence number and joined when their count
    equals the count the first chunk declares; otherwise (a chunk lost) there is no profile.
    """
    chunks = [s.data for s in segments if s.marker == _APP2 and s.data.startswith(_ICC_MAGIC)]
    chunks = [c for c in chunks if len(c) >= 14]
    if not chunks:
        return None
    chunks.sort(key=lambda c: c[12])
    if chunks[0][13] != len(chunks):
        log.info("ignoring an ICC profile of %d chunk(s) that declares %d", len(chunks),
                 chunks[0][13])
        return None
    profile = b"".join(c[14:] for c in chunks)
    return profile or None


def read_exif_orientation(segments: tuple[Segment, ...]) -> int:
    """The EXIF orientation (tag 0x0112 of IFD0) of the first APP1 Exif block; 1 if none.

    An unreadable block is logged and read as 1 (a corrupt EXIF must not hide the image).
    """
    block = next((s.data for s in segments if s.marker == APP1
                  and s.data.startswith(_EXIF_MAGIC)), None)
    if block is None:
        return 1
    tiff = block[len(_EXIF_MAGIC):]
    try:
        order = {b"II": "little", b"MM": "big"}[tiff[:2]]
        if int.from_bytes(tiff[2:4], order) != 42:  # type: ignore[arg-type]
            raise ValueError("no TIFF magic")
        ifd = int.from_bytes(tiff[4:8], order)  # type: ignore[arg-type]
        count = int.from_bytes(tiff[ifd:ifd + 2], order)  # type: ignore[arg-type]
        if ifd + 2 + 12 * count > len(tiff):
            raise ValueError("IFD0 runs past the block")
        for i in range(count):
            entry = tiff[ifd + 2 + 12 * i: ifd + 14 + 12 * i]
            tag = int.from_bytes(entry[:2], order)  # type: ignore[arg-type]
            if tag != _ORIENTATION_TAG:
                continue
            kind = int.from_bytes(entry[2:4], order)  # type: ignore[arg-type]
            value = int.from_bytes(entry[8:10] if kind == 3 else entry[8:12], order)  # type: ignore[arg-type]
            return value if 1 <= value <= 8 else 1
    except (KeyError, ValueError) as exc:
        log.warning("ignoring unreadable EXIF data: %s", exc)
    return 1


# Orientation -> the numpy view that undoes it (as PIL.ImageOps.exif_transpose).
def _oriented(arr: np.ndarray, orientation: int) -> np.ndarray:
    if orientation == 2:
        arr = arr[:, ::-1]
    elif orientation == 3:
        arr = arr[::-1, ::-1]
    elif orientation == 4:
        arr = arr[::-1]
    elif orientation == 5:
        arr = arr.transpose(1, 0, 2)
    elif orientation == 6:
        arr = arr.transpose(1, 0, 2)[:, ::-1]
    elif orientation == 7:
        arr = arr.transpose(1, 0, 2)[::-1, ::-1]
    elif orientation == 8:
        arr = arr.transpose(1, 0, 2)[::-1]
    return arr


def unoriented(arr: np.ndarray, orientation: int) -> np.ndarray:
    """Undo :func:`_oriented`: an array shown in EXIF ``orientation`` back in the file's own."""
    if orientation == 6:
        return arr[:, ::-1].transpose(1, 0, 2)
    if orientation == 7:
        return arr[::-1, ::-1].transpose(1, 0, 2)
    if orientation == 8:
        return arr[::-1].transpose(1, 0, 2)
    return _oriented(arr, orientation)  # 1-5 are their own inverses


def _decode(file: JpegFile) -> np.ndarray:
    from jpegtext.codec.image import _decode_with_pillow, to_rgb

    im = to_rgb(_decode_with_pillow(file.data, ("JPEG",), file.max_pixels))
    arr = np.array(im)  # writable and C-contiguous: the restorer need not copy it again
    if file.orientation != 1:
        arr = np.ascontiguousarray(_oriented(arr, file.orientation))
    return arr
