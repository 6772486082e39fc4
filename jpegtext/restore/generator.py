"""The TGJAR generator: a U-Net of residual blocks with text fusion (paper section 3.1).

Layout for a 256x256 input with the base widths (32, 64, 128, 128)::

    head conv ── enc@1 ──down── enc@1/2 ──down── enc@1/4 ──down── enc@1/8 (128x32x32)
                                                                   │ GFM (sentence)
                                                                   │ res blocks, LFM@1/8 (words)
    out = x + tail(dec@1) ◄─up+skip── dec@1/2, LFM ◄─up+skip── dec@1/4, LFM ◄─up─┘

Any H x W works: the input is padded (reflect) to a multiple of 8 and the output cropped back.
The JPEG quality, known exactly from the file's DQT, can be fed as an extra input plane.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from jpegtext.restore.config import GeneratorConfig
from jpegtext.restore.fusion import GlobalFusion, LocalFusion

__all__ = ["ResidualBlock", "TGJARGenerator"]


class ResidualBlock(nn.Module):
    """conv3-LReLU-conv3 with an identity skip (EDSR style, no normalisation)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=1),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(channels, channels, 3, padding=1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


def _blocks(channels: int, n: int) -> nn.Sequential:
    return nn.Sequential(*[ResidualBlock(channels) for _ in range(n)])


class _Up(nn.Module):
    """x2 upsampling by pixel shuffle, then merge with the skip connection."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.up = nn.Sequential(nn.Conv2d(cin, 4 * cout, 3, padding=1), nn.PixelShuffle(2))
        self.merge = nn.Sequential(
            nn.Conv2d(2 * cout, cout, 3, padding=1), nn.LeakyReLU(0.2, inplace=True)
        )

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        return self.merge(torch.cat([self.up(x), skip], dim=1))


class TGJARGenerator(nn.Module):
    """Text-guided JPEG artifact reduction generator.

    Args:
        config: widths, depths, switches of the fusion modules (the paper's ablations).
    """

    def __init__(self, config: GeneratorConfig | None = None) -> None:
        super().__init__()
        cfg = config or GeneratorConfig()
        self.config = cfg
        w = cfg.widths
        cin = 3 + int(cfg.qf_input)
        self.head = nn.Sequential(nn.Conv2d(cin, w[0], 3, padding=1),
                                  nn.LeakyReLU(0.2, inplace=True))
        self.enc = nn.ModuleList([_blocks(w[i], cfg.enc_blocks[i]) for i in range(4)])
        self.down = nn.ModuleList([
            nn.Sequential(nn.Conv2d(w[i], w[i + 1], 4, stride=2, padding=1),
                          nn.LeakyReLU(0.2, inplace=True))
            for i in range(3)
        ])
        self.gfm = GlobalFusion(w[3], cfg.text_dim, cfg.gfm_hidden) if cfg.use_gfm else None
        self.mid = _blocks(w[3], cfg.mid_blocks)
        # LFMs at 1/8, 1/4, 1/2 (three scales)
        if cfg.use_lfm:
            self.lfm = nn.ModuleList([LocalFusion(w[s], cfg.text_dim, cfg.null_word)
                                      for s in (3, 2, 1)])
        else:
            self.lfm = None
        self.up = nn.ModuleList([_Up(w[3], w[2]), _Up(w[2], w[1]), _Up(w[1], w[0])])
        self.dec = nn.ModuleList([_blocks(w[s], cfg.dec_blocks[i])
                                  for i, s in enumerate((2, 1, 0))])
        self.tail = nn.Conv2d(w[0], 3, 3, padding=1)
        # start as the identity: the first steps already return the JPEG input
        nn.init.zeros_(self.tail.weight)
        nn.init.zeros_(self.tail.bias)

    def _encode(self, x: torch.Tensor, quality: torch.Tensor | None
                ) -> tuple[torch.Tensor, list[torch.Tensor], torch.Tensor]:
        """Pad, head and encoder: (features at 1/8, skips, padded input)."""
        b, _, h, w = x.shape
        m = self.config.multiple
        ph, pw = (-h) % m, (-w) % m
        inp = x
        if ph or pw:
            mode = "reflect" if (h > ph and w > pw) else "replicate"
            inp = F.pad(x, (0, pw, 0, ph), mode=mode)
        if self.config.qf_input:
            if quality is None:
                raise ValueError("this generator needs the JPEG quality (qf_input=True)")
            plane = (quality.to(inp.dtype).view(b, 1, 1, 1) / 100.0).expand(
                b, 1, inp.shape[2], inp.shape[3])
            feat = self.head(torch.cat([inp, plane], dim=1))
        else:
            feat = self.head(inp)
        skips = []
        for i in range(3):
            feat = self.enc[i](feat)
            skips.append(feat)
            feat = self.down[i](feat)
        return self.enc[3](feat), skips, inp

    def global_pool_map(self, x: torch.Tensor, quality: torch.Tensor | None = None
                        ) -> torch.Tensor | None:
        """The GFM's pre-pooling map (B, C, ceil(H/8), ceil(W/8)); None without a GFM.

        Tiled inference averages it over the whole image and passes the result as ``pooled``
        to :meth:`forward`, so that every tile sees the global feature of the full image.
        """
        if self.gfm is None:
            return None
        feat, _, _ = self._encode(x, quality)
        return self.gfm.pool_map(feat)

    def forward(
        self,
        x: torch.Tensor,
        words: torch.Tensor,
        mask: torch.Tensor,
        sentence: torch.Tensor,
        quality: torch.Tensor | None = None,
        pooled: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Restore a batch.

        Args:
            x: (B, 3, H, W) float in [0, 1], the decoded JPEG (any H, W >= 1).
            words: (B, D, T) word features.
            mask: (B, T) bool, True = padding word.
            sentence: (B, D) sentence features.
            quality: (B,) JPEG quality 1-100 (required when ``config.qf_input``).
            pooled: (B, C) whole-image GFM feature when ``x`` is a tile (see
                :meth:`global_pool_map`); None = pool ``x``.

        Returns:
            (B, 3, H, W) float, ``x`` + predicted residual (not clamped: clamp for display).
        """
        h, w = x.shape[2], x.shape[3]
        feat, skips, inp = self._encode(x, quality)
        if self.gfm is not None:
            feat = self.gfm(feat, sentence, pooled)
        feat = self.mid(feat)
        for i in range(3):
            if self.lfm is not None:
                feat = self.lfm[i](feat, words, mask)
            feat = self.up[i](feat, skips[2 - i])
            feat = self.dec[i](feat)
        out = inp + self.tail(feat)
        return out[:, :, :h, :w]
