"""DAMSM losses, image encoder and stage-2 loss terms (fast CPU tier)."""

from __future__ import annotations

import pytest
import torch

from jpegtext.errors import ConfigError
from jpegtext.restore.networks.config import ImageEncoderConfig
from jpegtext.restore.networks.image_encoder import DAMSMImageEncoder
from jpegtext.restore.training.damsm import damsm_loss, sentence_scores, word_scores
from jpegtext.restore.training.losses import ContrastiveLoss, GANLoss, L1Loss


def _aligned(b: int = 4, d: int = 8, t: int = 3, r: int = 5, noise: float = 0.0):
    g = torch.Generator().manual_seed(0)
    base = torch.randn(b, d, 1, generator=g)
    words = base.expand(b, d, t) + noise * torch.randn(b, d, t, generator=g)
    regions = base.expand(b, d, r) + noise * torch.randn(b, d, r, generator=g)
    return words, torch.zeros(b, t, dtype=torch.bool), base[:, :, 0], regions, base[:, :, 0]


def test_matching_pairs_score_highest() -> None:
    words, mask, sent, regions, glob = _aligned(noise=0.1)
    ws = word_scores(words, mask, regions)
    ss = sentence_scores(sent, glob)
    assert ws.shape == (4, 4) and ss.shape == (4, 4)
    assert torch.equal(ws.argmax(1), torch.arange(4))
    assert torch.equal(ss.argmax(1), torch.arange(4))


def test_loss_is_lower_for_matching_than_shuffled_pairs() -> None:
    words, mask, sent, regions, glob = _aligned(noise=0.1)
    w_ok, s_ok = damsm_loss(words, mask, sent, regions, glob)
    perm = torch.tensor([1, 2, 3, 0])
    w_bad, s_bad = damsm_loss(words, mask, sent, regions[perm], glob[perm])
    assert w_ok < w_bad and s_ok < s_bad
    assert s_ok < 0.1  # gamma3 = 10 makes aligned unit vectors nearly certain


def test_same_class_pairs_are_masked() -> None:
    words, mask, sent, _, _ = _aligned()
    g = torch.Generator().manual_seed(1)
    regions, glob = torch.randn(4, 8, 5, generator=g), torch.randn(4, 8, generator=g)
    w, s = damsm_loss(words, mask, sent, regions, glob, class_ids=torch.zeros(4, dtype=torch.long))
    # every negative has the positive's class: nothing to contrast against
    assert float(w) == pytest.approx(0.0, abs=1e-6) and float(s) == pytest.approx(0.0, abs=1e-6)
    w2, _ = damsm_loss(words, mask, sent, regions, glob, class_ids=torch.tensor([-1, -1, -1, -1]))
    assert float(w2) > 0.1  # unknown classes are never masked


def test_padding_and_empty_captions() -> None:
    words, mask, sent, regions, glob = _aligned()
    w_ref, _ = damsm_loss(words, mask, sent, regions, glob)
    words_p = torch.cat([words, torch.randn(4, 8, 2) * 50], dim=2)
    mask_p = torch.cat([mask, torch.ones(4, 2, dtype=torch.bool)], dim=1)
    w_pad, _ = damsm_loss(words_p, mask_p, sent, regions, glob)
    torch.testing.assert_close(w_pad, w_ref)
    mask_e = mask.clone()
    mask_e[0] = True  # caption 0 has no word: left out of both losses
    w_e, s_e = damsm_loss(words, mask_e, sent, regions, glob)
    w_3, s_3 = damsm_loss(words[1:], mask[1:], sent[1:], regions[1:], glob[1:])
    torch.testing.assert_close(w_e, w_3)
    torch.testing.assert_close(s_e, s_3)


def test_image_encoder_shapes_and_frozen_trunk() -> None:
    enc = DAMSMImageEncoder(ImageEncoderConfig(feature_dim=16, input_size=64))
    regions, glob = enc(torch.rand(2, 3, 40, 50))
    assert regions.shape[:2] == (2, 16) and glob.shape == (2, 16)
    trainable = {n for n, p in enc.named_parameters() if p.requires_grad}
    assert trainable == {"region.weight", "region.bias", "glob.weight", "glob.bias"}
    enc.train()
    assert not enc.trunk.training


def test_stage2_losses() -> None:
    a, b = torch.zeros(2, 3, 8, 8), torch.full((2, 3, 8, 8), 0.5)
    assert float(L1Loss(2.0)(a, b)) == pytest.approx(1.0)
    assert L1Loss(1.0, reduction="none")(a, b).shape == (2,)
    with pytest.raises(ConfigError, match="reduction"):
        L1Loss(1.0, reduction="avg")

    def fake_lpips(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return (x - y).abs().flatten(1).mean(1)

    lc = ContrastiveLoss(fake_lpips, c=0.1, loss_weight=1.0)
    clean, jpeg = torch.zeros(1, 3, 4, 4), torch.ones(1, 3, 4, 4)
    near_clean = torch.full((1, 3, 4, 4), 0.1)
    near_jpeg = torch.full((1, 3, 4, 4), 0.9)
    assert float(lc(near_clean, clean, jpeg)) == pytest.approx(0.1 / 1.0)
    assert float(lc(near_jpeg, clean, jpeg)) == pytest.approx(0.9 / 0.2)
    gan = GANLoss(0.5)
    logits = torch.zeros(2, 1, 3, 3)
    assert float(gan(logits, True)) == pytest.approx(0.5 * 0.6931, rel=1e-3)
    assert float(gan(logits, False, is_disc=True)) == pytest.approx(0.6931, rel=1e-3)
