"""Image-text fusion modules of TGJAR (paper section 3.2, Fig. 3).

* :class:`GlobalFusion` (GFM) fuses the sentence feature with globally pooled image features.
* :class:`LocalFusion` (LFM) lets every pixel attend over the words (AttnGAN-style attention
  with padding masked) and fuses the attended word features with the image features.
"""

from __future__ import annotations

import math

import torch
from torch import nn

__all__ = ["GlobalFusion", "LocalFusion"]


class GlobalFusion(nn.Module):
    """GFM: Conv3 + GAP -> concat sentence -> FC, FC -> repeat -> concat input -> Conv3.

    Args:
        channels: image feature channels C (paper: 128).
        text_dim: sentence feature size D.
        hidden: width of the fully connected layers (paper: 128).
    """

    def __init__(self, channels: int, text_dim: int, hidden: int = 128) -> None:
        super().__init__()
        self.pool_conv = nn.Conv2d(channels, channels, 3, padding=1)
        self.fc = nn.Sequential(
            nn.Linear(channels + text_dim, hidden),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Linear(hidden, channels),
        )
        self.fuse = nn.Conv2d(2 * channels, channels, 3, padding=1)

    def pool_map(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) map whose spatial mean is the pooled image feature (tiling sums it)."""
        return self.pool_conv(x)

    def forward(self, x: torch.Tensor, sentence: torch.Tensor,
                pooled: torch.Tensor | None = None) -> torch.Tensor:
        """Fuse.

        Args:
            x: (B, C, H, W) image features.
            sentence: (B, D) sentence features (zeros for an empty caption).
            pooled: (B, C) pooled image feature of the whole image when ``x`` is a tile of it
                (tiled inference); None = pool ``x`` itself.

        Returns:
            (B, C, H, W) text-guided global features.
        """
        g = self.pool_map(x).mean(dim=(2, 3)) if pooled is None else pooled.to(x.dtype)
        g = self.fc(torch.cat([g, sentence.to(g.dtype)], dim=1))
        g = g[:, :, None, None].expand(-1, -1, x.shape[2], x.shape[3])
        return self.fuse(torch.cat([x, g], dim=1))


class LocalFusion(nn.Module):
    """LFM: per-pixel attention over words, attended words fused with the image features.

    A 1x1 convolution maps the word features to the image channels; the image-word correlation
    (scaled by 1/sqrt(C)) gives, for every pixel, a softmax over the words in which padding words
    get no weight. A learned "null word" is always present so that a caption with no words (or
    words irrelevant to a region) has a defined, learnable answer. The context is concatenated
    with the image features and fused by a 3x3 convolution, added back to the input.

    Args:
        channels: image feature channels C.
        text_dim: word feature size D.
        null_word: add the learned null word.
    """

    def __init__(self, channels: int, text_dim: int, null_word: bool = True) -> None:
        super().__init__()
        self.word_proj = nn.Conv1d(text_dim, channels, 1)
        self.query = nn.Conv2d(channels, channels, 1)
        self.null = nn.Parameter(torch.zeros(1, channels, 1)) if null_word else None
        self.fuse = nn.Sequential(
            nn.Conv2d(2 * channels, channels, 3, padding=1),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(channels, channels, 3, padding=1),
        )
        self.scale = 1.0 / math.sqrt(channels)

    def attention(self, x: torch.Tensor, words: torch.Tensor,
                  mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Attention of every pixel over the words.

        Args:
            x: (B, C, H, W) image features.
            words: (B, D, T) word features.
            mask: (B, T) bool, True = padding.

        Returns:
            context (B, C, H, W) and attention (B, H*W, T') with T' = T (+1 for the null word,
            which comes last).
        """
        b, c, h, w = x.shape
        src = self.word_proj(words.to(x.dtype))  # (B, C, T)
        if self.null is not None:
            src = torch.cat([src, self.null.expand(b, -1, -1).to(src.dtype)], dim=2)
            mask = torch.cat([mask, mask.new_zeros(b, 1)], dim=1)
        q = self.query(x).flatten(2).transpose(1, 2)  # (B, HW, C)
        logits = torch.bmm(q, src) * self.scale  # (B, HW, T')
        logits = logits.masked_fill(mask[:, None, :], float("-inf"))
        attn = torch.softmax(logits.float(), dim=-1).to(x.dtype)
        # rows with every word masked (empty caption without a null word): no context
        attn = torch.nan_to_num(attn, nan=0.0)
        ctx = torch.bmm(src, attn.transpose(1, 2)).view(b, c, h, w)
        return ctx, attn

    def forward(self, x: torch.Tensor, words: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Fuse; shapes as in :meth:`attention`, returns (B, C, H, W)."""
        ctx, _ = self.attention(x, words, mask)
        return x + self.fuse(torch.cat([x, ctx], dim=1))
