"""FID and PI: closed-form checks, and "not available" instead of a made-up number."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from jpegtext.errors import MissingWeightsError, WeightsError
from jpegtext.metrics import (
    ENV_FID_INCEPTION,
    fid,
    fid_from_features,
    frechet_distance,
    perceptual_index,
)


def test_frechet_distance_of_1d_gaussians_is_analytic() -> None:
    # (mu1 - mu2)^2 + s1^2 + s2^2 - 2 s1 s2 = (mu1 - mu2)^2 + (s1 - s2)^2
    d = frechet_distance(np.array([1.0]), np.array([[4.0]]), np.array([3.0]), np.array([[9.0]]))
    assert d == pytest.approx((1 - 3) ** 2 + (2 - 3) ** 2, abs=1e-9)


def test_frechet_distance_of_diagonal_gaussians_and_identity() -> None:
    rng = np.random.default_rng(0)
    v1, v2 = rng.uniform(0.5, 2, 6), rng.uniform(0.5, 2, 6)
    mu1, mu2 = rng.normal(size=6), rng.normal(size=6)
    expected = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(v1) - np.sqrt(v2)) ** 2)
    assert frechet_distance(mu1, np.diag(v1), mu2, np.diag(v2)) == pytest.approx(expected, 1e-9)
    a = rng.normal(size=(6, 6))
    cov = a @ a.T + np.eye(6)
    assert frechet_distance(mu1, cov, mu1, cov) == pytest.approx(0.0, abs=1e-7)


def test_fid_from_features_uses_sample_statistics() -> None:
    rng = np.random.default_rng(1)
    f1 = rng.normal(0, 1, size=(400, 3))
    f2 = rng.normal(2, 1, size=(400, 3))
    expected = frechet_distance(
        f1.mean(0), np.cov(f1, rowvar=False), f2.mean(0), np.cov(f2, rowvar=False)
    )
    assert fid_from_features(f1, f2) == pytest.approx(expected, rel=1e-12)
    # Fewer samples than dimensions takes the low-rank path: same value as the full formula.
    g1, g2 = rng.normal(0, 1, size=(5, 40)), rng.normal(0.5, 2, size=(7, 40))
    full = frechet_distance(
        g1.mean(0), np.cov(g1, rowvar=False), g2.mean(0), np.cov(g2, rowvar=False)
    )
    # (sqrt of rounding-level eigenvalues limits the full formula to ~1e-8 relative.)
    assert fid_from_features(g1, g2) == pytest.approx(full, rel=1e-7)
    # Means differ by 2 in 3 dimensions: FID close to 3 * 4 = 12.
    assert fid_from_features(f1, f2) == pytest.approx(12.0, rel=0.15)
    with pytest.raises(ValueError, match="same D"):
        fid_from_features(f1, f2[:, :2])
    with pytest.raises(ValueError, match="two images"):
        fid_from_features(f1[:1], f2)


def test_fid_without_inception_weights_is_not_available(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_FID_INCEPTION, raising=False)
    imgs = [np.zeros((32, 32, 3), np.uint8)] * 2
    with pytest.raises(MissingWeightsError, match="FID is not available"):
        fid(imgs, imgs)
    with pytest.raises(MissingWeightsError, match="not found"):
        fid(imgs, imgs, inception_path="/nonexistent/inception.pth")


def test_fid_runs_with_user_supplied_weights(tmp_path: Path) -> None:
    from torchvision.models import inception_v3

    torch.manual_seed(0)
    model = inception_v3(weights=None, aux_logits=False, init_weights=False)
    path = tmp_path / "inception.pth"
    torch.save(model.state_dict(), path)
    rng = np.random.default_rng(0)
    set1 = [rng.integers(0, 256, (40, 48, 3), dtype=np.uint8) for _ in range(3)]
    set2 = [np.full((40, 48, 3), 128, np.uint8)] * 3
    same = fid(set1, set1, inception_path=path, device="cpu", batch_size=2)
    differ = fid(set1, set2, inception_path=path, device="cpu", batch_size=2)
    assert same == pytest.approx(0.0, abs=1e-6)
    assert differ > 0.0
    torch.save({"fc.weight": torch.zeros(3, 3)}, tmp_path / "bad.pth")
    with pytest.raises(WeightsError, match="Inception-v3"):
        fid(set1, set1, inception_path=tmp_path / "bad.pth", device="cpu")


def test_perceptual_index() -> None:
    assert perceptual_index(4.0, ma_score=8.0) == pytest.approx(3.0)
    with pytest.raises(MissingWeightsError, match="PI is not available"):
        perceptual_index(4.0)
