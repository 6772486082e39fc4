"""Pixels in and out: loading any supported image, JPEG encoding and decoding through Pillow.

Every input the library accepts goes through :func:`load_image`, which returns an RGB
``PIL.Image`` with the EXIF orientation applied, refuses images over a pixel limit before
decoding them (decompression bombs), and turns every decoder failure into
:class:`~jpegtext.errors.InvalidImageError`. The encoder is Pillow's libjpeg-turbo binding: with
a payload that fits one COM segment the file is written in a single pass. Huffman tables are
fitted to each image by default (``optimize``): a baseline JPEG that every decoder reads, the
same pixels, and at QF 1 about half the bytes of the standard tables. :func:`encode_jpeg_within`
finds the highest quality whose complete file fits a byte budget.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import re
import struct
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from jpegtext.codec.markers import COM, parse_jpeg, segment_bytes, walk_segments
from jpegtext.codec.payload import Payload, build_payload_data, splice_segments
from jpegtext.codec.xmp import build_xmp_mirror, parse_xmp_description
from jpegtext.errors import (
    BudgetError,
    ConfigError,
    InvalidImageError,
    InvalidJpegError,
    PayloadError,
)

__all__ = [
    "ACCEPTED_FORMATS",
    "SUBSAMPLINGS",
    "ImageSource",
    "JPEG_MAX_SIDE",
    "check_jpeg_side",
    "check_pixel_limit",
    "default_max_pixels",
    "encode_jpeg",
    "encode_jpeg_within",
    "highest_quality_within",
    "load_image",
    "probe_image",
    "read_metadata_description",
    "to_rgb",
    "validate_quality",
]

logger = logging.getLogger(__name__)

#: What the API accepts as an image: a path, encoded bytes, a PIL image, or a uint8 array of
#: shape (H, W, 3) RGB or (H, W) grayscale.
ImageSource = str | os.PathLike | bytes | bytearray | memoryview | Image.Image | np.ndarray

#: Pillow formats :func:`load_image` opens (JPEG includes MPO). Formats that run external
#: programs (EPS through Ghostscript) or are rarely photos are left out on purpose.
ACCEPTED_FORMATS = ("JPEG", "PNG", "WEBP", "TIFF", "BMP", "GIF", "PPM")

#: The longest side a JPEG can have here: libjpeg's ``JPEG_MAX_DIMENSION`` (the format's own
#: limit is 65,535); Pillow's encoder fails past it with an untyped "broken data stream".
JPEG_MAX_SIDE = 65_500

#: Chroma subsampling modes :func:`encode_jpeg` writes.
SUBSAMPLINGS = ("4:2:0", "4:4:4")

_ORIENTATION = 0x0112
_IMAGE_DESCRIPTION = 0x010E
# Exceptions Pillow's decoders raise on malformed data; anything else is a bug worth seeing.
_DECODE_ERRORS = (
    OSError,
    ValueError,
    SyntaxError,
    EOFError,
    struct.error,
    IndexError,
    KeyError,
    TypeError,
    Image.DecompressionBombError,
)


def default_max_pixels() -> int | None:
    """The pixel limit used when none is given: Pillow's ``PIL.Image.MAX_IMAGE_PIXELS``.

    That is 89,478,485 pixels (about 0.25 GiB as RGB) unless the application changed it; None
    disables the check. It is read at call time, so setting Pillow's limit also sets ours.
    """
    return Image.MAX_IMAGE_PIXELS


def is_integer(value: object) -> bool:
    """An int or a numpy integer, and not a bool (``True`` is an int to Python, never a size
    or a quality here)."""
    return not isinstance(value, bool) and isinstance(value, (int, np.integer))


def validate_quality(quality: object) -> int:
    """``quality`` as an int in 1..100.

    Raises:
        ConfigError: anything else, with the bad value quoted.
    """
    if not is_integer(quality):
        raise ConfigError(f'Invalid quality "{quality!r}", should be an integer between 1 and 100')
    if not 1 <= int(quality) <= 100:
        raise ConfigError(f'Invalid quality "{quality}", should be between 1 and 100')
    return int(quality)


def check_pixel_limit(width: int, height: int, max_pixels: int | None, what: str) -> None:
    """Refuse a ``width`` x ``height`` image over ``max_pixels`` (default: Pillow's limit).

    Raises:
        InvalidImageError: over the limit; the message names ``what``, the size and the limit.
    """
    limit = default_max_pixels() if max_pixels is None else max_pixels
    if limit is not None and width * height > limit:
        raise InvalidImageError(
            f"{what} is {width}x{height} = {width * height:,} pixels, over the limit of "
            f"{limit:,} (decompression-bomb guard; raise it with max_pixels / --max-pixels)"
        )


def check_jpeg_side(width: int, height: int) -> None:
    """Refuse an image a JPEG cannot hold (a side over :data:`JPEG_MAX_SIDE`).

    Raises:
        InvalidImageError: the message names the size and the limit.
    """
    if max(width, height) > JPEG_MAX_SIDE:
        raise InvalidImageError(
            f"the image is {width}x{height}: a JPEG holds at most {JPEG_MAX_SIDE:,} pixels per "
            "side (resize it first)"
        )


def probe_image(data: bytes, *, max_pixels: int | None = None) -> tuple[int, int]:
    """Check an encoded image the way :func:`load_image` and :func:`encode_jpeg` would, without
    decoding its pixels: a supported format, the pixel limit, a side a JPEG can hold, a mode
    that converts to RGB and, for PNG, every chunk present with its checksum (a truncated file
    is found here). For a service that answers bad inputs before queueing work.

    Args:
        data: encoded bytes of any of :data:`ACCEPTED_FORMATS` (a JPEG is walked by
            :func:`~jpegtext.codec.markers.parse_jpeg`, its scans included).
        max_pixels: as :func:`load_image`.

    Returns:
        (width, height) as stored (before any EXIF rotation).

    Raises:
        InvalidImageError: empty, not a supported image, unreadable, over a limit, or a mode
            :func:`load_image` refuses.
        InvalidJpegError: a JPEG stream is malformed or truncated.
    """
    if not data:
        raise InvalidImageError("not an image: the data is empty")
    if data[:2] == b"\xff\xd8":
        frame = parse_jpeg(data).frame
        check_pixel_limit(frame.width, frame.height, max_pixels, "the JPEG")
        check_jpeg_side(frame.width, frame.height)
        return frame.width, frame.height
    with _typed_errors(data, ACCEPTED_FORMATS, max_pixels, "read"), \
            Image.open(io.BytesIO(data), formats=list(ACCEPTED_FORMATS)) as im:
        size, mode, fmt = im.size, im.mode, im.format
        check_pixel_limit(*size, max_pixels, f"the {fmt} image")
        check_jpeg_side(*size)
        if mode == "F":
            raise InvalidImageError("floating-point images are not supported: convert to 8 bits")
        if fmt == "PNG":
            im.verify()  # walks every chunk to IEND checking CRCs; inflates nothing
    return size


@contextlib.contextmanager
def _typed_errors(data: bytes, formats: Sequence[str], max_pixels: int | None,
                  verb: str) -> Iterator[None]:
    """Pillow's exceptions while it opens ``data`` raised as jpegtext's typed errors."""
    try:
        yield
    except Image.UnidentifiedImageError:
        raise InvalidImageError(
            f"not a supported image (accepted formats: {', '.join(formats)})"
        ) from None
    except InvalidImageError:
        raise
    except Image.DecompressionBombError as exc:
        raise InvalidImageError(_bomb_message(exc, max_pixels)) from None
    except _DECODE_ERRORS as exc:
        cls = InvalidJpegError if data[:2] == b"\xff\xd8" else InvalidImageError
        raise cls(f"cannot {verb} the image: {exc}") from None


def _read_source(src: str | os.PathLike | bytes | bytearray | memoryview) -> bytes:
    if isinstance(src, (bytes, bytearray, memoryview)):
        return bytes(src)
    return Path(src).read_bytes()


def _open(data: bytes, formats: Sequence[str], max_pixels: int | None) -> Image.Image:
    """Open and fully decode ``data`` with Pillow, checking the size before decoding."""
    if data[:2] == b"\xff\xd8":
        # Our own walker first: precise errors, truncation found without decoding, and the
        # declared size checked before Pillow allocates anything.
        layout = parse_jpeg(data)
        check_pixel_limit(layout.frame.width, layout.frame.height, max_pixels, "the JPEG")
    elif not data:
        raise InvalidImageError("not an image: the data is empty")
    return _decode_with_pillow(data, formats, max_pixels)


def _decode_with_pillow(data: bytes, formats: Sequence[str], max_pixels: int | None
                        ) -> Image.Image:
    """Open and fully decode ``data`` with one ``Image.open`` (the stream already checked)."""
    pillow_limit = Image.MAX_IMAGE_PIXELS
    raised = max_pixels is not None and pillow_limit is not None and max_pixels > pillow_limit
    # With a limit above Pillow's, Pillow's own warning is noise. catch_warnings() changes
    # process-wide state, so it is used only then (the default path stays thread-safe).
    with warnings.catch_warnings() if raised else contextlib.nullcontext():
        if raised:
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        with _typed_errors(data, formats, max_pixels, "decode"):
            im = Image.open(io.BytesIO(data), formats=list(formats))
            check_pixel_limit(im.width, im.height, max_pixels, f"the {im.format} image")
            im.load()
    return im


def _bomb_message(exc: Image.DecompressionBombError, max_pixels: int | None) -> str:
    """Pillow's refusal (before jpegtext could read the size) in jpegtext's words."""
    found = re.search(r"\((\d+) pixels\)", str(exc))
    size = f"{int(found.group(1)):,} pixels" if found else "too many pixels"
    limit = default_max_pixels() if max_pixels is None else max_pixels
    hard = 2 * Image.MAX_IMAGE_PIXELS if Image.MAX_IMAGE_PIXELS else None
    if max_pixels is not None and hard is not None and max_pixels > hard:
        # Only from the library: the CLI's --max-pixels lifts Pillow's limit too.
        return (f"the image has {size}, over Pillow's hard limit of {hard:,} even though "
                f"max_pixels={max_pixels:,} allows it: raise PIL.Image.MAX_IMAGE_PIXELS too")
    return (f"the image has {size}, over the limit of {limit:,} (decompression-bomb guard; "
            "raise it with max_pixels / --max-pixels)")


def to_rgb(im: Image.Image) -> Image.Image:
    """``im`` in mode RGB as the codec reads it (the conversion :func:`load_image` applies).

    Alpha is composited on white, 16-bit grayscale (``I;16``, ``I``) is scaled to 8 bits rather
    than clipped, palettes are expanded; an RGB image is returned as is. No EXIF orientation is
    applied.

    Raises:
        InvalidImageError: a mode that has no RGB reading (floating point, LAB, HSV, ...).
    """
    if im.mode == "RGB":
        return im
    if im.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I"):
        # 16-bit grayscale (PNG/TIFF): Pillow's convert() would clip at 255 instead of scaling.
        arr = np.asarray(im, dtype=np.float64)
        gray = np.clip(np.rint(arr / 257.0), 0, 255).astype(np.uint8)
        out = Image.fromarray(gray, mode="L").convert("RGB")
        out.info = dict(im.info)
        return out
    if im.mode == "F":
        raise InvalidImageError("floating-point images are not supported: convert to 8 bits")
    has_alpha = im.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (
        im.mode == "P" and "transparency" in im.info
    )
    if has_alpha:
        try:
            # Pillow has no La -> RGBA conversion; La -> LA undoes the premultiplied alpha.
            rgba = (im.convert("LA") if im.mode == "La" else im).convert("RGBA")
        except ValueError as exc:
            raise InvalidImageError(f"cannot convert a {im.mode} image to RGB: {exc}") from None
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        out = Image.alpha_composite(background, rgba).convert("RGB")
        out.info = dict(im.info)
        return out
    try:
        out = im.convert("RGB")
    except ValueError as exc:  # modes Pillow cannot convert (LAB, HSV, ...)
        raise InvalidImageError(f"cannot convert a {im.mode} image to RGB: {exc}") from None
    out.info = dict(im.info)
    return out


def _apply_orientation(im: Image.Image) -> Image.Image:
    try:
        orientation = im.getexif().get(_ORIENTATION, 1)
    except _DECODE_ERRORS as exc:  # a corrupt EXIF block must not hide the image
        logger.warning("ignoring unreadable EXIF data: %s", exc)
        return im
    if orientation in (2, 3, 4, 5, 6, 7, 8):
        # exif_transpose also removes the tag from info["exif"], so the carried EXIF stays true.
        return ImageOps.exif_transpose(im)
    return im


def load_image(src: ImageSource, *, max_pixels: int | None = None) -> Image.Image:
    """Load any accepted image as an RGB ``PIL.Image`` with its EXIF orientation applied.

    The returned image keeps ``info["icc_profile"]`` and ``info["exif"]`` (orientation tag
    removed once applied) for carrying them into the JPEG. A PIL image in mode RGB that needs no
    rotation is returned as is (not copied); the caller's image is never modified.

    Args:
        src: a path, encoded image bytes (any of :data:`ACCEPTED_FORMATS`), a ``PIL.Image``, or
            a ``numpy`` uint8 array of shape (H, W, 3) RGB or (H, W) grayscale.
        max_pixels: refuse encoded images larger than this many pixels before decoding them;
            default :func:`default_max_pixels`. Pillow's own hard limit (twice
            ``PIL.Image.MAX_IMAGE_PIXELS``) still applies on top.

    Returns:
        An RGB image (grayscale is expanded to three equal channels, alpha composited on white,
        16-bit grayscale scaled to 8 bits).

    Raises:
        InvalidImageError: unsupported format, undecodable data, a bad array, or over the limit.
        InvalidJpegError: a JPEG input is malformed or truncated.
        OSError: a path cannot be read.
    """
    if isinstance(src, np.ndarray):
        im = Image.fromarray(_check_array(src))
        return im if im.mode == "RGB" else im.convert("RGB")
    if isinstance(src, Image.Image):
        try:
            src.load()
        except _DECODE_ERRORS as exc:
            raise InvalidImageError(f"cannot decode the image: {exc}") from None
        if src.width == 0 or src.height == 0:
            raise InvalidImageError(f"the image is empty ({src.width}x{src.height})")
        return to_rgb(_apply_orientation(src))
    if not isinstance(src, (str, os.PathLike, bytes, bytearray, memoryview)):
        raise TypeError(
            "image must be a path, bytes, a PIL.Image or a uint8 numpy array, not "
            f"{type(src).__name__}"
        )
    im = _open(_read_source(src), ACCEPTED_FORMATS, max_pixels)
    return to_rgb(_apply_orientation(im))


def _check_array(arr: np.ndarray) -> np.ndarray:
    if arr.dtype != np.uint8:
        raise InvalidImageError(
            f"arrays must be uint8 (H, W, 3) RGB or (H, W) grayscale, got dtype {arr.dtype}"
        )
    if not (arr.ndim == 2 or (arr.ndim == 3 and arr.shape[2] == 3)):
        raise InvalidImageError(
            f"arrays must be uint8 (H, W, 3) RGB or (H, W) grayscale, got shape {arr.shape}"
        )
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise InvalidImageError(f"the array is empty (shape {arr.shape})")
    return np.ascontiguousarray(arr)


@dataclass(frozen=True)
class _Metadata:
    icc_profile: bytes | None
    exif: bytes | None


def _carried_metadata(im: Image.Image) -> _Metadata:
    """The ICC profile and EXIF block of ``im`` that can go into an RGB JPEG."""
    icc = im.info.get("icc_profile") or None
    if icc is not None and (len(icc) < 20 or icc[16:20] != b"RGB "):
        # A CMYK or gray profile would mislabel the RGB pixels we write.
        logger.info("dropping an ICC profile of colour space %r (the JPEG is RGB)", icc[16:20])
        icc = None
    exif = im.info.get("exif") or None
    if exif is not None and not exif.startswith(b"Exif\x00\x00"):
        exif = b"Exif\x00\x00" + exif
    return _Metadata(icc, exif)


def encode_jpeg(
    image: Image.Image,
    quality: int,
    *,
    subsampling: str = "4:2:0",
    payload: Payload | None = None,
    xmp: bool = False,
    keep_metadata: bool = True,
    optimize: bool = True,
    mozjpeg: bool = False,
) -> bytes:
    """Compress an RGB image to JPEG with an optional caption payload.

    Args:
        image: an RGB image, e.g. from :func:`load_image` (other modes are converted).
        quality: IJG quality 1..100 (1 = strongest compression).
        subsampling: ``"4:2:0"`` (default, as every camera) or ``"4:4:4"``.
        payload: the caption payload to store in COM segments.
        xmp: also mirror the caption into XMP ``dc:description`` (about 420 bytes plus the
            caption).
        keep_metadata: carry the image's ICC profile (if RGB) and EXIF block into the file.
        optimize: fit the Huffman tables to the image (a second pass over the coefficients;
            decoded pixels are identical, the file is still baseline). False writes the
            standard tables of the JPEG specification's Annex K.
        mozjpeg: then pass the file through mozjpeg's lossless optimizer
            (``mozjpeg-lossless-optimization``, ``pip install 'jpegtext[mozjpeg]'``): a
            progressive file with optimized scans, every marker kept, the same pixels and
            quantisation tables, about 14 % smaller at QF 1 (``benchmarks/jpeg_size.py``).

    Returns:
        The JPEG stream.

    Raises:
        MissingDependencyError: ``mozjpeg`` without its package.
        ConfigError: invalid quality or subsampling.
        PayloadError: the payload or its XMP mirror cannot be stored.
        InvalidImageError: the metadata cannot be written (e.g. EXIF over 64 KiB), or a side
            is over :data:`JPEG_MAX_SIDE`.
    """
    quality = validate_quality(quality)
    if subsampling not in SUBSAMPLINGS:
        raise ConfigError(f'Invalid subsampling "{subsampling}", should be one of {SUBSAMPLINGS}')
    check_jpeg_side(image.width, image.height)
    if image.mode != "RGB":
        image = to_rgb(image)
    if xmp and payload is None:
        raise PayloadError("an XMP mirror needs a caption payload")
    datas = build_payload_data(payload) if payload is not None else []
    options: dict[str, object] = {
        "quality": quality,
        "subsampling": subsampling,
        "optimize": bool(optimize),
    }
    if len(datas) == 1:
        options["comment"] = datas[0]  # bytes: a str comment near 64 KiB hangs Pillow 13
    else:
        # Pillow would otherwise copy a COM it read from the source file into ours.
        options["comment"] = b""
    if xmp and payload is not None:
        options["xmp"] = build_xmp_mirror(payload.caption)
    if keep_metadata:
        meta = _carried_metadata(image)
        if meta.icc_profile:
            options["icc_profile"] = meta.icc_profile
        if meta.exif:
            options["exif"] = meta.exif
    buf = io.BytesIO()
    try:
        image.save(buf, format="JPEG", **options)
    except ValueError as exc:
        # Pillow's refusals of oversized EXIF/ICC blocks ("EXIF data is too long").
        raise InvalidImageError(
            f"cannot write the image's metadata: {exc} (encode without keeping metadata)"
        ) from None
    data = buf.getvalue()
    if len(datas) > 1:
        # Several COM segments: Pillow writes only one, so splice them in after encoding.
        segments = walk_segments(data)
        data = splice_segments(data, segments, [segment_bytes(COM, d) for d in datas])
    if mozjpeg:
        data = _mozjpeg_lossless(data)
    return data


def _mozjpeg_lossless(data: bytes) -> bytes:
    """``data`` through mozjpeg's lossless transcoder, every marker segment copied."""
    try:
        import mozjpeg_lossless_optimization as moz
    except ImportError:
        from jpegtext.errors import MissingDependencyError

        raise MissingDependencyError(
            "mozjpeg=True needs mozjpeg-lossless-optimization (pip install 'jpegtext[mozjpeg]')"
        ) from None
    try:
        return bytes(moz.optimize(data, copy=moz.COPY_MARKERS.ALL))
    except ValueError as exc:
        raise InvalidImageError(f"mozjpeg could not optimize the file: {exc}") from None


def _space_report(data: bytes) -> str:
    """What takes the space in ``data``: caption, EXIF, ICC, XMP and the image itself."""
    from jpegtext.codec.markers import APP1
    from jpegtext.codec.payload import MAGIC
    from jpegtext.codec.xmp import is_xmp_segment

    app2 = 0xE2

    parts = {"caption": 0, "EXIF": 0, "ICC": 0, "XMP": 0}
    for seg in walk_segments(data):
        if seg.marker == COM and seg.data.startswith(MAGIC):
            parts["caption"] += seg.size
        elif seg.marker == APP1 and seg.data.startswith(b"Exif\x00\x00"):
            parts["EXIF"] += seg.size
        elif seg.marker == APP1 and is_xmp_segment(seg):
            parts["XMP"] += seg.size  # jpegtext's caption mirror is XMP too
        elif seg.marker == app2 and seg.data.startswith(b"ICC_PROFILE\x00"):
            parts["ICC"] += seg.size
    shown = [f"{name} {n:,}" for name, n in parts.items() if n]
    rest = len(data) - sum(parts.values())
    return ", ".join([*shown, f"image {rest:,}"])


def highest_quality_within(
    encode: Callable[[int], bytes], max_bytes: int, lo: int, hi: int
) -> tuple[bytes, int] | None:
    """The highest quality in ``lo..hi`` whose ``encode(quality)`` is at most ``max_bytes``.

    A bisection over the real encoder keeps a quality that fits and one above it that does not,
    so the result always fits. File sizes are not strictly monotonic in the quality, so the
    three qualities above the one that did not fit are tried too, and the search goes on from
    the highest of them that fits. Each quality is encoded at most once.

    Args:
        encode: quality -> the complete file.
        max_bytes: the budget.
        lo, hi: the inclusive quality range (any integers, e.g. 0..100 for WebP).

    Returns:
        (the file, its quality), or None when even ``lo`` is over the budget.
    """
    files: dict[int, bytes] = {}

    def fits(q: int) -> bool:
        if q not in files:
            files[q] = encode(q)
        return len(files[q]) <= max_bytes

    if not fits(lo):
        return None
    best, top = lo, hi
    while best < top:
        if fits(top):
            best = top
            break
        a, b = best, top  # a fits, b does not
        while b - a > 1:
            m = (a + b) // 2
            if fits(m):
                a = m
            else:
                b = m
        best = a
        above = [q for q in range(b + 1, min(hi, b + 3) + 1) if fits(q)]
        if not above:
            break
        best = max(above)
        top = hi
    return files[best], best


def encode_jpeg_within(
    image: Image.Image,
    max_bytes: int,
    *,
    qualities: tuple[int, int] = (1, 100),
    payload_for: Callable[[int], Payload | None] | None = None,
    subsampling: str = "4:2:0",
    xmp: bool = False,
    keep_metadata: bool = True,
    optimize: bool = True,
    mozjpeg: bool = False,
) -> tuple[bytes, int]:
    """The highest-quality JPEG of ``image`` whose complete file is at most ``max_bytes``.

    The search (:func:`highest_quality_within`) runs the real encoder, caption payload and kept
    metadata included, so the file returned is never over the budget.

    Args:
        image: an RGB image.
        max_bytes: the budget for the whole file, in bytes.
        qualities: the (lowest, highest) quality to consider, inclusive.
        payload_for: the payload to store at a given quality (the payload records it), or None
            for no caption.
        subsampling, xmp, keep_metadata, optimize, mozjpeg: as for :func:`encode_jpeg`.

    Returns:
        (the JPEG stream, its quality).

    Raises:
        BudgetError: even the lowest quality is over the budget; the message names its size
            and what takes the space (caption, EXIF, ICC, XMP, image).
        ConfigError: a bad budget or quality range.
    """
    if isinstance(max_bytes, bool) or not isinstance(max_bytes, (int, np.integer)):
        raise ConfigError(f'Invalid byte budget "{max_bytes!r}", should be an integer')
    if max_bytes < 1:
        raise ConfigError(f'Invalid byte budget "{max_bytes}", should be >= 1')
    lo, hi = (validate_quality(q) for q in qualities)
    if lo > hi:
        raise ConfigError(f"Invalid quality range {lo}-{hi}: the lowest is above the highest")

    def encode(q: int) -> bytes:
        payload = payload_for(q) if payload_for is not None else None
        return encode_jpeg(
            image,
            q,
            subsampling=subsampling,
            payload=payload,
            xmp=xmp,
            keep_metadata=keep_metadata,
            optimize=optimize,
            mozjpeg=mozjpeg,
        )

    found = highest_quality_within(encode, int(max_bytes), lo, hi)
    if found is None:
        smallest = encode(lo)
        raise BudgetError(
            f"the budget of {max_bytes:,} bytes is too small: the smallest file, at QF {lo}, is "
            f"{len(smallest):,} bytes ({_space_report(smallest)})"
        )
    logger.debug("budget %d bytes: QF %d, %d bytes", max_bytes, found[1], len(found[0]))
    return found


def read_metadata_description(src: ImageSource, *, max_pixels: int | None = None) -> str | None:
    """The image's own description: XMP ``dc:description``, else EXIF ImageDescription.

    Used by ``jpegtext encode --caption-from-metadata``. Empty descriptions count as none.

    Returns:
        The description, or None when the image has neither.

    Raises:
        InvalidImageError: the image cannot be read.
    """
    im = src if isinstance(src, Image.Image) else None
    if im is None:
        if isinstance(src, np.ndarray):
            return None
        data = _read_source(src)  # type: ignore[arg-type]
        im = _open(data, ACCEPTED_FORMATS, max_pixels)
    for key in ("xmp", "XML:com.adobe.xmp"):
        packet = im.info.get(key)
        if packet:
            raw = packet.encode("utf-8") if isinstance(packet, str) else bytes(packet)
            text = parse_xmp_description(raw, jpegtext_only=False)
            if text and text.strip():
                return text.strip()
    try:
        desc = im.getexif().get(_IMAGE_DESCRIPTION)
    except _DECODE_ERRORS:
        desc = None
    if isinstance(desc, bytes):
        desc = desc.decode("utf-8", "replace")
    elif isinstance(desc, str):
        # EXIF types ImageDescription as ASCII and Pillow decodes it as Latin-1, but exiftool and
        # most editors write UTF-8: bytes that are valid UTF-8 are read as such, real Latin-1
        # text ("caf\xe9": its accents are almost never valid UTF-8) is kept as it is.
        try:
            desc = desc.encode("latin-1").decode("utf-8")
        except UnicodeError:
            pass
    if isinstance(desc, str) and desc.strip(" \x00\t\r\n"):
        return desc.strip(" \x00\t\r\n")
    return None
