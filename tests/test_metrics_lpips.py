"""LPIPS: the published reference values, the frozen-loss contract, and the offline trunk rules."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from jpegtext.errors import InvalidImageError, MissingWeightsError, WeightsError
from jpegtext.metrics import ENV_LPIPS_TRUNK, LPIPSMetric, load_lpips, lpips_distance


@pytest.fixture
def random_trunk(tmp_path: Path) -> Path:
    """A torchvision-named AlexNet trunk with random weights (no download, no shared data)."""
    from torchvision.models import alexnet

    torch.manual_seed(0)
    state = {f"features.{k}": v for k, v in alexnet(weights=None).features.state_dict().items()}
    path = tmp_path / "alex_random.pth"
    torch.save(state, path)
    return path


@pytest.fixture(scope="module")
def real_lpips() -> LPIPSMetric:
    from conftest import shared_path

    return load_lpips(
        "alex", shared_path("weights", "lpips", "alexnet_features_imagenet_tv.pth"), "cpu"
    )


def _load(folder: Path, name: str) -> np.ndarray:
    return np.array(Image.open(folder / name).convert("RGB"))


@pytest.mark.slow
def test_reproduces_published_values(real_lpips: LPIPSMetric, lpips_reference_dir: Path) -> None:
    ref = _load(lpips_reference_dir, "ex_ref.png")
    p0 = _load(lpips_reference_dir, "ex_p0.png")
    p1 = _load(lpips_reference_dir, "ex_p1.png")
    # Published: d(ref, p0) = 0.722, d(ref, p1) = 0.138 (lpips_reference/README.md).
    assert round(lpips_distance(ref, p0, real_lpips), 3) == 0.722
    assert round(lpips_distance(ref, p1, real_lpips), 3) == 0.138
    # Same through the tensor path in a batch, and symmetric.
    t = lambda a: torch.from_numpy(a).permute(2, 0, 1).float() / 255  # noqa: E731
    batch_a = torch.stack([t(ref), t(ref)])
    batch_b = torch.stack([t(p0), t(p1)])
    out = real_lpips(batch_a, batch_b)
    assert out.shape == (2,)
    assert out.tolist() == pytest.approx([0.722, 0.138], abs=5e-4)
    assert real_lpips(batch_b, batch_a).tolist() == pytest.approx(out.tolist(), abs=1e-6)


def test_is_a_frozen_differentiable_module(random_trunk: Path) -> None:
    metric = load_lpips(trunk_path=random_trunk, device="cpu")
    assert isinstance(metric, torch.nn.Module)
    assert all(not p.requires_grad for p in metric.parameters())
    # A parent's .train() must not switch LPIPS' dropout on.
    parent = torch.nn.ModuleDict({"lpips": metric}).train()
    assert parent.training and not metric.training and not metric.model.training
    x = torch.rand(2, 3, 32, 32, requires_grad=True)
    y = torch.rand(2, 3, 32, 32)
    d1 = metric(x, y)
    d2 = metric(x, y)
    assert torch.equal(d1, d2)  # deterministic: dropout stays off
    d1.sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert metric(y, y).abs().max() < 1e-6


def test_loads_trunk_tensors_from_the_file(random_trunk: Path) -> None:
    metric = load_lpips(trunk_path=random_trunk, device="cpu")
    state = torch.load(random_trunk, weights_only=True)
    assert torch.equal(getattr(metric.model.net.slice1, "0").weight, state["features.0.weight"])
    assert torch.equal(getattr(metric.model.net.slice5, "10").bias, state["features.10.bias"])


def test_env_var_supplies_the_trunk(random_trunk: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_LPIPS_TRUNK, str(random_trunk))
    metric = load_lpips(device="cpu")
    state = torch.load(random_trunk, weights_only=True)
    assert torch.equal(getattr(metric.model.net.slice2, "3").weight, state["features.3.weight"])


def test_offline_without_a_file_raises_missing_weights(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(ENV_LPIPS_TRUNK, raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "empty_hub"))
    with pytest.raises(MissingWeightsError, match=ENV_LPIPS_TRUNK):
        load_lpips(device="cpu")
    with pytest.raises(MissingWeightsError, match="not found"):
        load_lpips(trunk_path=tmp_path / "nope.pth", device="cpu")


def test_offline_uses_torchvision_cache_with_a_full_checkpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from torchvision.models import AlexNet_Weights, alexnet

    torch.manual_seed(1)
    full = alexnet(weights=None).state_dict()  # features.* and classifier.*
    ckpt = tmp_path / "hub" / "checkpoints" / Path(AlexNet_Weights.IMAGENET1K_V1.url).name
    ckpt.parent.mkdir(parents=True)
    torch.save(full, ckpt)
    monkeypatch.delenv(ENV_LPIPS_TRUNK, raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    metric = load_lpips(device="cpu")
    assert torch.equal(getattr(metric.model.net.slice4, "8").weight, full["features.8.weight"])


def test_incomplete_or_misshaped_trunk_is_refused(tmp_path: Path, random_trunk: Path) -> None:
    state = torch.load(random_trunk, weights_only=True)
    partial = {k: v for k, v in state.items() if not k.startswith("features.10.")}
    torch.save(partial, tmp_path / "partial.pth")
    with pytest.raises(WeightsError, match="lacks 2 tensors"):
        load_lpips(trunk_path=tmp_path / "partial.pth", device="cpu")
    state["features.3.weight"] = torch.zeros(192, 64, 3, 3)
    torch.save(state, tmp_path / "shape.pth")
    with pytest.raises(WeightsError, match="shape"):
        load_lpips(trunk_path=tmp_path / "shape.pth", device="cpu")


def test_constructor_prints_nothing(random_trunk: Path, capsys: pytest.CaptureFixture) -> None:
    load_lpips(trunk_path=random_trunk, device="cpu")
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""


def test_input_validation(random_trunk: Path) -> None:
    metric = load_lpips(trunk_path=random_trunk, device="cpu")
    with pytest.raises(InvalidImageError, match=r"\(B, 3, H, W\)"):
        metric(torch.rand(3, 32, 32), torch.rand(3, 32, 32))
    with pytest.raises(InvalidImageError, match="differ in shape"):
        metric(torch.rand(1, 3, 32, 32), torch.rand(1, 3, 32, 40))
    with pytest.raises(InvalidImageError, match="float"):
        metric(torch.zeros(1, 3, 32, 32, dtype=torch.uint8), torch.zeros(1, 3, 32, 32))
    with pytest.raises(InvalidImageError, match="31x31"):
        metric(torch.rand(1, 3, 30, 40), torch.rand(1, 3, 30, 40))
    assert metric(torch.rand(1, 3, 31, 31), torch.rand(1, 3, 31, 31)).shape == (1,)
    with pytest.raises(InvalidImageError, match="uint8"):
        lpips_distance(np.zeros((32, 32, 3)), np.zeros((32, 32, 3)), metric)
    with pytest.raises(ValueError, match="unknown LPIPS net"):
        LPIPSMetric(net="resnet", trunk_path=random_trunk)


def test_distances_from_equals_separate_calls(random_trunk: Path) -> None:
    """The shared-feature path of the contrastive loss: same values and gradients."""
    from jpegtext.restore.training.losses import ContrastiveLoss

    metric = load_lpips(trunk_path=random_trunk, device="cpu")
    g = torch.Generator().manual_seed(0)
    a = torch.rand(2, 3, 40, 40, generator=g, requires_grad=True)
    b, c = torch.rand(2, 3, 40, 40, generator=g), torch.rand(2, 3, 40, 40, generator=g)
    sep = [metric(a, b), metric(a, c)]
    shared = metric.distances_from(a, b, c)
    for x, y in zip(sep, shared, strict=True):
        torch.testing.assert_close(x, y)
    ga = torch.autograd.grad(sum(x.sum() for x in sep), a)[0]
    gb = torch.autograd.grad(sum(x.sum() for x in shared), a)[0]
    torch.testing.assert_close(ga, gb)
    loss = ContrastiveLoss(metric, 0.1, 1.0)(a, b, c)
    torch.testing.assert_close(loss, (sep[0] / (sep[1] + 0.1)).mean())
    with pytest.raises(InvalidImageError, match="differ in shape"):
        metric.distances_from(a, b[:, :, :32])
