"""tools/interpolate_model.py: weight-space blends of a model and one fine-tuned from it."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from tiny_model import TINY_CONFIG, save_tiny_model

from jpegtext.errors import WeightsError
from jpegtext.restore.networks.config import GeneratorConfig, ModelConfig
from jpegtext.restore.runtime.modelfile import LoadedModel, load_model_file

REPO = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("interpolate_model",
                                               REPO / "tools" / "interpolate_model.py")
interpolate_model = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(interpolate_model)


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    d = tmp_path_factory.mktemp("blend")
    return (save_tiny_model(d / "a.safetensors", seed=1),
            save_tiny_model(d / "b.safetensors", seed=2, scale=0.1))


def _states(m: LoadedModel) -> dict[str, torch.Tensor]:
    return {**{f"g.{k}": v for k, v in m.generator.state_dict().items()},
            **{f"t.{k}": v for k, v in m.text_encoder.state_dict().items()}}


def test_blend_is_the_weighted_mean_and_ends_are_the_inputs(pair: tuple[Path, Path]) -> None:
    a, b = (_states(load_model_file(p)) for p in pair)
    floats = [k for k in a if a[k].is_floating_point()]
    assert any(not torch.equal(a[k], b[k]) for k in floats)
    for alpha, want in ((0.0, a), (1.0, b)):
        got = _states(interpolate_model.interpolate(*pair, alpha))
        assert all(torch.allclose(got[k], want[k], atol=1e-7) for k in floats)
    m = interpolate_model.interpolate(*pair, 0.25)
    got = _states(m)
    for k in floats:
        assert torch.allclose(got[k], 0.75 * a[k] + 0.25 * b[k], atol=1e-6), k
    assert m.info["interpolated"]["alpha"] == 0.25
    assert len(m.info["interpolated"]["start_sha256"]) == 64


def test_fusion_alpha_moves_the_fusion_modules_alone(pair: tuple[Path, Path]) -> None:
    a, b = (_states(load_model_file(p)) for p in pair)
    m = interpolate_model.interpolate(*pair, 0.0, fusion_alpha=1.0)
    got = _states(m)
    fusion = [k for k in a if k.startswith(("g.gfm.", "g.lfm.")) and a[k].is_floating_point()]
    trunk = [k for k in a if not k.startswith(("g.gfm.", "g.lfm.")) and a[k].is_floating_point()]
    assert fusion and trunk
    assert all(torch.allclose(got[k], b[k], atol=1e-7) for k in fusion)
    assert all(torch.allclose(got[k], a[k], atol=1e-7) for k in trunk)
    assert any(not torch.equal(a[k], b[k]) for k in fusion)
    assert m.info["interpolated"]["fusion_alpha"] == 1.0
    with pytest.raises(WeightsError, match="fusion alpha"):
        interpolate_model.interpolate(*pair, 0.5, fusion_alpha=-0.1)


def test_refuses_other_architectures_and_alpha_out_of_range(pair: tuple[Path, Path],
                                                           tmp_path: Path) -> None:
    wide = ModelConfig(text=TINY_CONFIG.text, qualities=TINY_CONFIG.qualities,
                       generator=GeneratorConfig(widths=(8, 8, 16, 32), enc_blocks=(1, 1, 1, 1),
                                                 mid_blocks=1, dec_blocks=(1, 1, 1), text_dim=16,
                                                 gfm_hidden=16))
    other = save_tiny_model(tmp_path / "wide.safetensors", config=wide)
    with pytest.raises(WeightsError, match="different model configs"):
        interpolate_model.interpolate(pair[0], other, 0.5)
    with pytest.raises(WeightsError, match="alpha"):
        interpolate_model.interpolate(*pair, 1.5)


def test_cli_writes_a_loadable_file_and_refuses_to_overwrite(pair: tuple[Path, Path],
                                                            tmp_path: Path) -> None:
    out = tmp_path / "mid.safetensors"
    cmd = [sys.executable, str(REPO / "tools" / "interpolate_model.py"), *map(str, pair), "0.5",
           str(out)]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert "sha256" in done.stdout
    assert load_model_file(out).info["interpolated"]["tuned"] == "b.safetensors"
    again = subprocess.run(cmd, capture_output=True, text=True, check=False)
    assert again.returncode != 0 and "error:" in again.stderr and "Traceback" not in again.stderr

