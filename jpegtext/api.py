"""The bytes-in / bytes-out library API of jpegtext (sender side and inspection).

``encode`` compresses an image at a low JPEG quality and stores a caption of the *clean* image
in the file; ``read_caption`` and ``inspect`` read it back. Images may be given as a path,
encoded bytes, a ``PIL.Image`` or a uint8 numpy array (see :func:`jpegtext.codec.load_image`).
Only Pillow and numpy are imported here; a captioner (and with it torch/transformers) is
imported only when a caption has to be generated.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Protocol, runtime_checkable

from PIL import Image

from jpegtext.codec.image import (
    ImageSource,
    encode_jpeg,
    encode_jpeg_within,
    is_integer,
    load_image,
    validate_quality,
)
from jpegtext.codec.jpegfile import JpegFile, parse_file
from jpegtext.codec.payload import Payload
from jpegtext.errors import ConfigError

__all__ = [
    "Captioner",
    "EncodeResult",
    "JpegInfo",
    "encode",
    "encode_detailed",
    "inspect",
    "read_caption",
    "resolve_captioner",
    "summarize",
]

logger = logging.getLogger(__name__)


@runtime_checkable
class Captioner(Protocol):
    """What ``encode`` needs from a captioner (see ``jpegtext.captioner``)."""

    name: str

    def __call__(self, images: Sequence[Image.Image]) -> list[str]: ...


@dataclass(frozen=True)
class EncodeResult:
    """What :func:`encode_detailed` produced.

    Attributes:
        data: the JPEG file.
        caption: the caption stored in it.
        captioner: name of the captioner that wrote the caption; None when it was given.
        quality: the JPEG quality used (the one chosen for a ``max_bytes`` budget).
    """

    data: bytes
    caption: str
    captioner: str | None
    quality: int


def resolve_captioner(captioner: str | Captioner | None) -> Captioner:
    """A captioner object from a name, an object, or None for the default one.

    Raises:
        ConfigError: an unknown name (from ``jpegtext.captioner.get_captioner``) or an object
            that does not follow the captioner contract.
    """
    if captioner is None:
        from jpegtext.captioner import default_captioner

        return default_captioner()
    if isinstance(captioner, str):
        from jpegtext.captioner import get_captioner

        return get_captioner(captioner)
    if not callable(captioner) or not isinstance(getattr(captioner, "name", None), str):
        raise ConfigError(
            "captioner must be a name or an object with a `name` str and a "
            f"`__call__(images) -> list[str]`, got {type(captioner).__name__}"
        )
    return captioner


def check_max_pixels(max_pixels: object) -> int | None:
    """``max_pixels`` (a pixel limit) as an int >= 1, or None (Pillow's limit).

    Raises:
        ConfigError: anything else (a bool, float, str, or a number below 1), quoted.
    """
    if max_pixels is None:
        return None
    if not is_integer(max_pixels) or max_pixels < 1:
        raise ConfigError(f'Invalid max_pixels "{max_pixels!r}", should be None or an integer '
                          ">= 1")
    return int(max_pixels)


def _run_captioner(captioner: Captioner, image: Image.Image) -> str:
    captions = captioner([image])
    if (
        not isinstance(captions, (list, tuple))
        or len(captions) != 1
        or not isinstance(captions[0], str)
    ):
        raise TypeError(
            f"captioner {captioner.name!r} must return a list of one str per image, got "
            f"{captions!r:.200}"
        )
    return captions[0]


def encode_detailed(
    image: ImageSource,
    quality: int = 1,
    *,
    caption: str | None = None,
    captioner: str | Captioner | None = None,
    subsampling: str = "4:2:0",
    xmp: bool = False,
    keep_metadata: bool = True,
    max_pixels: int | None = None,
    max_bytes: int | None = None,
    qualities: tuple[int, int] | None = None,
    optimize: bool = True,
    mozjpeg: bool = False,
) -> EncodeResult:
    """Like :func:`encode`, but also says which caption and captioner were used.

    Returns:
        An :class:`EncodeResult` with the JPEG bytes, the stored caption and the captioner name.
    """
    if max_bytes is None:
        if qualities is not None:
            raise ConfigError("qualities=(lo, hi) is a search range: it needs max_bytes")
        quality = validate_quality(quality)
    elif qualities is None:
        qualities = (1, 100)
    elif not isinstance(qualities, (tuple, list)) or len(qualities) != 2:
        raise ConfigError(f"qualities must be a (lowest, highest) pair, got {qualities!r}")
    if caption is not None and not isinstance(caption, str):
        raise ConfigError(f"caption must be a str, not {type(caption).__name__}")
    max_pixels = check_max_pixels(max_pixels)
    clean = load_image(image, max_pixels=max_pixels)
    name: str | None = None
    if caption is None:
        model = resolve_captioner(captioner)
        caption = _run_captioner(model, clean)
        name = model.name
        logger.info("captioner %s: %r", name, caption)
    elif captioner is not None:
        logger.debug("a caption was given; the captioner %r is not used", captioner)
    if max_bytes is not None:
        text = caption
        data, quality = encode_jpeg_within(
            clean,
            max_bytes,
            qualities=(qualities[0], qualities[1]),
            payload_for=lambda q: Payload(text, name, q),
            subsampling=subsampling,
            xmp=xmp,
            keep_metadata=keep_metadata,
            optimize=optimize,
            mozjpeg=mozjpeg,
        )
        logger.info("budget %d bytes: QF %d, %d bytes", max_bytes, quality, len(data))
    else:
        data = encode_jpeg(
            clean,
            quality,
            subsampling=subsampling,
            payload=Payload(caption, name, quality),
            xmp=xmp,
            keep_metadata=keep_metadata,
            optimize=optimize,
            mozjpeg=mozjpeg,
        )
    return EncodeResult(data=data, caption=caption, captioner=name, quality=quality)


def encode(
    image: ImageSource,
    quality: int = 1,
    *,
    caption: str | None = None,
    captioner: str | Captioner | None = None,
    subsampling: str = "4:2:0",
    xmp: bool = False,
    keep_metadata: bool = True,
    max_pixels: int | None = None,
    max_bytes: int | None = None,
    qualities: tuple[int, int] | None = None,
    optimize: bool = True,
    mozjpeg: bool = False,
) -> bytes:
    """Compress an image to JPEG with a caption of the clean image stored inside.

    Args:
        image: a path, encoded image bytes, a ``PIL.Image``, or a uint8 numpy array (H, W, 3)
            RGB / (H, W) grayscale. EXIF orientation is applied first.
        quality: JPEG quality 1..100 (the TGJAR scheme uses 1..10); ignored when
            ``max_bytes`` is given.
        caption: the caption to store. Wins over ``captioner``.
        captioner: a captioner name (``jpegtext.captioner.get_captioner``) or object (attribute
            ``name``, ``__call__(images) -> list[str]``) that captions the clean image; when
            both ``caption`` and ``captioner`` are None the default captioner is used.
        subsampling: ``"4:2:0"`` or ``"4:4:4"``.
        xmp: also mirror the caption into XMP ``dc:description`` (about 420 bytes plus the
            caption).
        keep_metadata: carry the source's ICC profile (RGB profiles only) and EXIF block.
        max_pixels: pixel limit for encoded inputs (decompression-bomb guard); default
            ``PIL.Image.MAX_IMAGE_PIXELS``.
        max_bytes: a budget for the whole file (caption payload and kept metadata included):
            the highest quality in ``qualities`` whose file is at most this many bytes is used
            (:func:`jpegtext.codec.encode_jpeg_within`); the file is never larger.
        qualities: the (lowest, highest) quality the ``max_bytes`` search may choose; default
            (1, 100).
        optimize: Huffman tables fitted to the image (default; same pixels, a baseline file
            every decoder reads, ~half the bytes at QF 1); False writes the standard tables.
        mozjpeg: also pass the file through mozjpeg's lossless optimizer (progressive scans,
            same pixels, ~14 % fewer bytes at QF 1; needs ``jpegtext[mozjpeg]``).

    Returns:
        The JPEG file as bytes (:func:`encode_detailed` also says the quality chosen).

    Raises:
        BudgetError: even the lowest quality of ``qualities`` does not fit ``max_bytes``; the
            message names the smallest size possible and what takes the space.
        MissingDependencyError: ``mozjpeg=True`` without mozjpeg-lossless-optimization.
        ConfigError: invalid quality, quality range, budget, subsampling, caption type,
            captioner or ``max_pixels``.
        InvalidImageError: the image cannot be read or is over the pixel limit.
        PayloadError: the caption cannot be stored (lone surrogates, over
            :data:`jpegtext.codec.MAX_CAPTION_BYTES`, or not XMP-safe with ``xmp=True``).
    """
    return encode_detailed(
        image,
        quality,
        caption=caption,
        captioner=captioner,
        subsampling=subsampling,
        xmp=xmp,
        keep_metadata=keep_metadata,
        max_pixels=max_pixels,
        max_bytes=max_bytes,
        qualities=qualities,
        optimize=optimize,
        mozjpeg=mozjpeg,
    ).data


def read_caption(
    data: bytes | bytearray | memoryview | str | os.PathLike | JpegFile,
) -> str | None:
    """The caption stored in a JPEG file, or None when it has none.

    The COM payload is read first; a file that lost its COM segments but kept jpegtext's XMP
    mirror gives the mirrored caption.

    Args:
        data: the JPEG bytes, a path (``str`` is always a path), or a parsed
            :class:`~jpegtext.codec.jpegfile.JpegFile`.

    Raises:
        InvalidJpegError: not a complete JPEG stream.
        PayloadError: the payload is corrupt or incomplete (never a changed caption).
        OSError: a path cannot be read.
    """
    if isinstance(data, JpegFile):
        return data.caption
    return parse_file(data, check_size=False).caption  # headers only: no size limit applies


@dataclass(frozen=True)
class JpegInfo:
    """What :func:`inspect` learns about a JPEG file.

    Attributes:
        caption: the stored caption, or None.
        captioner: the captioner recorded in the payload (None for a given caption or none).
        caption_source: ``"com"``, ``"xmp"`` (only the XMP mirror survived) or None.
        payload_quality: the quality recorded in the payload, or None.
        estimated_quality: the IJG quality read from the tables: exact for libjpeg's tables,
            else the nearest IJG quality (see ``quality_kind``); None when unknown (CMYK).
        standard_tables: whether the tables are IJG tables of some quality.
        quality_mismatch: the payload records a quality that the tables do not show (the file
            was re-encoded on the way).
        width, height: frame size in pixels (before any EXIF orientation).
        subsampling: ``"4:2:0"``, ``"4:4:4"``, ``"4:2:2"``, ``"gray"`` or ``"other"``.
        total_bytes: file size.
        caption_bytes: bytes spent on the caption: every payload segment with its marker and
            length field, plus the XMP mirror segment when present.
        image_bytes: ``total_bytes - caption_bytes``.
        payload_segments: number of COM segments holding the payload.
        payload_version: the payload's version (1 or 2), or None without a caption.
        caption_verified: the caption's integrity hash was checked and matched (payload v2);
            False for version 1 files, which cannot be checked; None without a caption.
        warnings: problems found while reading that did not stop it (e.g. an XMP mirror that
            disagrees with the COM payload).
        quality_kind: ``"exact"`` (libjpeg's tables), ``"estimated"`` (the nearest IJG quality
            to other tables) or None (unknown).
    """

    caption: str | None
    captioner: str | None
    caption_source: str | None
    payload_quality: int | None
    estimated_quality: int | None
    standard_tables: bool
    quality_mismatch: bool
    width: int
    height: int
    subsampling: str
    total_bytes: int
    caption_bytes: int
    image_bytes: int
    payload_segments: int
    payload_version: int | None = None
    caption_verified: bool | None = None
    warnings: tuple[str, ...] = ()
    quality_kind: str | None = None

    @property
    def quality(self) -> int | None:
        """The file's quality: estimated from the tables, else the payload's record."""
        return (
            self.estimated_quality if self.estimated_quality is not None else self.payload_quality
        )

    @property
    def caption_share(self) -> float:
        """Fraction of the file spent on the caption, in [0, 1]."""
        return self.caption_bytes / self.total_bytes if self.total_bytes else 0.0

    def to_dict(self) -> dict[str, Any]:
        """All fields plus ``quality`` and ``caption_share``, JSON-serialisable."""
        out = asdict(self)
        out["quality"] = self.quality
        out["caption_share"] = self.caption_share
        return out


def inspect(
    data: bytes | bytearray | memoryview | str | os.PathLike | JpegFile,
    *,
    max_pixels: int | None = None,
) -> JpegInfo:
    """Caption, quality and sizes of a JPEG file, from its headers only (no pixel decoding).

    Args:
        data: the JPEG bytes, a path, or a parsed :class:`~jpegtext.codec.jpegfile.JpegFile`
            (summarised as it is: ``max_pixels`` was checked when it was parsed).
        max_pixels: refuse frames that declare more pixels (decompression-bomb guard, as for
            decoding); default ``PIL.Image.MAX_IMAGE_PIXELS``.

    Raises:
        InvalidJpegError: not a complete JPEG stream.
        InvalidImageError: the frame declares more than ``max_pixels`` pixels.
        PayloadError: the payload is corrupt or incomplete.
        ConfigError: ``data`` is not bytes, a path or a JpegFile; ``max_pixels`` is not None
            or an integer >= 1.
        OSError: a path cannot be read.
    """
    max_pixels = check_max_pixels(max_pixels)
    file = data if isinstance(data, JpegFile) else parse_file(data, max_pixels=max_pixels)
    return summarize(file)


def summarize(file: JpegFile) -> JpegInfo:
    """The :class:`JpegInfo` of a parsed file (a payload read past counts as none)."""
    frame = file.layout.frame
    found = file.payload
    payload = found.payload if found is not None else None
    caption_bytes = found.size if found is not None else 0
    payload_q = payload.quality if payload is not None else None
    total = len(file.data)
    return JpegInfo(
        caption=payload.caption if payload is not None else None,
        captioner=payload.captioner if payload is not None else None,
        caption_source=found.source if found is not None else None,
        payload_quality=payload_q,
        estimated_quality=file.quality.quality,
        standard_tables=file.quality.standard_tables,
        quality_mismatch=payload_q is not None and payload_q != file.quality.quality,
        width=frame.width,
        height=frame.height,
        subsampling=frame.subsampling,
        total_bytes=total,
        caption_bytes=caption_bytes,
        image_bytes=total - caption_bytes,
        payload_segments=len(found.segments) if found is not None else 0,
        payload_version=found.version if found is not None else None,
        caption_verified=found.verified if found is not None else None,
        warnings=found.warnings if found is not None else (),
        quality_kind=file.quality.kind,
    )
