"""The model zoo: an explicit registry of named, hash-pinned restoration weights.

Each :class:`ModelEntry` names a ``.safetensors`` file and its full sha256. A file is looked for
in the package (``jpegtext/restore/weights/``), then in the cache folder (``$JPEGTEXT_HOME``,
default ``~/.cache/jpegtext``), then downloaded from the entry's URL when it has one. Its sha256
is checked before it is read, so a damaged or tampered file is refused.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jpegtext.errors import ConfigError, MissingWeightsError, WeightsError

__all__ = [
    "DEFAULT_MODEL",
    "ModelEntry",
    "cache_dir",
    "get_model_entry",
    "list_models",
    "load_restorer",
    "register_model",
    "resolve_model_file",
]

log = logging.getLogger(__name__)

PACKAGE_WEIGHTS = Path(__file__).resolve().parent / "weights"


@dataclass(frozen=True)
class ModelEntry:
    """A registered model.

    Attributes:
        name: registry name (``jpegtext decode --model NAME``).
        filename: the ``.safetensors`` file name.
        sha256: full hex sha256 of the file.
        description: one line for ``jpegtext models``.
        config: short description of the generator config (``small`` ...).
        qualities: JPEG qualities it was trained for.
        text_encoder: ``bilstm`` or ``minilm``.
        training_data: what it was trained on.
        metrics: held-out results (dataset/QF -> numbers), see the model card.
        card: path of the model card, relative to the repository root.
        url: where to download the file from, if anywhere.
    """

    name: str
    filename: str
    sha256: str
    description: str
    config: str
    qualities: tuple[int, ...]
    text_encoder: str
    training_data: str
    metrics: dict[str, Any] = field(default_factory=dict)
    card: str = ""
    url: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "filename": self.filename, "sha256": self.sha256,
                "description": self.description, "config": self.config,
                "qualities": list(self.qualities), "text_encoder": self.text_encoder,
                "training_data": self.training_data, "metrics": self.metrics,
                "card": self.card, "url": self.url}


_REGISTRY: dict[str, ModelEntry] = {}

#: the model ``decode`` uses when none is named (set where the shipped models are registered)
DEFAULT_MODEL = "tgjar-small-v4"


def register_model(entry: ModelEntry) -> ModelEntry:
    """Add ``entry`` to the registry; a name that is already taken is refused."""
    if entry.name in _REGISTRY:
        raise ConfigError(f'model "{entry.name}" is already registered')
    if len(entry.sha256) != 64 or any(c not in "0123456789abcdef" for c in entry.sha256):
        raise ConfigError(f'model "{entry.name}": sha256 must be 64 lower-case hex digits')
    if not entry.filename.endswith(".safetensors"):
        raise ConfigError(f'model "{entry.name}": weights must be a .safetensors file')
    _REGISTRY[entry.name] = entry
    return entry


def list_models() -> list[ModelEntry]:
    """Registered models, sorted by name."""
    return [_REGISTRY[k] for k in sorted(_REGISTRY)]


def get_model_entry(name: str) -> ModelEntry:
    """The entry called ``name``; unknown names list the known ones."""
    try:
        return _REGISTRY[name]
    except KeyError:
        known = ", ".join(sorted(_REGISTRY)) or "(none)"
        raise ConfigError(f'unknown model "{name}"; known models: {known}') from None


def cache_dir() -> Path:
    """``$JPEGTEXT_HOME`` or ``~/.cache/jpegtext``."""
    return Path(os.environ.get("JPEGTEXT_HOME") or Path.home() / ".cache" / "jpegtext")


def _download(entry: ModelEntry, dest: Path) -> None:
    import tempfile
    import urllib.request

    from jpegtext.restore.modelfile import file_sha256

    if entry.url is None:
        raise MissingWeightsError(
            f'the weights of model "{entry.name}" ({entry.filename}) are not installed and '
            f"have no download URL; put the file in {dest.parent} (or set JPEGTEXT_HOME)")
    if os.environ.get("JPEGTEXT_OFFLINE") or os.environ.get("HF_HUB_OFFLINE"):
        raise MissingWeightsError(
            f'model "{entry.name}" is not cached and downloads are off (offline mode); copy '
            f"{entry.filename} into {dest.parent}")
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, suffix=".part")
    try:
        with os.fdopen(fd, "wb") as fh, urllib.request.urlopen(entry.url, timeout=30) as resp:
            while chunk := resp.read(1 << 20):
                fh.write(chunk)
        if file_sha256(tmp) != entry.sha256:
            raise WeightsError(f'downloaded weights of "{entry.name}" fail the sha256 check')
        os.replace(tmp, dest)
    except OSError as exc:
        raise MissingWeightsError(
            f'could not download model "{entry.name}" from {entry.url} ({exc}); copy '
            f"{entry.filename} into {dest.parent}") from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def resolve_model_file(name: str) -> Path:
    """Path of a registered model's verified weights file (package, cache, or download)."""
    from jpegtext.restore.modelfile import file_sha256

    entry = get_model_entry(name)
    candidates = [PACKAGE_WEIGHTS / entry.filename, cache_dir() / entry.filename]
    path = next((p for p in candidates if p.is_file()), None)
    if path is None:
        path = candidates[1]
        _download(entry, path)
    digest = file_sha256(path)
    if digest != entry.sha256:
        raise WeightsError(
            f'{path}: sha256 {digest[:16]}... does not match the registered {entry.sha256[:16]}... '
            f'of model "{entry.name}": the file is damaged or was replaced; refusing to load it')
    return path


def load_restorer(model: str | os.PathLike[str] | None = None, **kwargs: Any):  # noqa: ANN201
    """A :class:`~jpegtext.restore.inference.Restorer` for a zoo name or a ``.safetensors`` path.

    Args:
        model: registry name, or path of a model file (no hash to check: the file's format and
            shapes are still validated); None = :data:`DEFAULT_MODEL`.
        **kwargs: passed to :class:`~jpegtext.restore.inference.Restorer` (device, precision,
            tile, tile_overlap, tile_batch).
    """
    from jpegtext.restore.inference import Restorer
    from jpegtext.restore.modelfile import load_model_file

    model = DEFAULT_MODEL if model is None else model
    text = str(model)
    if text in _REGISTRY:
        path, name = resolve_model_file(text), text
    else:
        path = Path(text)
        if not (path.suffix == ".safetensors" or path.exists()):
            get_model_entry(text)  # raises with the list of known names
        name = path.stem
    return Restorer(load_model_file(path), name=name, **kwargs)


#: models shipped inside the package; each has a model card under docs/models/
SHIPPED_MODELS: tuple[ModelEntry, ...] = (
    ModelEntry(
        name="tgjar-small",
        filename="tgjar-small.safetensors",
        sha256="d78f0b6617186145e97e908e96931c4c41b76412c743c157a08b763cb7f38c4b",
        description="TGJAR small (1.8 M-parameter generator, bi-LSTM text), one model for "
                    "QF 1-10 with the quality as input; trained on a 2-core CPU",
        config="small: widths 16/32/64/96, GFM + 3 LFMs, QF input",
        qualities=(1, 2, 3, 4, 5, 6, 7, 8, 9, 10),
        text_encoder="bilstm",
        training_data="flowers256 train + coco_mini train + BSDS500 train, 128x128 crops; "
                      "captions: built-in captioner (+ COCO human captions)",
        metrics={"flowers256 val QF1-10 (selection)": "PSNR 25.86 dB (JPEG 23.92), "
                                                       "LPIPS 0.188 (JPEG 0.347)"},
        card="docs/models/tgjar-small.md",
    ),
    ModelEntry(
        name="tgjar-small-v2",
        filename="tgjar-small-v2.safetensors",
        sha256="a574e19fdd3495ba27f440bed10ee8b7c1153edf6eeee43180eeef35ba4724af",
        description="tgjar-small fine-tuned 5,624 more steps on 160x160 crops with more natural "
                    "scenes (COCO, BSDS500); same network",
        config="small: widths 16/32/64/96, GFM + 3 LFMs, QF input",
        qualities=(1, 2, 3, 4, 5, 6, 7, 8, 9, 10),
        text_encoder="bilstm",
        training_data="tgjar-small, then flowers256 train + coco_mini train (x16) + BSDS500 "
                      "train (x10), 160x160 crops; captions: built-in captioner (+ COCO human "
                      "captions)",
        metrics={"flowers256 val QF1-10 (selection)": "PSNR 26.03 dB (JPEG 23.92), "
                                                       "LPIPS 0.183 (JPEG 0.347)"},
        card="docs/models/tgjar-small-v2.md",
    ),
    ModelEntry(
        name="tgjar-small-v3",
        filename="tgjar-small-v3.safetensors",
        sha256="8a107cd352a50dcfd6f8e89f45d25cb21ff92899d6f0d12c15b638ab11b1abd6",
        description="tgjar-small-v2 fine-tuned 10,588 more steps with half natural scenes "
                    "(COCO, BSDS500); same network",
        config="small: widths 16/32/64/96, GFM + 3 LFMs, QF input",
        qualities=(1, 2, 3, 4, 5, 6, 7, 8, 9, 10),
        text_encoder="bilstm",
        training_data="tgjar-small-v2, then flowers256 train + coco_mini train (x20) + BSDS500 "
                      "train (x20), 160x160 crops; captions: built-in captioner (+ COCO human "
                      "captions)",
        metrics={"flowers256 val QF1-10 (selection)": "PSNR 26.07 dB (JPEG 23.92), "
                                                       "LPIPS 0.178 (JPEG 0.347)"},
        card="docs/models/tgjar-small-v3.md",
    ),
    ModelEntry(
        name="tgjar-small-v4",
        filename="tgjar-small-v4.safetensors",
        sha256="08ce397f0bdda3d4190d6abda6c73d9c2779763a15a3d3b9b13e7e455860fc80",
        description="tgjar-small-v3 fine-tuned 7,941 more steps with the perceptual losses "
                    "faded towards QF 10 (fidelity at mild, perception at extreme compression); "
                    "same network; the default (pre-declared flowers val rule)",
        config="small: widths 16/32/64/96, GFM + 3 LFMs, QF input",
        qualities=(1, 2, 3, 4, 5, 6, 7, 8, 9, 10),
        text_encoder="bilstm",
        training_data="tgjar-small-v3, then the same data as v3 (flowers256 train + coco_mini "
                      "train x20 + BSDS500 train x20), 160x160 crops; captions: built-in "
                      "captioner (+ COCO human captions)",
        metrics={"flowers256 val QF1-10 (selection)": "PSNR 26.18 dB (JPEG 23.92), "
                                                       "LPIPS 0.180 (JPEG 0.347)"},
        card="docs/models/tgjar-small-v4.md",
    ),
)

for _entry in SHIPPED_MODELS:
    register_model(_entry)
