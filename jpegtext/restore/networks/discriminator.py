"""PatchGAN discriminator of TGJAR (the paper only asks for a convolutional one)."""

from __future__ import annotations

import torch
from torch import nn

from jpegtext.restore.networks.config import DiscriminatorConfig

__all__ = ["PatchDiscriminator"]


class PatchDiscriminator(nn.Module):
    """Stride-2 conv stack ending in a 1-channel map of per-patch real/fake logits.

    No batch normalisation: each sample's logits depend on that sample only, which keeps
    distributed training equal to single-process training with the same global batch.

    Args:
        config: base width and number of stride-2 layers.
    """

    def __init__(self, config: DiscriminatorConfig | None = None) -> None:
        super().__init__()
        cfg = config or DiscriminatorConfig()
        self.config = cfg
        layers: list[nn.Module] = []
        cin = 3
        for i in range(cfg.layers):
            cout = cfg.base * min(2**i, 8)
            layers += [nn.Conv2d(cin, cout, 4, stride=2, padding=1), nn.LeakyReLU(0.2, inplace=True)]
            cin = cout
        cout = cfg.base * min(2**cfg.layers, 8)
        layers += [
            nn.Conv2d(cin, cout, 3, padding=1),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(cout, 1, 3, padding=1),
        ]
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits.

        Args:
            x: (B, 3, H, W) float in [0, 1].

        Returns:
            (B, 1, H / 2^layers, W / 2^layers) real/fake logits.
        """
        return self.net(x * 2.0 - 1.0)
