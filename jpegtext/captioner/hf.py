"""Captioning with any Hugging Face transformers image-to-text model (BLIP, GIT, ...).

transformers and torch are imported only when an :class:`HFCaptioner` is built, so that
``import jpegtext.captioner`` stays light. Models come from a local directory (anything saved
with ``save_pretrained`` or downloaded with ``hf download --local-dir``) or from the Hugging Face
hub by id, pinned to a revision. The local cache is always tried first, without network; the
hub is asked only when the model is not cached and ``HF_HUB_OFFLINE`` is not set, and every
failure to find the weights becomes a :class:`~jpegtext.errors.MissingWeightsError` that says
how to provide them.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PIL import Image

from jpegtext._device import resolve_device
from jpegtext.captioner.base import MAX_CAPTION_WORDS, as_rgb, truncate_words
from jpegtext.errors import (
    ConfigError,
    JpegTextError,
    MissingDependencyError,
    MissingWeightsError,
    WeightsError,
)

if TYPE_CHECKING:
    import torch

__all__ = ["HFCaptioner", "clean_caption", "hub_cache_dir", "hub_offline", "is_cached"]

logger = logging.getLogger(__name__)

_WORD = re.compile(r"\w+")
# Tokens BLIP is known to emit for no reason ("arafed", "araffe": artefacts of its web-caption
# training data); they carry nothing for the restorer.
_JUNK_WORDS = frozenset({"arafed", "araffe", "arafe", "araf"})
_DTYPES = {
    "float32": "float32",
    "fp32": "float32",
    "float": "float32",
    "float16": "float16",
    "fp16": "float16",
    "half": "float16",
    "bfloat16": "bfloat16",
    "bf16": "bfloat16",
}
_TRUE = {"1", "true", "yes", "on"}


def hub_offline() -> bool:
    """Whether the Hugging Face hub must not be contacted (``HF_HUB_OFFLINE`` and friends)."""
    for var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        if os.environ.get(var, "").strip().lower() in _TRUE:
            return True
    return False


def hub_cache_dir() -> Path:
    """The Hugging Face hub cache folder, read from the environment at call time.

    ``HF_HUB_CACHE``, else ``$HF_HOME/hub``, else ``$XDG_CACHE_HOME/huggingface/hub``, else
    ``~/.cache/huggingface/hub`` (the rules of ``huggingface_hub``).
    """
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]).expanduser() / "hub"
    xdg = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(xdg) / "huggingface" / "hub"


def is_cached(
    model_id: str, revision: str | None = None, *, cache_dir: str | os.PathLike[str] | None = None
) -> bool:
    """Whether a hub model's config, preprocessing config and weights are in the local cache.

    Looks only at files (no network, no transformers import), so it answers in milliseconds.

    Args:
        model_id: hub id such as ``"Salesforce/blip-image-captioning-base"``.
        revision: commit hash, branch or tag; ``None`` means ``"main"``.
        cache_dir: the hub cache; default :func:`hub_cache_dir`.
    """
    cache = Path(cache_dir) if cache_dir is not None else hub_cache_dir()
    folder = cache / f"models--{model_id.replace('/', '--')}"
    revision = revision or "main"
    ref = folder / "refs" / revision
    if ref.is_file():  # a branch or tag name: the ref file holds the commit hash
        revision = ref.read_text(encoding="utf-8").strip()
    snapshot = folder / "snapshots" / revision
    if not (snapshot / "config.json").is_file():
        return False
    if not any(
        (snapshot / f).is_file() for f in ("preprocessor_config.json", "processor_config.json")
    ):
        return False
    return any(
        (snapshot / f).is_file()
        for f in (
            "model.safetensors",
            "model.safetensors.index.json",
            "pytorch_model.bin",
            "pytorch_model.bin.index.json",
        )
    )


def clean_caption(
    text: str, *, prompt: str | None = None, max_words: int = MAX_CAPTION_WORDS
) -> str:
    """Tidy a generated caption for storage and for the restorer's text encoder.

    Collapses whitespace, removes an echo of the prompt at the start, drops known junk tokens,
    removes immediately repeated words and phrases of up to three words ("a a dog" -> "a dog",
    "on the left on the left" -> "on the left") and cuts after ``max_words`` ``\\w+`` tokens.

    Args:
        text: raw decoded model output.
        prompt: the text prefix given to the model, if any.
        max_words: the word cap (the restorer reads at most 18).

    Returns:
        The cleaned caption (possibly empty).
    """
    text = " ".join(text.split())
    if prompt:
        prompt_words = [w.lower() for w in _WORD.findall(prompt)]
        matches = list(_WORD.finditer(text))
        head = [m.group().lower() for m in matches[: len(prompt_words)]]
        if prompt_words and head == prompt_words:
            text = text[matches[len(prompt_words) - 1].end() :].lstrip(" ,.;:-")
    words = [w for w in text.split(" ") if w and _key(w) not in _JUNK_WORDS]
    kept: list[str] = []
    keys: list[str] = []
    for word in words:
        kept.append(word)
        keys.append(_key(word))
        for n in (1, 2, 3):
            if len(keys) >= 2 * n and keys[-n:] == keys[-2 * n : -n]:
                del kept[-n:], keys[-n:]
                break
    return truncate_words(" ".join(kept), max_words).strip()


def _key(word: str) -> str:
    """Comparison key of a word: lower case without surrounding punctuation."""
    stripped = word.strip(".,;:!?\"'()[]").lower()
    return stripped or word


class HFCaptioner:
    """Caption images with a transformers image-to-text model.

    Works with any checkpoint that ``AutoModelForImageTextToText`` loads and ``generate`` drives:
    BLIP, GIT, and vision-encoder-decoder models (ViT + GPT-2, ...), whose tokenizer and image
    processor are then loaded separately (such models take no prompt).

    Args:
        model: local directory (``save_pretrained`` output or ``hf download --local-dir``), or a
            hub id such as ``"Salesforce/blip-image-captioning-base"``.
        revision: hub commit hash, branch or tag (ignored for a local directory). Pin a commit
            hash for reproducible captions.
        device: ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ...; ``None`` picks CUDA when available.
        dtype: ``"float32"`` or, on CUDA only, ``"float16"``/``"bfloat16"`` (or a
            ``torch.dtype``); ``None`` means float16 on CUDA and float32 on the CPU.
        max_new_tokens: generation length limit in tokens.
        prompt: optional text prefix for models that take one (BLIP: ``"a photography of"``);
            its echo is removed from the captions.
        batch_size: images per ``generate`` call.
        max_words: captions are cut after this many ``\\w+`` tokens (the restorer reads 18).
        name: identifier stored in the payload; default ``"hf:<id>"`` for a hub id and
            ``"local:<folder name>"`` for a directory.
        cache_dir: Hugging Face cache to read and fill; default :func:`hub_cache_dir`.

    Raises:
        ConfigError: an argument is out of range (quoted in the message).
        MissingDependencyError: transformers or torch is not installed.
        MissingWeightsError: the model is neither a directory nor in the cache, and the hub is
            offline or cannot be reached.
        WeightsError: the files are there but transformers cannot load them.
    """

    def __init__(
        self,
        model: str,
        *,
        revision: str | None = None,
        device: str | torch.device | None = None,
        dtype: str | torch.dtype | None = None,
        max_new_tokens: int = 30,
        prompt: str | None = None,
        batch_size: int = 8,
        max_words: int = MAX_CAPTION_WORDS,
        name: str | None = None,
        cache_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        if not isinstance(model, str) or not model.strip():
            raise ConfigError(f'Invalid model "{model}", should be a directory or a hub id')
        for arg, value, low in (
            ("max_new_tokens", max_new_tokens, 1),
            ("batch_size", batch_size, 1),
            ("max_words", max_words, 1),
        ):
            if not isinstance(value, int) or isinstance(value, bool) or value < low:
                raise ConfigError(f'Invalid {arg} "{value}", should be an integer >= {low}')
        if prompt is not None and not isinstance(prompt, str):
            raise ConfigError(f"prompt must be a str, got {type(prompt).__name__}")
        local_dir = Path(model).expanduser().is_dir()
        cache = Path(cache_dir) if cache_dir is not None else hub_cache_dir()
        if not local_dir and not hub_offline() and not _looks_like_path(model) and not is_cached(
            model, revision, cache_dir=cache
        ):
            # Not cached: find out in seconds whether the hub can be reached at all, before
            # importing torch/transformers (whose retries take minutes on an offline machine).
            reason = hub_unreachable()
            if reason is not None:
                self.model_id, self.revision, self.cache_dir = model, revision, cache
                raise MissingWeightsError(self._missing_message(None, reason))
        torch = _import("torch")
        self.model_id = model
        self.revision = revision
        self.prompt = " ".join(prompt.split()) if prompt else None
        self.max_new_tokens = max_new_tokens
        self.batch_size = batch_size
        self.max_words = max_words
        self.cache_dir = Path(cache_dir) if cache_dir is not None else hub_cache_dir()
        self.device = resolve_device(device)
        self.dtype = _resolve_dtype(torch, dtype, self.device)
        local = Path(model).expanduser()
        self.is_local = local.is_dir()
        if name is None:
            name = f"local:{local.resolve().name}" if self.is_local else f"hf:{model}"
        self.name = name
        self._preprocess, self._tokenizer, self._model = self._load(local)
        logger.info(
            "captioner %s loaded from %s on %s (%s)",
            self.name,
            local if self.is_local else f"{model}@{revision or 'main'}",
            self.device,
            str(self.dtype).replace("torch.", ""),
        )

    def __repr__(self) -> str:
        return (
            f"HFCaptioner({self.model_id!r}, revision={self.revision!r}, "
            f"device='{self.device}', dtype={str(self.dtype).replace('torch.', '')!r})"
        )

    def __call__(self, images: Sequence[Image.Image]) -> list[str]:
        """Caption ``images`` in batches of ``batch_size`` with greedy decoding.

        Args:
            images: PIL images of any size and mode (converted to RGB).

        Returns:
            One cleaned caption per image (see :func:`clean_caption`).
        """
        torch = _import("torch")
        rgb = [as_rgb(image) for image in images]
        captions: list[str] = []
        for start in range(0, len(rgb), self.batch_size):
            chunk = rgb[start : start + self.batch_size]
            kwargs: dict[str, Any] = {"images": chunk, "return_tensors": "pt"}
            if self.prompt:
                kwargs["text"] = [self.prompt] * len(chunk)
            # BatchFeature.to casts only floating tensors (pixel values), never token ids.
            inputs = self._preprocess(**kwargs).to(self.device, dtype=self.dtype)
            with torch.inference_mode():
                ids = self._model.generate(
                    **inputs, max_new_tokens=self.max_new_tokens, do_sample=False
                )
            texts = self._tokenizer.batch_decode(ids, skip_special_tokens=True)
            captions.extend(
                clean_caption(t, prompt=self.prompt, max_words=self.max_words) for t in texts
            )
        return captions

    def _load(self, local: Path) -> tuple[Any, Any, Any]:
        """(preprocessor taking images [and text], tokenizer for decoding, model)."""
        transformers = _import("transformers")
        if self.is_local:
            source, attempts = str(local), [True]
        else:
            if _looks_like_path(self.model_id):
                raise MissingWeightsError(
                    f"captioner model directory {self.model_id} does not exist"
                )
            source = self.model_id
            # Cache first, without network; the hub only when allowed.
            attempts = [True] if hub_offline() else [True, False]
        last_error: Exception | None = None
        for local_only in attempts:
            try:
                kwargs = {"local_files_only": local_only, "cache_dir": str(self.cache_dir)}
                if not self.is_local and self.revision:
                    kwargs["revision"] = self.revision
                processor = transformers.AutoProcessor.from_pretrained(source, **kwargs)
                if hasattr(processor, "image_processor") and hasattr(processor, "tokenizer"):
                    preprocess, tokenizer = processor, processor
                else:
                    # Vision-encoder-decoder checkpoints (ViT + GPT-2, ...) ship no joint
                    # processor: AutoProcessor returns the tokenizer alone.
                    if self.prompt:
                        raise ConfigError(
                            f"{source} has no joint image-text processor and takes no prompt"
                        )
                    preprocess = transformers.AutoImageProcessor.from_pretrained(source, **kwargs)
                    tokenizer = transformers.AutoTokenizer.from_pretrained(source, **kwargs)
                model = transformers.AutoModelForImageTextToText.from_pretrained(
                    source, dtype=self.dtype, **kwargs
                )
            except OSError as exc:  # transformers' "not found / cannot connect" errors
                last_error = exc
                if self.is_local or (
                    local_only and is_cached(source, self.revision, cache_dir=self.cache_dir)
                ):
                    raise self._unloadable(source, exc) from exc
                continue
            except JpegTextError:
                raise
            except (ValueError, KeyError, TypeError) as exc:
                raise WeightsError(
                    f"{source} is not a transformers image-to-text model: {_first_line(exc)}"
                ) from exc
            except Exception as exc:
                if not _is_damaged_checkpoint(exc):
                    raise
                raise self._unloadable(source, exc) from exc
            return preprocess, tokenizer, model.to(self.device).eval()
        raise MissingWeightsError(self._missing_message(last_error)) from last_error

    def _unloadable(self, source: str, exc: BaseException) -> WeightsError:
        """The error for model files that are there but cannot be loaded."""
        if self.is_local:
            return WeightsError(f"cannot load captioner model from {source}: {_first_line(exc)}")
        return WeightsError(
            f"the cached copy of {source} in {self.cache_dir} cannot be loaded "
            f"(delete it and download again): {_first_line(exc)}"
        )

    def _missing_message(self, exc: Exception | None, reason: str | None = None) -> str:
        rev = self.revision or "main"
        if hub_offline():
            why = "HF_HUB_OFFLINE is set"
        elif reason is not None:
            why = reason
        else:
            why = "the hub could not be reached or has no such model"
            why += f" ({_first_line(exc)})" if exc is not None else ""
        return (
            f"captioner model {self.model_id} (revision {rev}) is not in the Hugging Face cache "
            f"{self.cache_dir} and {why}. On a connected machine run "
            f"`hf download {self.model_id} --revision {rev} --local-dir DIR` "
            f"(`huggingface-cli download` with older huggingface_hub) and pass the directory as "
            f"the captioner (--captioner DIR), or copy a Hugging Face cache to this machine and "
            f"set HF_HOME; "
            f"--captioner builtin needs no weights."
        )


#: Seconds the hub gets to answer a TCP connection before a captioner gives up.
HUB_PROBE_TIMEOUT_S = 3.0


def hub_unreachable(timeout: float = HUB_PROBE_TIMEOUT_S) -> str | None:
    """Why the hub (``HF_ENDPOINT``, default huggingface.co) cannot be reached, or None.

    One HTTP ``HEAD`` request (any HTTP answer, even 404, means reachable), name lookup
    included, bounded by ``timeout`` seconds: it runs in a daemon thread, since ``getaddrinfo``
    ignores socket timeouts.
    """
    import threading
    import urllib.error
    import urllib.request

    url = (os.environ.get("HF_ENDPOINT") or "https://huggingface.co").rstrip("/") + "/api/models"
    outcome: list[str | None] = []

    def probe() -> None:
        try:
            request = urllib.request.Request(url, method="HEAD")
            with urllib.request.urlopen(request, timeout=timeout):  # noqa: S310 - fixed scheme
                outcome.append(None)
        except urllib.error.HTTPError:
            outcome.append(None)  # the hub answered
        except (OSError, ValueError) as exc:
            outcome.append(f"the hub {url} cannot be reached ({_first_line(exc)})")

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    thread.join(timeout + 0.5)
    if not outcome:
        return f"the hub {url} did not answer within {timeout:g} s"
    return outcome[0]


def _import(module: str) -> Any:
    try:
        return __import__(module)
    except ImportError as exc:
        raise MissingDependencyError(
            f"HFCaptioner needs the {module} package: pip install {module}"
        ) from exc


def _is_damaged_checkpoint(exc: BaseException) -> bool:
    """Whether ``exc``, raised while loading model files, says that the files are damaged.

    safetensors' ``SafetensorError`` (an overwritten or truncated file: "header too large",
    "incomplete metadata"), a broken pickle in ``pytorch_model.bin`` (``UnpicklingError``,
    ``EOFError``) and the plain ``RuntimeError`` of tensors whose shapes do not fit the config.
    Anything else (``AttributeError``, ``NotImplementedError``, out of memory, ...) is a bug or
    a resource problem and is left to propagate as it is.
    """
    import pickle

    damaged: tuple[type[BaseException], ...] = (pickle.UnpicklingError, EOFError)
    try:
        from safetensors import SafetensorError
    except ImportError:
        pass
    else:
        damaged += (SafetensorError,)
    return isinstance(exc, damaged) or type(exc) is RuntimeError


def _resolve_dtype(torch: Any, dtype: Any, device: torch.device) -> torch.dtype:
    if dtype is None:
        return torch.float16 if device.type == "cuda" else torch.float32
    if isinstance(dtype, str):
        key = _DTYPES.get(dtype.lower().replace("torch.", ""))
        if key is None:
            raise ConfigError(
                f'Invalid dtype "{dtype}", should be one of float32, float16, bfloat16'
            )
        dtype = getattr(torch, key)
    if dtype not in (torch.float32, torch.float16, torch.bfloat16):
        raise ConfigError(f'Invalid dtype "{dtype}", should be one of float32, float16, bfloat16')
    if dtype != torch.float32 and device.type != "cuda":
        raise ConfigError(
            f'Invalid dtype "{str(dtype).replace("torch.", "")}" on {device}: half precision is '
            "used only on CUDA; use float32"
        )
    return dtype


def _looks_like_path(model: str) -> bool:
    """A string that can only be a filesystem path, never a hub id ("name" or "org/name")."""
    return (
        model.startswith((".", "/", "~", "\\"))
        or model.count("/") > 1
        or "\\" in model
        or (len(model) > 1 and model[1] == ":")  # Windows drive
    )


def _first_line(exc: BaseException | None) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
