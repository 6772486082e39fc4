"""PSNR, SSIM and PSNR-B: hand-computed values, an independent implementation, conventions."""

from __future__ import annotations

import io
import math

import numpy as np
import pytest
import torch
from PIL import Image

from jpegtext.errors import InvalidImageError
from jpegtext.metrics import (
    blocking_effect_factor,
    psnr,
    psnr_b,
    rgb_to_y,
    rgb_to_ycbcr,
    ssim,
    ycbcr_to_rgb,
)


def _scene(h: int = 96, w: int = 128, seed: int = 0) -> np.ndarray:
    """A smooth colour scene with edges and texture (deterministic), uint8 (H, W, 3)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    r = 128 + 90 * np.sin(xx / 9.0) * np.cos(yy / 13.0)
    g = 60 + 1.2 * xx + 20 * (yy > h / 2)
    b = 200 - 1.5 * yy + 10 * rng.standard_normal((h, w))
    return np.clip(np.stack([r, g, b], -1), 0, 255).round().astype(np.uint8)


def _jpeg(img: np.ndarray, quality: int) -> np.ndarray:
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="JPEG", quality=quality, subsampling="4:2:0")
    buf.seek(0)
    return np.array(Image.open(buf).convert("RGB"))


# ---------------------------------------------------------------- PSNR, hand-computed


def test_psnr_of_constant_offset_is_analytic() -> None:
    a = np.full((16, 16, 3), 100, np.uint8)
    b = a + 5  # MSE = 25 exactly
    assert psnr(a, b) == pytest.approx(10 * math.log10(255**2 / 25), abs=1e-12)
    assert psnr(a, b) == pytest.approx(34.151404, abs=1e-6)


def test_psnr_identical_is_inf_and_symmetric() -> None:
    a, b = _scene(), _scene(seed=1)
    assert psnr(a, a) == math.inf
    assert psnr(a, b) == pytest.approx(psnr(b, a), abs=1e-12)


def test_psnr_y_of_single_channel_difference_uses_bt601_weight() -> None:
    # Only green differs, by 10: Y differs by 10 * 128.553 / 255 everywhere.
    a = np.full((8, 8, 3), 50, np.uint8)
    b = a.copy()
    b[..., 1] += 10
    dy = 10 * 128.553 / 255
    assert psnr(a, b, channel="y") == pytest.approx(10 * math.log10(255**2 / dy**2), abs=1e-9)
    # RGB: one channel of three differs by 10 -> MSE 100 / 3.
    assert psnr(a, b) == pytest.approx(10 * math.log10(255**2 / (100 / 3)), abs=1e-9)


def test_crop_border_ignores_the_border() -> None:
    a = _scene()
    b = a.copy()
    b[:4] = 0  # damage only the top 4 rows
    assert psnr(a, b, crop_border=4) == math.inf
    assert psnr(a, b, crop_border=3) < 60


# ---------------------------------------------------------------- colour conventions


def test_bt601_limited_range_extremes_and_inverse() -> None:
    black, white = np.zeros(3), np.full(3, 255.0)
    assert rgb_to_y(black) == pytest.approx(16.0)
    assert rgb_to_y(white) == pytest.approx(235.0)
    assert rgb_to_ycbcr(white)[1:] == pytest.approx([128.0, 128.0])
    assert rgb_to_ycbcr(np.array([255.0, 0, 0]))[2] == pytest.approx(240.0)
    rgb = _scene().astype(np.float64)
    assert np.abs(ycbcr_to_rgb(rgb_to_ycbcr(rgb)) - rgb).max() < 1e-9


# ---------------------------------------------------------------- input handling


def test_tensor_in_unit_range_equals_uint8() -> None:
    a, b = _scene(), _jpeg(_scene(), 20)
    ta = torch.from_numpy(a).permute(2, 0, 1).float() / 255
    tb = torch.from_numpy(b).permute(2, 0, 1).float() / 255
    for fn in (psnr, ssim, psnr_b):
        for ch in ("rgb", "y"):
            ref = fn(a, b, channel=ch)
            # float32 tensors round the inputs: agreement to ~1e-5 dB is the float32 floor.
            assert fn(ta, tb, channel=ch, data_range=1.0) == pytest.approx(ref, abs=1e-4)
            assert fn(ta[None], tb[None], channel=ch, data_range=1.0) == pytest.approx(
                ref, abs=1e-4
            )


def test_unit_range_floats_with_default_range_are_refused() -> None:
    a = np.random.default_rng(0).random((16, 16, 3))
    with pytest.raises(InvalidImageError, match="data_range=1.0"):
        psnr(a, a * 0.9)
    assert psnr(a, a * 0.9, data_range=1.0) > 0


@pytest.mark.parametrize(
    ("a", "b", "match"),
    [
        (np.zeros((8, 8, 3), np.uint8), np.zeros((8, 9, 3), np.uint8), "same shape"),
        (np.zeros((8, 8, 4), np.uint8), np.zeros((8, 8, 4), np.uint8), r"\(H, W, 3\)"),
        (np.zeros((2, 8, 8, 3), np.uint8), np.zeros((2, 8, 8, 3), np.uint8), r"\(H, W, 3\)"),
        (np.full((8, 8), 300.0), np.zeros((8, 8)), "outside"),
        (np.full((8, 8), np.nan), np.zeros((8, 8)), "NaN"),
        ([[1, 2]], [[1, 2]], "numpy array or a torch tensor"),
    ],
)
def test_bad_inputs_raise_invalid_image(a: object, b: object, match: str) -> None:
    with pytest.raises(InvalidImageError, match=match):
        psnr(a, b)


def test_batches_and_bad_options_are_refused() -> None:
    t = torch.rand(2, 3, 16, 16)
    with pytest.raises(InvalidImageError, match="batch of 2"):
        psnr(t, t, data_range=1.0)
    a = _scene()
    with pytest.raises(InvalidImageError, match="channel"):
        psnr(a, a, channel="ycbcr")  # type: ignore[arg-type]
    with pytest.raises(InvalidImageError, match="crop_border"):
        psnr(a, a, crop_border=48)
    with pytest.raises(InvalidImageError, match="11x11"):
        ssim(a[:10, :10], a[:10, :10])


# ---------------------------------------------------------------- SSIM


def test_ssim_identical_is_one_and_degrades_with_quality() -> None:
    a = _scene()
    assert ssim(a, a) == pytest.approx(1.0, abs=1e-12)
    s10, s50 = ssim(a, _jpeg(a, 10)), ssim(a, _jpeg(a, 50))
    assert 0 < s10 < s50 < 1


def test_ssim_of_constant_images_is_analytic() -> None:
    # Constant images: sigma terms vanish, SSIM = (2 mu_a mu_b + C1) / (mu_a^2 + mu_b^2 + C1).
    a = np.full((20, 20), 100, np.uint8)
    b = np.full((20, 20), 120, np.uint8)
    c1 = (0.01 * 255) ** 2
    expected = (2 * 100 * 120 + c1) / (100**2 + 120**2 + c1)
    assert ssim(a, b) == pytest.approx(expected, abs=1e-12)


# ---------------------------------------------------------------- independent implementation


@pytest.mark.parametrize("quality", [5, 30])
def test_psnr_ssim_match_scikit_image(quality: int) -> None:
    metrics = pytest.importorskip("skimage.metrics", reason="scikit-image not installed")
    a = _scene(120, 136)
    b = _jpeg(a, quality)
    sk_kw = {"gaussian_weights": True, "sigma": 1.5, "use_sample_covariance": False}
    # RGB
    assert psnr(a, b) == pytest.approx(
        metrics.peak_signal_noise_ratio(a, b, data_range=255), abs=1e-4
    )
    assert ssim(a, b) == pytest.approx(
        metrics.structural_similarity(a, b, data_range=255, channel_axis=2, **sk_kw), abs=1e-6
    )
    # Y: skimage on the same BT.601 luma computed by hand from the documented formula.
    ya = 16 + (65.481 * a[..., 0] + 128.553 * a[..., 1] + 24.966 * a[..., 2]) / 255
    yb = 16 + (65.481 * b[..., 0] + 128.553 * b[..., 1] + 24.966 * b[..., 2]) / 255
    assert psnr(a, b, channel="y") == pytest.approx(
        metrics.peak_signal_noise_ratio(ya, yb, data_range=255), abs=1e-4
    )
    assert ssim(a, b, channel="y") == pytest.approx(
        metrics.structural_similarity(ya, yb, data_range=255, **sk_kw), abs=1e-6
    )
    # crop_border
    assert psnr(a, b, channel="y", crop_border=8) == pytest.approx(
        metrics.peak_signal_noise_ratio(ya[8:-8, 8:-8], yb[8:-8, 8:-8], data_range=255),
        abs=1e-4,
    )


# ---------------------------------------------------------------- PSNR-B


def test_bef_of_hand_made_blocky_image() -> None:
    # 16x16 image of four flat 8x8 blocks with values 0, 8 / 16, 24 (rows: top, bottom).
    img = np.zeros((16, 16))
    img[:8, 8:] = 8
    img[8:, :8] = 16
    img[8:, 8:] = 24
    # Horizontal boundary pairs: column 7|8 in each of 16 rows, difference 8 -> 16 * 64.
    # Vertical boundary pairs: row 7|8 in each of 16 columns, difference 16 -> 16 * 256.
    n_b = 16 + 16
    d_b = (16 * 64 + 16 * 256) / n_b
    # All other pairs are inside flat blocks: D_Bc = 0.
    eta = math.log2(8) / math.log2(16)
    assert blocking_effect_factor(img) == pytest.approx(eta * d_b, abs=1e-12)
    assert blocking_effect_factor(img) == pytest.approx(120.0, abs=1e-12)


def test_bef_is_zero_without_blocking_and_psnr_b_reduces_to_psnr() -> None:
    # A horizontal ramp has the same step across and inside blocks: D_B == D_Bc -> BEF 0.
    ramp = np.tile(np.arange(32, dtype=np.float64) * 3, (32, 1))
    assert blocking_effect_factor(ramp) == 0.0
    a = np.tile(np.arange(32, dtype=np.uint8) * 3, (32, 1))
    b = a + 2
    assert psnr_b(a, b) == pytest.approx(psnr(a, b), abs=1e-12)


def test_psnr_b_penalises_jpeg_blocking() -> None:
    a = _scene(128, 128)
    b = _jpeg(a, 5)
    assert psnr_b(a, b, channel="y") < psnr(a, b, channel="y") - 0.5
    # BEF is measured on the test image, so the argument order matters.
    assert psnr_b(b, a, channel="y") > psnr_b(a, b, channel="y")
