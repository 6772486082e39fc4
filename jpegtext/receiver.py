"""The receiver side of jpegtext: read the caption, restore the image, write a lossless PNG.

One pipeline, :class:`Receiver`, serves ``jpegtext.decode``, ``jpegtext decode``, the service and
the evaluation harness. It takes a parsed :class:`~jpegtext.codec.jpegfile.JpegFile` (the file is
walked once and opened with Pillow once) and resolves in one place:

- the caption: the caller's override, else the payload's, else none (logged);
- the JPEG quality: the quantisation tables' (exact for libjpeg's tables, else the nearest IJG
  quality, "estimated"), else the payload's record (CMYK), else the model's middle quality (a
  warning). When the payload records another quality than the tables show, the tables win and a
  warning names both;
- the words of the caption the model's text encoder cannot read (reported with ``-v``);
- how the restoration is bounded by the file (``consistent``): ``"auto"`` by default, every DCT
  coefficient clipped into the file's quantisation interval (``"full"``) when the caption is the
  file's own (or none), the luma's alone (``"luma"``, the colour left to the caption) when the
  caller gives the caption; ``"off"`` returns the model's output as it is
  (``benchmarks/results/selection_consistency_default_rule.md`` and ``..._auto_rule.md``).

Restorers are cached per (model, device, precision, tile settings), so repeated calls load the
weights once; the cache and the restorers are safe to use from several threads.
"""

from __future__ import annotations

import io
import logging
import os
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from jpegtext.errors import ConfigError

if TYPE_CHECKING:
    import PIL.Image
    import torch

    from jpegtext.codec.jpegfile import JpegFile
    from jpegtext.restore.runtime.inference import Restorer

__all__ = ["CONSISTENCY", "DEFAULT_CONSISTENCY", "DecodeResult", "Receiver", "check_caption",
           "check_input", "consistency_mode", "decode", "decode_detailed", "encode_png",
           "get_restorer"]

log = logging.getLogger(__name__)

_OUTPUT_TYPES = ("pil", "np", "pt")
_CACHE: dict[tuple[Any, ...], Restorer] = {}
_CACHE_LOCK = threading.Lock()
#: how a restoration may be bounded by its file: by where its caption came from, not at all, its
#: luma, every component
CONSISTENCY = ("auto", "off", "luma", "full")
DEFAULT_CONSISTENCY = "auto"


def consistency_mode(value: bool | str | None) -> str:
    """``consistent``'s value as one of :data:`CONSISTENCY` (True = ``"full"``, False =
    ``"off"``, None = the default).

    Raises:
        ConfigError: any other value.
    """
    if value is None:
        return DEFAULT_CONSISTENCY
    if isinstance(value, bool):
        return "full" if value else "off"
    if isinstance(value, str) and value.strip().lower() in CONSISTENCY:
        return value.strip().lower()
    raise ConfigError(f"Invalid consistent={value!r}: one of {', '.join(CONSISTENCY)} "
                      "(or True = full, False = off)")


@dataclass(frozen=True)
class DecodeResult:
    """What :meth:`Receiver.receive` (and :func:`decode_detailed`) produced.

    Attributes:
        image: (H, W, 3) uint8 RGB restored image.
        caption: the caption that guided the restoration ("" = none).
        caption_source: ``"override"`` (given by the caller), ``"payload"`` (stored in the
            file) or ``"none"``.
        quality: the JPEG quality given to the model (None: unknown, the model's middle
            quality was used).
        model: the model's name.
        icc_profile: the JPEG's ICC profile (kept for the output), or None.
        grayscale: the image is grayscale (three equal channels; written as a gray PNG).
        warnings: what went wrong without stopping the restoration (a damaged payload that
            was overridden, an unknown quality, a payload quality the tables contradict, ...);
            each is also logged.
        quality_source: where ``quality`` came from: ``"tables"``, ``"payload"`` (the tables
            say nothing: CMYK) or ``"default"`` (unknown).
        quality_kind: for ``"tables"``: ``"exact"`` (libjpeg's tables) or ``"estimated"`` (the
            nearest IJG quality to other tables); else None.
        lost_words: the caption's words the model's text encoder cannot read, or None when
            not looked for (only with ``report_lost_words``, or INFO logging, as ``-v``).
        consistent: the restoration was projected onto what the file's quantisation allows
            (``consistency`` not ``"off"``, and a gray or YCbCr file).
        consistency: how it was bounded: ``"off"``, ``"luma"`` or ``"full"`` (``"auto"`` resolved;
            ``"off"`` also when the file's layout could not be projected: see ``warnings``).
    """

    image: np.ndarray
    caption: str
    caption_source: str
    quality: int | None
    model: str
    icc_profile: bytes | None = None
    grayscale: bool = False
    warnings: tuple[str, ...] = ()
    quality_source: str = "tables"
    quality_kind: str | None = None
    lost_words: tuple[str, ...] | None = None
    consistent: bool = False
    consistency: str = "off"


def get_restorer(model: str | os.PathLike[str] | None = None, *,
                 device: str | None = None, precision: str | None = None,
                 tile: int | None = None, tile_overlap: int = 32) -> Restorer:
    """A cached :class:`~jpegtext.restore.runtime.inference.Restorer` (loaded on first use).

    A zoo name is cached by its name, a model file by its resolved absolute path (a relative
    path names another file once the working folder changes).

    Raises:
        ConfigError: ``model`` is not None, a non-empty str or an ``os.PathLike``; a bad
            ``tile`` or ``tile_overlap`` (checked before any model is loaded).
    """
    from jpegtext._device import resolve_device
    from jpegtext.restore.runtime.inference import check_tiling

    tile, tile_overlap = check_tiling(tile, tile_overlap)
    dev = resolve_device(device)
    key = (_model_key(model), str(dev), precision, tile, tile_overlap)
    with _CACHE_LOCK:
        restorer = _CACHE.get(key)
        if restorer is None:
            from jpegtext.restore.runtime.zoo import load_restorer

            restorer = load_restorer(model, device=dev, precision=precision, tile=tile,
                                     tile_overlap=tile_overlap)
            _CACHE[key] = restorer
    return restorer


def _model_key(model: object) -> str:
    """What the cache knows a model by: its zoo name, or its file's resolved absolute path."""
    from pathlib import Path

    from jpegtext.restore.runtime.zoo import DEFAULT_MODEL, list_models

    if model is None:
        return DEFAULT_MODEL
    if not isinstance(model, (str, os.PathLike)):
        raise ConfigError(f"model must be a zoo name, a model file path or a loaded Restorer "
                          f"(None = {DEFAULT_MODEL}), not {type(model).__name__}")
    text = str(model)  # as load_restorer reads it
    if not text.strip():
        raise ConfigError(f"model must be a zoo name or a model file path (None = "
                          f"{DEFAULT_MODEL}), not an empty string")
    if text in {entry.name for entry in list_models()}:
        return text
    return str(Path(text).resolve())


def check_caption(caption: str) -> str:
    """``caption`` if jpegtext can store it, else PayloadError, before any work is done.

    The restored PNG stores the caption as UTF-8, so a caption the encoder would refuse (lone
    surrogates, e.g. a command-line argument that was not UTF-8, or over
    :data:`~jpegtext.codec.payload.MAX_CAPTION_BYTES`) is refused here by the encoder's own
    check, not after the model has run.

    Raises:
        PayloadError: the caption cannot be stored (the message says why).
    """
    from jpegtext.codec.payload import Payload, build_payload_data

    build_payload_data(Payload(caption))
    return caption


def check_input(data: bytes | bytearray | memoryview | str | os.PathLike[str] | JpegFile, *,
                caption: str | None = None, ignore_payload: bool = False,
                max_pixels: int | None = None, log_warnings: bool = True
                ) -> tuple[JpegFile, list[str]]:
    """Parse and check a receiver input before any model is loaded.

    The stream, its size and its payload are checked; a damaged payload is an error unless a
    ``caption`` overrides it or ``ignore_payload`` is set (then it is a warning, logged unless
    ``log_warnings`` is False, and the file counts as holding no payload).

    Returns:
        (the parsed file, the warnings so far).

    Raises:
        InvalidJpegError, InvalidImageError: not a complete JPEG, or over the pixel limit.
        PayloadError: a damaged payload without ``caption`` or ``ignore_payload``, or a
            ``caption`` that cannot be stored (:func:`check_caption`).
        ConfigError: ``caption`` is not a str, ``data`` is not bytes, a path or a JpegFile, or
            ``max_pixels`` is not None or an integer >= 1.
    """
    from jpegtext.api import check_max_pixels
    from jpegtext.codec.jpegfile import JpegFile, parse_file
    from jpegtext.errors import PayloadError

    max_pixels = check_max_pixels(max_pixels)
    if caption is not None:
        if not isinstance(caption, str):
            raise ConfigError(f"caption must be a str, not {type(caption).__name__}")
        check_caption(caption)
    file = data if isinstance(data, JpegFile) else parse_file(
        data, max_pixels=max_pixels, payload_errors="keep")
    warnings: list[str] = []
    if file.payload_error is not None:
        if caption is None and not ignore_payload:
            raise PayloadError(f"{file.payload_error} (restore anyway with --caption TEXT or "
                               "--ignore-payload)")
        warnings.append(f"ignoring the damaged caption payload: {file.payload_error}")
        if log_warnings:
            log.warning("%s", warnings[-1])
    if file.payload is not None:
        warnings.extend(file.payload.warnings)
    return file, warnings


@dataclass(frozen=True)
class _Resolved:
    caption: str
    caption_source: str
    quality: int | None
    quality_source: str
    quality_kind: str | None


class Receiver:
    """The receiver pipeline around a loaded restorer: file -> caption, QF -> restored image.

    Args:
        restorer: a loaded :class:`~jpegtext.restore.runtime.inference.Restorer` (or any object with
            ``name``, ``config.qualities`` and ``restore(image, caption, quality, ensemble=)``).
        ensemble: geometric self-ensemble of every call (None = the restorer's setting).
        report_lost_words: look for the caption's words the text encoder cannot read (an extra
            tokenisation); None = only when INFO logging is on (``-v``).
    """

    def __init__(self, restorer: Restorer, *, ensemble: int | None = None,
                 report_lost_words: bool | None = None) -> None:
        if not (hasattr(restorer, "restore") and hasattr(restorer, "name")):
            raise ConfigError(f"a Receiver needs a loaded Restorer, not {type(restorer).__name__}")
        self.restorer = restorer
        self.ensemble = ensemble
        self.report_lost_words = report_lost_words

    @property
    def name(self) -> str:
        """The model's name."""
        return str(self.restorer.name)

    def resolve(self, file: JpegFile, *, caption: str | None = None,
                ignore_payload: bool = False, warnings: list[str] | None = None) -> _Resolved:
        """The caption and the quality the model will be given, and where they come from.

        Warnings (a payload quality the tables contradict, an unknown quality) are appended to
        ``warnings`` and logged.
        """
        warnings = [] if warnings is None else warnings
        if caption is not None:
            text, source = caption, "override"
        elif file.caption is not None and not ignore_payload:
            text, source = file.caption, "payload"
        else:
            text, source = "", "none"
            if not ignore_payload:
                log.warning("the file holds no caption: restoring without text")
        tables, stored = file.quality, file.payload_quality
        qualities = list(self.restorer.config.qualities)
        if tables.quality is not None:
            quality, qsource, kind = tables.quality, "tables", tables.kind
            if stored is not None and stored != quality:
                warnings.append(
                    f"the payload records QF {stored} but the quantisation tables are QF "
                    f"{quality} ({kind}): restoring as QF {quality}, the tables' (the file was "
                    "re-encoded after the caption was stored?)")
                log.warning("%s", warnings[-1])
            elif kind == "estimated":
                log.info("non-IJG quantisation tables: restoring as QF %d, the nearest IJG "
                         "quality", quality)
        elif stored is not None:
            quality, qsource, kind = stored, "payload", None
            log.info("the tables give no quality (%s): restoring as QF %d, the payload's",
                     file.layout.frame.subsampling, stored)
        else:
            quality, qsource, kind = None, "default", None
            qs = sorted(qualities)
            warnings.append(
                f"the file's JPEG quality is unknown (no quality from its tables"
                f"{', CMYK' if file.layout.frame.subsampling == 'other' else ''}, none in a "
                f"payload): restoring as QF {qs[len(qs) // 2]}, the middle of the model's "
                "trained qualities")
            log.warning("%s", warnings[-1])
        if quality is not None and quality not in qualities:
            log.warning("the file's quality %d is outside the model's trained qualities %s",
                        quality, qualities)
        return _Resolved(text, source, quality, qsource, kind)

    def receive(
        self,
        data: bytes | bytearray | memoryview | str | os.PathLike[str] | JpegFile,
        *,
        caption: str | None = None,
        ignore_payload: bool = False,
        max_pixels: int | None = None,
        ensemble: int | None = None,
        grayscale: bool | None = None,
        consistent: bool | str | None = None,
        guidance: float = 1.0,
    ) -> DecodeResult:
        """Restore one JPEG file; see :func:`decode` for the arguments.

        Args:
            data: the JPEG bytes, a path, or a parsed
                :class:`~jpegtext.codec.jpegfile.JpegFile` (its pixels decoded at most once).

        Returns:
            The restored image, with the caption and quality used and where they came from.
        """
        mode = consistency_mode(consistent)
        file, warnings = check_input(data, caption=caption, ignore_payload=ignore_payload,
                                     max_pixels=max_pixels)
        use = self.resolve(file, caption=caption, ignore_payload=ignore_payload,
                           warnings=warnings)
        look = self.report_lost_words
        if look is None:
            # only worth tokenizing again when someone reads it (-v)
            look = log.isEnabledFor(logging.INFO)
        lost: tuple[str, ...] | None = None
        if look and hasattr(self.restorer, "lost_words"):
            lost = tuple(self.restorer.lost_words(use.caption))
            if lost:
                log.info("the model cannot read %d of the caption's words: %s", len(lost),
                         " ".join(lost))
        if mode == "auto":
            # the file's own caption describes the clean image, which the full bound contains;
            # a caller's caption asks to steer colour, which only the luma bound leaves free
            mode = "luma" if use.caption_source == "override" else "full"
        pixels = file.pixels()  # writable and C-contiguous: the restorer does not copy it
        extra = {} if guidance == 1.0 else {"guidance": guidance}  # 1: one pass, any restorer
        restored = self.restorer.restore(pixels, use.caption, use.quality,
                                         ensemble=self.ensemble if ensemble is None
                                         else ensemble, **extra)
        _check_output(pixels, restored, self.name)
        projected = False
        if mode != "off":
            restored, projected = _project(restored, file, warnings, mode)
        gray = file.grayscale if grayscale is None else bool(grayscale)
        if gray:
            restored = _to_gray(restored)
        return DecodeResult(restored, use.caption, use.caption_source, use.quality, self.name,
                            file.icc_profile, grayscale=gray, warnings=tuple(warnings),
                            quality_source=use.quality_source, quality_kind=use.quality_kind,
                            lost_words=lost, consistent=projected,
                            consistency=mode if projected else "off")


def decode_detailed(
    data: bytes | bytearray | memoryview | str | os.PathLike[str] | JpegFile,
    *,
    model: str | os.PathLike[str] | Restorer | None = None,
    caption: str | None = None,
    device: str | None = None,
    precision: str | None = None,
    tile: int | None = None,
    tile_overlap: int = 32,
    max_pixels: int | None = None,
    ensemble: int | None = None,
    ignore_payload: bool = False,
    grayscale: bool | None = None,
    consistent: bool | str | None = None,
    guidance: float = 1.0,
) -> DecodeResult:
    """Restore a JPEG file; see :func:`decode` for the arguments.

    A thin wrapper: the input is checked before the model loads, then a :class:`Receiver`
    around the (cached) restorer restores it.

    Returns:
        A :class:`DecodeResult` with the image and where its caption and quality came from.
    """
    consistency_mode(consistent)  # bad values fail before the file is read
    if guidance != 1.0:  # the default needs no check (and no torch import before the input's)
        from jpegtext.restore.runtime.inference import check_guidance

        guidance = check_guidance(guidance)
    file, _ = check_input(data, caption=caption, ignore_payload=ignore_payload,
                          max_pixels=max_pixels, log_warnings=False)  # before any model loads
    if hasattr(model, "restore") and hasattr(model, "name"):
        restorer = model  # an already loaded Restorer
    else:
        restorer = get_restorer(model, device=device, precision=precision, tile=tile,
                                tile_overlap=tile_overlap)
    return Receiver(restorer).receive(file, caption=caption, ignore_payload=ignore_payload,
                                      max_pixels=max_pixels, ensemble=ensemble,
                                      grayscale=grayscale, consistent=consistent,
                                      guidance=guidance)


def _project(restored: np.ndarray, file: JpegFile, warnings: list[str],
             mode: str) -> tuple[np.ndarray, bool]:
    """``restored`` projected onto the file's quantisation intervals (``mode`` ``"luma"``: the
    luma's alone), and whether it was."""
    import math

    from jpegtext.codec.consistency import UnsupportedLayout, project_jpeg_file

    try:
        kept = project_jpeg_file(restored, file,
                                 chroma_slack=math.inf if mode == "luma" else None)
    except UnsupportedLayout as exc:
        warnings.append(f"not made consistent with the file: {exc}")
        log.warning("%s", warnings[-1])
        return restored, False
    if log.isEnabledFor(logging.INFO):  # -v: how far the model had left what the file allows
        moved = np.abs(kept.astype(np.int16) - restored.astype(np.int16))
        log.info("consistent (%s): the file's quantisation moved the restoration by %.2f levels "
                 "on average (%.1f %% of values, at most %d)", mode, float(moved.mean()),
                 100.0 * float((moved > 0).mean()), int(moved.max()))
    return kept, True


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
    model: str | os.PathLike[str] | Restorer | None = None,
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
    consistent: bool | str | None = None,
    guidance: float = 1.0,
) -> PIL.Image.Image | np.ndarray | torch.Tensor:
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
        tile: tile side in pixels (an integer multiple of 8, at least 32); None = automatic;
            0 = never tile.
        tile_overlap: overlap of neighbouring tiles in pixels (an integer multiple of 8).
        max_pixels: decompression-bomb guard, an integer >= 1 (default: Pillow's limit).
        ensemble: geometric self-ensemble: 1 = off, 2 = average with the mirrored restoration,
            8 = over all flips and transpositions (that many times slower; higher PSNR); None =
            the restorer's setting (1 for a model loaded here).
        ignore_payload: restore without the stored caption, and read past a damaged payload
            (a warning instead of a ``PayloadError``). A ``caption`` also reads past one.
        grayscale: give a gray image (three equal channels); None = when the JPEG is
            grayscale, so a gray photo never comes back tinted.
        consistent: project the restoration onto the images the file could have come from
            (each DCT coefficient within its quantisation interval,
            :mod:`jpegtext.codec.consistency`; never further from the original in that sense).
            ``"full"`` (or True): every component, so a caption that misleads the model cannot
            move colours past what the file allows (but colour steering by a caption that
            contradicts the file is undone too); ``"luma"``: the luma alone, the colour left to
            the model and the caption; ``"auto"`` (None, the default): ``"full"`` for the
            file's own caption (or none), ``"luma"`` for a ``caption`` given here;
            ``"off"`` (or False): the model's output as it is.
        guidance: caption strength: 1 (default) = the model's restoration; ``s`` = the
            restoration with an empty caption plus ``s`` times what the caption changes
            (two passes; 1.5-2 steer colour further, 0 = no caption). Applied before the bound.

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
                             ignore_payload=ignore_payload, grayscale=grayscale,
                             consistent=consistent, guidance=guidance)
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
