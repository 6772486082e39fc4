"""Stage-2 losses of TGJAR (paper section 3.3-3.4), BasicSR style.

Every loss takes ``loss_weight`` and ``reduction`` and returns the weighted value, so a weight of 0
switches a term off. L = 0.01 L_C + 1 L_R + 0.001 L_G + 0.0005 L_IT by default.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn
from torch.nn import functional as F

from jpegtext.errors import ConfigError
from jpegtext.restore.training.damsm import damsm_loss

__all__ = ["ChromaLoss", "ContrastiveLoss", "DAMSMLoss", "GANLoss", "L1Loss",
           "LightnessAnchorLoss", "cielab", "gaussian_blur", "lightness", "pixel_weighted_l1"]

_REDUCTIONS = ("mean", "sum", "none")


def _reduce(x: torch.Tensor, reduction: str) -> torch.Tensor:
    if reduction == "mean":
        return x.mean()
    if reduction == "sum":
        return x.sum()
    return x


def _weigh(per_sample: torch.Tensor, sample_weight: torch.Tensor | None) -> torch.Tensor:
    if sample_weight is None:
        return per_sample
    if sample_weight.shape != per_sample.shape:
        raise ValueError(f"sample_weight shape {tuple(sample_weight.shape)} does not match the "
                         f"batch {tuple(per_sample.shape)}")
    return per_sample * sample_weight.to(per_sample)


class _Weighted(nn.Module):
    def __init__(self, loss_weight: float, reduction: str) -> None:
        super().__init__()
        if reduction not in _REDUCTIONS:
            raise ConfigError(f'Invalid reduction "{reduction}", should be one of {_REDUCTIONS}')
        if loss_weight < 0:
            raise ConfigError(f'Invalid loss_weight "{loss_weight}", should be >= 0')
        self.loss_weight = float(loss_weight)
        self.reduction = reduction


class L1Loss(_Weighted):
    """L_R = |restored - clean|_1 (per-sample mean over pixels, then ``reduction``)."""

    def __init__(self, loss_weight: float = 1.0, reduction: str = "mean") -> None:
        super().__init__(loss_weight, reduction)

    def forward(self, pred: torch.Tensor, target: torch.Tensor,
                sample_weight: torch.Tensor | None = None) -> torch.Tensor:
        """pred, target: (B, 3, H, W) float in [0, 1]; sample_weight: (B,), 0 leaves a sample out."""
        per_sample = (pred - target).abs().flatten(1).mean(1)
        return self.loss_weight * _reduce(_weigh(per_sample, sample_weight), self.reduction)


def pixel_weighted_l1(pred: torch.Tensor, target: torch.Tensor,
                      weight: torch.Tensor) -> torch.Tensor:
    """Mean over the batch of the per-sample mean of ``weight`` x |pred - target| (channel mean).

    pred, target: (B, 3, H, W); weight: (B, 1, H, W), the loss weight of every pixel (a constant
    map ``w`` gives ``L1Loss(w)``).
    """
    if weight.shape != (pred.shape[0], 1, *pred.shape[2:]):
        raise ValueError(f"weight shape {tuple(weight.shape)} does not match the batch "
                         f"{tuple(pred.shape)}")
    per_pixel = (pred - target).abs().mean(1, keepdim=True)
    return (per_pixel * weight.to(per_pixel)).flatten(1).mean(1).mean()


_EPS_Y = (6.0 / 29.0) ** 3  # CIELAB's switch from the linear segment to the cube root


def _linear(rgb: torch.Tensor) -> torch.Tensor:
    c = rgb.clamp(0.0, 1.0)
    return torch.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def _lab_f(t: torch.Tensor) -> torch.Tensor:
    return torch.where(t > _EPS_Y, t.clamp_min(_EPS_Y) ** (1.0 / 3.0),
                       t / (3.0 * (6.0 / 29.0) ** 2) + 4.0 / 29.0)


def lightness(rgb: torch.Tensor) -> torch.Tensor:
    """CIELAB L*/100 (D65) of sRGB ``rgb`` (B, 3, H, W) in [0, 1], differentiable: (B, 1, H, W)."""
    lin = _linear(rgb)
    y = 0.2126 * lin[:, 0:1] + 0.7152 * lin[:, 1:2] + 0.0722 * lin[:, 2:3]
    return 1.16 * _lab_f(y) - 0.16


def cielab(rgb: torch.Tensor) -> torch.Tensor:
    """CIELAB (L*, a*, b*) / 100 (D65) of sRGB ``rgb`` (B, 3, H, W) in [0, 1], differentiable.

    L* is :func:`lightness`'s.
    """
    lin = _linear(rgb)
    r, g, b = lin[:, 0:1], lin[:, 1:2], lin[:, 2:3]
    fx = _lab_f((0.4124564 * r + 0.3575761 * g + 0.1804375 * b) / 0.95047)
    fy = _lab_f(0.2126 * r + 0.7152 * g + 0.0722 * b)
    fz = _lab_f((0.0193339 * r + 0.1191920 * g + 0.9503041 * b) / 1.08883)
    return torch.cat([1.16 * fy - 0.16, 5.0 * (fx - fy), 2.0 * (fy - fz)], dim=1)


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of (B, C, H, W) ``x`` (radius 3 sigma, reflected borders)."""
    r, c = max(1, round(3.0 * sigma)), x.shape[1]
    t = torch.arange(-r, r + 1, dtype=x.dtype, device=x.device)
    k = torch.exp(-0.5 * (t / sigma) ** 2)
    k = k / k.sum()
    x = F.conv2d(F.pad(x, (r, r, 0, 0), mode="reflect"), k.view(1, 1, 1, -1).expand(c, 1, 1, -1),
                 groups=c)  # along the width
    return F.conv2d(F.pad(x, (0, 0, r, r), mode="reflect"), k.view(1, 1, -1, 1).expand(c, 1, -1, 1),
                    groups=c)  # along the height


class _Blurred(_Weighted):
    """A weighted loss with a Gaussian ``sigma`` in pixels (0 = none) and a per-sample L1."""

    def __init__(self, loss_weight: float = 1.0, reduction: str = "mean",
                 sigma: float = 0.0) -> None:
        super().__init__(loss_weight, reduction)
        if sigma < 0:
            raise ConfigError(f'Invalid sigma "{sigma}", should be >= 0')
        self.sigma = float(sigma)

    def _l1(self, per_pixel: torch.Tensor, sample_weight: torch.Tensor | None) -> torch.Tensor:
        per_sample = per_pixel.abs().flatten(1).mean(1)
        return self.loss_weight * _reduce(_weigh(per_sample, sample_weight), self.reduction)


class LightnessAnchorLoss(_Blurred):
    """|L*(restored) - L*(reference)|_1 / 100: per-sample mean over pixels, weighted, reduced.

    The reference is the same generator's output for the same JPEG with an empty caption (no
    gradient), so a truthful caption may change the colour of the result, not its lightness. With
    ``sigma`` > 0 only the fine part of the lightness change counts (the change minus its Gaussian
    blur: texture and edges), so broad shading stays free.
    """

    def forward(self, pred: torch.Tensor, reference: torch.Tensor,
                sample_weight: torch.Tensor | None = None) -> torch.Tensor:
        """pred, reference: (B, 3, H, W) in [0, 1]; sample_weight: (B,), 0 leaves a sample out."""
        change = lightness(pred) - lightness(reference.detach())
        if self.sigma > 0:
            change = change - gaussian_blur(change, self.sigma)
        return self._l1(change, sample_weight)


class ChromaLoss(_Blurred):
    """|a*b*(restored) - a*b*(clean)|_1 / 100 after a Gaussian blur of ``sigma`` pixels.

    The colour of regions, not of pixels: what a caption's colour words can tell and what a JPEG
    at an extreme quality has nearly lost (its chroma is subsampled and quantised hardest). With
    ``sigma`` 0 every pixel's colour counts. Per-sample mean over pixels and both channels.
    """

    def forward(self, pred: torch.Tensor, target: torch.Tensor,
                sample_weight: torch.Tensor | None = None) -> torch.Tensor:
        """pred, target: (B, 3, H, W) in [0, 1]; sample_weight: (B,), 0 leaves a sample out."""
        diff = cielab(pred)[:, 1:] - cielab(target)[:, 1:]
        if self.sigma > 0:
            diff = gaussian_blur(diff, self.sigma)
        return self._l1(diff, sample_weight)


class ContrastiveLoss(_Weighted):
    """L_C = LPIPS(restored, clean) / (LPIPS(restored, jpeg) + c)  (paper eq. 5).

    Pulls the restored image towards the clean one (positive) and away from the JPEG input
    (negative) in the LPIPS space. LPIPS itself is frozen.

    Args:
        lpips: a callable ``lpips(a, b) -> (B,) or (B,1,1,1)`` on (B, 3, H, W) images in [0, 1].
        c: the constant of the denominator (paper: 0.1).
    """

    def __init__(self, lpips: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
                 c: float = 0.1, loss_weight: float = 0.01, reduction: str = "mean") -> None:
        super().__init__(loss_weight, reduction)
        if c <= 0:
            raise ConfigError(f'Invalid contrastive constant "{c}", should be > 0')
        self.lpips = lpips
        self.c = float(c)

    def forward(self, pred: torch.Tensor, clean: torch.Tensor, jpeg: torch.Tensor,
                sample_weight: torch.Tensor | None = None) -> torch.Tensor:
        """pred, clean, jpeg: (B, 3, H, W) float in [0, 1]; sample_weight: optional (B,)."""
        shared = getattr(self.lpips, "distances_from", None)
        if shared is not None:  # the restored image's LPIPS features computed once
            pos, neg = (d.flatten() for d in shared(pred, clean, jpeg))
        else:
            pos = self.lpips(pred, clean).flatten()
            neg = self.lpips(pred, jpeg).flatten()
        return self.loss_weight * _reduce(_weigh(pos / (neg + self.c), sample_weight),
                                          self.reduction)


class GANLoss(_Weighted):
    """The standard (non-saturating) GAN loss on logits, as in the paper's eq. 8."""

    def __init__(self, loss_weight: float = 0.001, reduction: str = "mean") -> None:
        super().__init__(loss_weight, reduction)

    def forward(self, logits: torch.Tensor, target_is_real: bool,
                is_disc: bool = False, sample_weight: torch.Tensor | None = None) -> torch.Tensor:
        """logits: (B, 1, h, w) discriminator output. The discriminator's own loss is unweighted;
        ``sample_weight`` (B,) scales the generator's per-sample terms."""
        target = torch.ones_like(logits) if target_is_real else torch.zeros_like(logits)
        per_sample = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
        per_sample = per_sample.flatten(1).mean(1)
        if is_disc:
            return _reduce(per_sample, self.reduction)
        return self.loss_weight * _reduce(_weigh(per_sample, sample_weight), self.reduction)


class DAMSMLoss(_Weighted):
    """L_IT = DAMSM word loss + sentence loss of the restored images against their captions."""

    def __init__(self, loss_weight: float = 0.0005, gamma1: float = 4.0, gamma2: float = 5.0,
                 gamma3: float = 10.0) -> None:
        super().__init__(loss_weight, "mean")
        self.gammas = (gamma1, gamma2, gamma3)

    def forward(self, words: torch.Tensor, mask: torch.Tensor, sentence: torch.Tensor,
                regions: torch.Tensor, image_global: torch.Tensor,
                class_ids: torch.Tensor | None = None) -> torch.Tensor:
        """Features as in :func:`jpegtext.restore.training.damsm.damsm_loss`."""
        w, s = damsm_loss(words, mask, sentence, regions, image_global, class_ids, *self.gammas)
        return self.loss_weight * (w + s)
