"""The receiver side of jpegtext: read the caption, restore the image, write a lossless PNG.

``decode`` takes a JPEG (bytes or path), reads the caption stored in it (or uses the caller's
caption: the paper's text-controllable restoration), and restores the pixels with a TGJAR model
from the zoo. The JPEG quality comes from the file's quantisation tables (exact for the IJG
tables every libjpeg uses), else from the payload's record.

Restorers are cached per (model, device, precision, tile settings), so repeated calls load the
weights once; the cache and the restorers are safe to use from several threads.
"""

from __future__ import annotations

import io
import logging
import os
import threading
from dataclasses import dataclass
from typing import Any

import numpy as np

from jpegtext.errors import ConfigError

__all__ = ["DecodeResult", "check_input", "decode", "decode_detailed", "encode_png",
           "get_restorer"]

log = logging.getLogger(__name__)

_OUTPUT_TYPES = ("pil", "np", "pt")
_CACHE: dict[tuple[Any, ...], Any] = {}
_CACHE_LOCK = threading.Lock()


@dataclass(frozen=True)
class DecodeResult:
    """What :func:`decode_detailed` produced.

    Attributes:
        image: (H, W, 3) uint8 RGB restored image.
        caption: the caption that guided the restoration ("" = none).
        caption_source: ``"override"`` (given by the caller), ``"payload"`` (stored in the
            file) or ``"none"``.
        quality: the JPEG quality given to the model.
        model: the model's name.
        icc_profile: the JPEG's ICC profile (kept for the output), or None.
        grayscale: the image is grayscale (three equal channels; written as a gray PNG).
        warnings: what went wrong without stopping the restoration (a damaged payload that
            was overridden, an unknown quality, ...); each is also logged.
    """

    image: np.ndarray
    caption: str
    caption_source: str
    quality: int | None
    model: str
    icc_profile: bytes | None = None
    grayscale: bool = False
    warnings: tuple[str, ...] = ()


def get_restorer(model: str | os.PathLike[str] | None = None, *,
                 device: str | None = None, precision: str | None = None,
                 tile: int | None = None, tile_overlap: int = 32) -> Any:
    """A cached :class:`~jpegtext.restore.inference.Restorer` (loaded on first use)."""
    from jpegtext.restore.inference import resolve_device
    from jpegtext.restore.zoo import DEFAULT_MODEL, load_restorer

    dev = resolve_device(device)
    key = (str(model or DEFAULT_MODEL), str(dev), precision, tile, tile_overlap)
    with _CACHE_LOCK:
        restorer = _CACHE.get(key)
        if restorer is None:
            restorer = load_restorer(model, device=dev, precision=precision, tile=tile,
                                     tile_overlap=tile_overlap)
            _CACHE[key] = restorer
    return restorer


def decode_detailed(
    data: bytes | bytearray | memoryview | str | os.PathLike[str],
    *,
    model: str | os.PathLike[str] | Any | None = None,
    caption: str | None = None,
    device: str | None = None,
    precision: str | None = None,
    tile: int | None = None,
    tile_overlap: int = 32,
    max_pixels: int | None = None,
    ensemble: int | None = None,
    ignore_payload: bool = False,
    grayscale: bool | None = None,
) -> DecodeResult:
    """Restore a JPEG file; see :func:`decode` for the arguments.

    Returns:
        A :class:`DecodeResult` with the image and where its caption came from.
    """
    from jpegtext.codec import decode_jpeg

    raw, info, warnings = check_input(data, caption=caption, ignore_payload=ignore_payload,
                                      max_pixels=max_pixels)
    if caption is not None:
        text, source = caption, "override"
    elif info.caption is not None and not ignore_payload:
        text, source = info.caption, "payload"
    else:
        text, source = "", "none"
        if not ignore_payload:
            log.warning("the file holds no caption: restoring without text")
    pixels = decode_jpeg(raw, max_pixels=max_pixels)
    if hasattr(model, "restore") and hasattr(model, "name"):
        restorer = model  # an already loaded Restorer
    else:
        restorer = get_restorer(model, device=device, precision=precision, tile=tile,
                                tile_overlap=tile_overlap)
    quality = info.quality
    if quality is None:
        qs = sorted(restorer.config.qualities)
        warnings.append(
            f"the file's JPEG quality is unknown (non-standard quantisation tables"
            f"{', CMYK' if info.subsampling == 'other' else ''}): restoring as QF "
            f"{qs[len(qs) // 2]}, the middle of the model's trained qualities")
        log.warning("%s", warnings[-1])
    elif quality not in restorer.config.qualities:
        log.warning("the file's quality %d is outside the model's trained qualities %s",
                    quality, list(restorer.config.qualities))
    # only worth tokenizing again when someone reads it (-v)
    lost = restorer.lost_words(text) if log.isEnabledFor(logging.INFO) \
        and hasattr(restorer, "lost_words") else []
    if lost:
        log.info("the model cannot read %d of the caption's words: %s", len(lost),
                 " ".join(lost))
    restored = restorer.restore(np.asarray(pixels), text, quality, ensemble=ensemble)
    _check_output(np.asarray(pixels), restored, restorer.name)
    gray = info.subsampling == "gray" if grayscale is None else bool(grayscale)
    if gray:
        restored = _to_gray(restored)
    return DecodeResult(restored, text, source, quality, restorer.name, _icc_profile(raw),
                        grayscale=gray, warnings=tuple(warnings))


def check_input(data: bytes | bytearray | memoryview | str | os.PathLike[str], *,
                caption: str | None = None, ignore_payload: bool = False,
                max_pixels: int | None = None) -> tuple[bytes, Any, list[str]]:
    """Read and check a receiver input before any model is loaded.

    The stream, its size and its payload are checked; a damaged payload is an error unless a
    ``caption`` overrides it or ``ignore_payload`` is set (then it is a warning).

    Returns:
        (the JPEG bytes, its :class:`~jpegtext.api.JpegInfo`, the warnings so far).

    Raises:
        InvalidJpegError, InvalidImageError: not a complete JPEG, or over the pixel limit.
        PayloadError: a damaged payload without ``caption`` or ``ignore_payload``.
        ConfigError: ``caption`` is not a str, or ``data`` is not bytes or a path.
    """
    from jpegtext.api import _read_jpeg_source, inspect
    from jpegtext.codec import strip_caption
    from jpegtext.errors import PayloadError

    if caption is not None and not isinstance(caption, str):
        raise ConfigError(f"caption must be a str, not {type(caption).__name__}")
    raw = _read_jpeg_source(data)
    warnings: list[str] = []
    try:
        info = inspect(raw, max_pixels=max_pixels)  # validates the stream before decoding
    except PayloadError as exc:
        if caption is None and not ignore_payload:
            raise PayloadError(f"{exc} (restore anyway with --caption TEXT or "
                               "--ignore-payload)") from None
        warnings.append(f"ignoring the damaged caption payload: {exc}")
        log.warning("%s", warnings[-1])
        info = inspect(strip_caption(raw), max_pixels=max_pixels)
    warnings.extend(info.warnings)
    return raw, info, warnings


def _check_output(pixels: np.ndarray, restored: np.ndarray, name: str) -> None:
    """Refuse a restoration that is obviously wrong: one flat colour from a non-flat input."""
    from jpegtext.errors import WeightsError

    flat_out = bool((restored == restored.reshape(-1, 3)[0]).all())
    flat_in = bool((pixels == pixels.reshape(-1, 3)[0]).all())
    if flat_out and not flat_in and restored.shape[0] * restored.shape[1] > 1:
        raise WeightsError(f"model {name} returned a constant image for a non-constant input: "
                           "its weights are unusable")


def _to_gray(rgb: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 with three equal channels: the BT.601 luma of ``rgb``."""
    y = rgb.astype(np.float32) @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    gray = np.clip(np.rint(y), 0, 255).astype(np.uint8)
    return np.repeat(gray[:, :, None], 3, axis=2)


def decode(
    data: bytes | bytearray | memoryview | str | os.PathLike[str],
    *,
    model: str | os.PathLike[str] | Any | None = None,
    caption: str | None = None,
    device: str | None = None,
    output_type: str = "pil",
    precision: str | None = None,
    tile: int | None = None,
    tile_overlap: int = 32,
    max_pixels: int | None = None,
    ensemble: int | None = None,
    ignore_payload: bool = False,
    grayscale: bool | None = None,
) -> Any:
    """Restore a JPEG written by ``jpegtext.encode`` (or any JPEG) with a TGJAR model.

    Args:
        data: the JPEG bytes, or a path.
        model: a zoo name, a ``.safetensors`` path, or a loaded ``Restorer``; None = the
            default shipped model.
        caption: text that overrides the stored caption (text-controllable restoration);
            None = the stored caption, or no text when the file has none (logged).
        device: ``cpu``, ``cuda``, ``cuda:N``; None = CUDA when available.
        output_type: ``"pil"`` (PIL image), ``"np"`` ((H, W, 3) uint8 array) or ``"pt"``
            ((3, H, W) float tensor in [0, 1]).
        precision: ``fp32`` / ``fp16`` / ``bf16`` (half precisions on CUDA only).
        tile: tile side in pixels (multiple of 8); None = automatic; 0 = never tile.
        tile_overlap: overlap of neighbouring tiles in pixels (multiple of 8).
        max_pixels: decompression-bomb guard (default: Pillow's limit).
        ensemble: geometric self-ensemble: 1 = off, 2 = average with the mirrored restoration,
            8 = over all flips and transpositions (that many times slower; higher PSNR); None =
            the restorer's setting (1 for a model loaded here).
        ignore_payload: restore without the stored caption, and read past a damaged payload
            (a warning instead of a ``PayloadError``). A ``caption`` also reads past one.
        grayscale: give a gray image (three equal channels); None = when the JPEG is
            grayscale, so a gray photo never comes back tinted.

    Raises:
        InvalidJpegError: not a complete JPEG stream.
        PayloadError: a corrupt caption payload (unless ``caption`` or ``ignore_payload``).
        WeightsError: the model file is missing, damaged or does not match its hash, or it
            produced NaN/infinite values or a constant image.
        InsufficientMemoryError: the image (or the requested tile) does not fit in memory.
        ConfigError: bad arguments.
    """
    if output_type not in _OUTPUT_TYPES:
        raise ConfigError(f'Invalid output_type "{output_type}", should be one of {_OUTPUT_TYPES}')
    result = decode_detailed(data, model=model, caption=caption, device=device,
                             precision=precision, tile=tile, tile_overlap=tile_overlap,
                             max_pixels=max_pixels, ensemble=ensemble,
                             ignore_payload=ignore_payload, grayscale=grayscale)
    if output_type == "np":
        return result.image
    if output_type == "pt":
        import torch

        return torch.from_numpy(result.image.copy()).permute(2, 0, 1).float().div_(255.0)
    from PIL import Image

    image = Image.fromarray(result.image)
    image.info["caption"] = result.caption
    if result.icc_profile:
        image.info["icc_profile"] = result.icc_profile
    return image


def encode_png(result: DecodeResult) -> bytes:
    """The restored image as PNG bytes with the caption in an iTXt ``Description`` chunk and the
    JPEG's ICC profile kept (PNG, not JPEG: re-encoding would bring artifacts back)."""
    from PIL import Image, PngImagePlugin

    from jpegtext import __version__

    meta = PngImagePlugin.PngInfo()
    meta.add_itxt("Description", result.caption, lang="en", tkey="Description", zip=False)
    meta.add_text("Software", f"jpegtext {__version__} ({result.model})")
    buf = io.BytesIO()
    image = Image.fromarray(result.image)
    if result.grayscale:
        image = image.convert("L")  # the channels are equal: a gray PNG is the same picture
    image.save(buf, format="PNG", pnginfo=meta,
                                       icc_profile=result.icc_profile or None, compress_level=6)
    return buf.getvalue()


def _icc_profile(raw: bytes) -> bytes | None:
    from PIL import Image

    try:
        with Image.open(io.BytesIO(raw)) as im:
            icc = im.info.get("icc_profile")
    except OSError:
        return None
    return icc or None
