"""The TGJAR generator: a U-Net of residual blocks with text fusion (paper section 3.1).

Layout for a 256x256 input with the base widths (32, 64, 128, 128)::

    head conv ── enc@1 ──down── enc@1/2 ──down── enc@1/4 ──down── enc@1/8 (128x32x32)
                                                                   │ GFM (sentence)
                                                                   │ res blocks, LFM@1/8 (words)
    out = x + tail(dec@1) ◄─up+skip── dec@1/2, LFM ◄─up+skip── dec@1/4, LFM ◄─up─┘

Any H x W works: the input is padded (reflect) to a multiple of 8 (``downsampling_factor``, by
:func:`jpegtext.restore.tiling.pad_to_multiple`) and the output cropped back.
The JPEG quality, known exactly from the file's DQT, can be fed as an extra input plane.
"""

from __future__ import annotations

import torch
from torch import nn

from jpegtext.restore.networks.config import GeneratorConfig
from jpegtext.restore.networks.fusion import GlobalFusion, LocalFusion
from jpegtext.restore.tiling import pad_to_multiple

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

    @property
    def downsampling_factor(self) -> int:
        """The multiple the input sides need (three stride-2 stages: 8); inputs are padded to
        it by :func:`jpegtext.restore.tiling.pad_to_multiple`."""
        return self.config.multiple

    def receptive_radius(self) -> tuple[int, int]:
        """Theoretical receptive radii in input pixels: (encoder, after the encoder).

        The first is how far a 1/8 feature of :meth:`encode` sees; the second how far an output
        pixel sees into the encoder's maps (GFM fuse, mid blocks, LFMs, decoder). Tiled
        inference sizes its halo from them.
        """
        cfg = self.config
        enc = 1 + 2 * cfg.enc_blocks[0]  # head conv + full-resolution blocks
        for i in range(3):  # 4x4 stride-2 down conv, then the blocks at the next scale
            enc += 2 * 2 ** i + 2 * cfg.enc_blocks[i + 1] * 2 ** (i + 1)
        lfm = 2 if self.lfm is not None else 0
        dec = 8 * (int(self.gfm is not None) + 2 * cfg.mid_blocks)
        for i, s in enumerate((8, 4, 2)):  # LFM, up conv (at s), merge + blocks (at s/2)
            dec += lfm * s + s + (s // 2) * (1 + 2 * cfg.dec_blocks[i])
        return enc, dec + 1  # + tail

    def full_skip(self, inp: torch.Tensor, quality: torch.Tensor | None) -> torch.Tensor:
        """Head and full-resolution blocks (the first skip) of a padded input."""
        if self.config.qf_input:
            if quality is None:
                raise ValueError("this generator needs the JPEG quality (qf_input=True)")
            b = inp.shape[0]
            plane = (quality.to(inp.dtype).view(b, 1, 1, 1) / 100.0).expand(
                b, 1, inp.shape[2], inp.shape[3])
            inp = torch.cat([inp, plane], dim=1)
        return self.enc[0](self.head(inp))

    def encode(self, inp: torch.Tensor, quality: torch.Tensor | None
               ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Head and encoder of an input already padded to :attr:`downsampling_factor`.

        Returns:
            (features at 1/8, skips at 1, 1/2 and 1/4).
        """
        feat = self.full_skip(inp, quality)
        skips = [feat]
        for i in range(1, 3):
            feat = self.enc[i](self.down[i - 1](feat))
            skips.append(feat)
        return self.enc[3](self.down[2](feat)), skips

    def decode(self, inp: torch.Tensor, feat: torch.Tensor, skips: list[torch.Tensor],
               words: torch.Tensor, mask: torch.Tensor, sentence: torch.Tensor,
               pooled: torch.Tensor | None = None) -> torch.Tensor:
        """GFM, mid blocks, LFMs and decoder: ``inp`` + the predicted residual.

        ``pooled``: the whole-image GFM feature (the mean of ``gfm.pool_map``) when ``feat`` is a
        crop of the image's features; None = pool ``feat``.
        """
        if self.gfm is not None:
            feat = self.gfm(feat, sentence, pooled)
        feat = self.mid(feat)
        for i in range(3):
            if self.lfm is not None:
                feat = self.lfm[i](feat, words, mask)
            feat = self.up[i](feat, skips[2 - i])
            feat = self.dec[i](feat)
        return inp + self.tail(feat)

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
            pooled: (B, C) whole-image GFM feature when ``x`` is a tile; None = pool ``x``.

        Returns:
            (B, 3, H, W) float, ``x`` + predicted residual (not clamped: clamp for display).
        """
        h, w = x.shape[2], x.shape[3]
        inp = pad_to_multiple(x, self.downsampling_factor)
        feat, skips = self.encode(inp, quality)
        return self.decode(inp, feat, skips, words, mask, sentence, pooled)[:, :, :h, :w]
