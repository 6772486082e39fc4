"""The quality-faded perceptual terms of stage 2: schedule, per-sample weights, wiring."""

from __future__ import annotations

import pytest
import torch

from jpegtext.errors import ConfigError
from jpegtext.restore.training.config import LossConfig
from jpegtext.restore.training.losses import ContrastiveLoss, GANLoss


def test_perceptual_scale_schedule() -> None:
    cfg = LossConfig(perceptual_fade=(2, 10), perceptual_floor=0.25)
    expected = {1: 1.0, 2: 1.0, 6: 0.625, 10: 0.25, 50: 0.25}
    for q, want in expected.items():
        assert cfg.perceptual_scale(q) == pytest.approx(want)
    qs = torch.tensor([1.0, 2.0, 6.0, 10.0, 50.0])
    torch.testing.assert_close(cfg.perceptual_scale(qs), torch.tensor(list(expected.values())))
    # the default is off: every quality x1
    assert LossConfig().perceptual_scale(torch.arange(1.0, 11.0)).eq(1).all()
    assert LossConfig.from_dict(cfg.to_dict()) == cfg


@pytest.mark.parametrize("bad", [{"perceptual_fade": (10, 2)}, {"perceptual_fade": (0, 5)},
                                 {"perceptual_fade": (1, 5, 9)}, {"perceptual_floor": 1.5},
                                 {"perceptual_floor": -0.1}])
def test_perceptual_fade_rejects_bad_values(bad: dict) -> None:
    with pytest.raises(ConfigError, match="perceptual_"):
        LossConfig(**bad)


def test_gan_loss_sample_weight() -> None:
    torch.manual_seed(0)
    logits = torch.randn(3, 1, 4, 4)
    loss = GANLoss(0.5)
    per = torch.stack([GANLoss(0.5, reduction="none")(logits[i:i + 1], True)[0] for i in range(3)])
    w = torch.tensor([1.0, 0.5, 0.0])
    torch.testing.assert_close(loss(logits, True, sample_weight=w), (per * w).mean())
    torch.testing.assert_close(loss(logits, True, sample_weight=torch.ones(3)), loss(logits, True))
    # the discriminator's own loss is never weighted
    assert loss(logits, False, is_disc=True, sample_weight=w) == loss(logits, False, is_disc=True)
    with pytest.raises(ValueError, match="sample_weight shape"):
        loss(logits, True, sample_weight=torch.ones(2))


def test_contrastive_loss_sample_weight() -> None:
    def dist(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:  # stand-in for LPIPS
        return (a - b).abs().flatten(1).mean(1)

    torch.manual_seed(1)
    pred, clean, jpeg = torch.rand(3, 2, 3, 8, 8).unbind(0)
    loss = ContrastiveLoss(dist, c=0.1, loss_weight=0.01)
    ratio = dist(pred, clean) / (dist(pred, jpeg) + 0.1)
    w = torch.tensor([0.25, 1.0])
    torch.testing.assert_close(loss(pred, clean, jpeg, sample_weight=w), 0.01 * (ratio * w).mean())
    torch.testing.assert_close(loss(pred, clean, jpeg), 0.01 * ratio.mean())
