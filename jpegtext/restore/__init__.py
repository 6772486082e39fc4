"""TGJAR in PyTorch: text encoders, generator with global/local fusion, discriminator, losses,
two-stage training, inference with tiling, and the model zoo.

Importing this package does not import torch; the names below load on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "GeneratorConfig",
    "ModelConfig",
    "PatchDiscriminator",
    "TGJARGenerator",
    "TextEncoderConfig",
    "TrainConfig",
    "Vocabulary",
    "load_model_file",
    "save_model_file",
]

_LAZY = {
    "GeneratorConfig": "networks.config",
    "ModelConfig": "networks.config",
    "TextEncoderConfig": "networks.config",
    "TrainConfig": "training.config",
    "TGJARGenerator": "networks.generator",
    "PatchDiscriminator": "networks.discriminator",
    "Vocabulary": "networks.text",
    "load_model_file": "runtime.modelfile",
    "save_model_file": "runtime.modelfile",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'jpegtext.restore' has no attribute {name!r}")
    return getattr(importlib.import_module(f"jpegtext.restore.{module}"), name)
