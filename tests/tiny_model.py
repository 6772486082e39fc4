"""A tiny TGJAR model for tests: built in code, saved to a temp dir, loaded like a real one."""

from __future__ import annotations

from pathlib import Path

import torch

from jpegtext.restore.networks.config import GeneratorConfig, ModelConfig, TextEncoderConfig
from jpegtext.restore.networks.generator import TGJARGenerator
from jpegtext.restore.networks.text import BiLSTMTextEncoder, Vocabulary
from jpegtext.restore.runtime.modelfile import save_model_file

TINY_CONFIG = ModelConfig(
    text=TextEncoderConfig(embed_dim=16, hidden_dim=8, dropout=0.0),
    generator=GeneratorConfig(widths=(8, 8, 16, 16), enc_blocks=(1, 1, 1, 1), mid_blocks=1,
                              dec_blocks=(1, 1, 1), text_dim=16, gfm_hidden=16),
    qualities=(1, 5, 10),
)
TINY_WORDS = "a red green blue grey barn trees sky olive brown at the top bottom middle"


def randomize(module: torch.nn.Module, seed: int = 0, scale: float = 0.05) -> None:
    """Give every weight a small random value.

    A fresh generator is the identity (its last layer starts at zero), which would let a broken
    text path or export look right; random weights make the tests able to fail.
    """
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * scale)


def save_tiny_model(path: Path, *, config: ModelConfig = TINY_CONFIG, words: str = TINY_WORDS,
                    seed: int = 0, scale: float = 0.05, info: dict | None = None) -> Path:
    """Write a tiny random model file (bi-LSTM text encoder) to ``path`` and return it."""
    torch.manual_seed(seed)
    gen = TGJARGenerator(config.generator)
    randomize(gen, seed, scale)
    vocab = Vocabulary.build([words])
    save_model_file(path, gen, BiLSTMTextEncoder(vocab, config.text), config, vocab, info)
    return path
