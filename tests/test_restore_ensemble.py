"""Geometric self-ensemble: the symmetries, the JPEG-grid padding, the API/CLI/evaluation knobs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from tiny_model import TINY_CONFIG, save_tiny_model

from jpegtext.errors import ConfigError
from jpegtext.evaluation.methods import parse_method_specs
from jpegtext.restore.networks.generator import TGJARGenerator
from jpegtext.restore.runtime.inference import Restorer, _symmetry
from jpegtext.restore.runtime.modelfile import load_model_file


@pytest.fixture(scope="module")
def model_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_model(tmp_path_factory.mktemp("m") / "tiny.safetensors")


def _image(h: int, w: int, seed: int = 0) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w]
    rng = np.random.default_rng(seed)
    img = np.stack([xx * 255 / w, yy * 255 / h, (xx * yy) % 97 * 2.5], -1)
    return np.clip(img + rng.normal(0, 10, img.shape), 0, 255).astype(np.uint8)


def test_symmetries_are_distinct_and_invert() -> None:
    x = torch.arange(2 * 3 * 5 * 7, dtype=torch.float32).reshape(2, 3, 5, 7)
    for k in range(8):
        y = _symmetry(x, k)
        assert y.shape == ((2, 3, 7, 5) if k & 4 else x.shape)
        assert torch.equal(_symmetry(y, k, inverse=True), x)
        assert not any(torch.equal(y, _symmetry(x, j)) for j in range(k))


@pytest.mark.parametrize("k", [2, 8])
@pytest.mark.parametrize("size", [(48, 64), (37, 53)])
def test_identity_model_stays_identity(tmp_path: Path, k: int, size: tuple[int, int]) -> None:
    """A fresh generator is the identity: each copy maps back exactly, the padding is cut off."""
    from jpegtext.restore.networks.text import BiLSTMTextEncoder, Vocabulary
    from jpegtext.restore.runtime.modelfile import save_model_file

    path = tmp_path / "identity.safetensors"
    save_model_file(path, TGJARGenerator(TINY_CONFIG.generator),
                    BiLSTMTextEncoder(Vocabulary.build(["red"]), TINY_CONFIG.text), TINY_CONFIG,
                    Vocabulary.build(["red"]), None)
    r = Restorer(load_model_file(path), device="cpu", tile=0)
    img = _image(*size)
    assert np.array_equal(r.restore(img, "red", 1, ensemble=k), img)


def test_ensemble_is_the_mean_of_the_mapped_back_copies(model_file: Path) -> None:
    r = Restorer(load_model_file(model_file), device="cpu", tile=0)
    img = _image(37, 53)
    x = torch.from_numpy(img).permute(2, 0, 1)[None].float() / 255
    got = r.restore_tensor(x, "red at the top", 5, ensemble=8)
    # by hand: pad to 48 x 64 (the 16-pixel grid), restore each symmetry, map back, average
    padded = torch.nn.functional.pad(x, (0, 11, 0, 11), mode="replicate")
    outs = [_symmetry(r.restore_tensor(_symmetry(padded, k).contiguous(), "red at the top", 5),
                      k, inverse=True) for k in range(8)]
    want = torch.stack(outs).mean(0)[:, :, :37, :53]
    torch.testing.assert_close(got, want, rtol=0, atol=1e-6)
    plain = r.restore_tensor(x, "red at the top", 5)
    assert (got - plain).abs().max() > 1e-3  # the copies differ: the ensemble is not a no-op
    two = r.restore_tensor(x, "red at the top", 5, ensemble=2)
    torch.testing.assert_close(two, torch.stack(outs[:2]).mean(0)[:, :, :37, :53], rtol=0,
                               atol=1e-6)


def test_ensemble_default_per_restorer_and_bad_values(model_file: Path) -> None:
    img = _image(32, 40)
    r8 = Restorer(load_model_file(model_file), device="cpu", ensemble=8)
    r1 = Restorer(load_model_file(model_file), device="cpu")
    assert np.array_equal(r8.restore(img, "red", 1), r1.restore(img, "red", 1, ensemble=8))
    assert np.array_equal(r8.restore(img, "red", 1, ensemble=1), r1.restore(img, "red", 1))
    for bad in (0, 3, 4):
        with pytest.raises(ConfigError, match="ensemble"):
            r1.restore(img, "red", 1, ensemble=bad)
        with pytest.raises(ConfigError, match="ensemble"):
            Restorer(load_model_file(model_file), device="cpu", ensemble=bad)


def test_decode_api_and_cli_take_ensemble(model_file: Path, tmp_path: Path) -> None:
    from click.testing import CliRunner
    from PIL import Image

    import jpegtext
    from jpegtext.cli import main

    data = jpegtext.encode(Image.fromarray(_image(40, 56)), quality=5, caption="red at the top")
    plain = jpegtext.decode(data, model=str(model_file), device="cpu", output_type="np")
    ens = jpegtext.decode(data, model=str(model_file), device="cpu", output_type="np",
                          ensemble=8)
    assert ens.shape == plain.shape and not np.array_equal(ens, plain)
    src = tmp_path / "in.jpg"
    src.write_bytes(data)
    runner = CliRunner()
    out = tmp_path / "out.png"
    res = runner.invoke(main, ["decode", str(src), "-o", str(out), "--model", str(model_file),
                               "--device", "cpu", "--ensemble", "8"])
    assert res.exit_code == 0, res.output
    assert np.array_equal(np.asarray(Image.open(out).convert("RGB")), ens)
    res = runner.invoke(main, ["decode", str(src), "-o", str(tmp_path / "bad.png"),
                               "--ensemble", "3"])
    assert res.exit_code == 2 and "ensemble" in res.output
    assert not (tmp_path / "bad.png").exists()


def test_method_names_with_ensemble(model_file: Path) -> None:
    specs = parse_method_specs(["m", "m+x8", "m+x8:nocap", "zoo+x2:wrongcap",
                                f"{model_file}+x8"], zoo_names=["m"])
    got = [(s.name, s.model, s.caption_mode, s.ensemble) for s in specs]
    assert got == [("m", "m", "caption", 1), ("m+x8", "m", "caption", 8),
                   ("m+x8:nocap", "m", "nocap", 8), ("m+x2:wrongcap", "m", "wrongcap", 2),
                   ("tiny+x8", str(model_file), "caption", 8)]
    with pytest.raises(ConfigError, match="ensemble"):
        parse_method_specs(["jpeg+x8"], zoo_names=["m"])
    with pytest.raises(ConfigError, match="unknown method"):
        parse_method_specs(["m+x3"], zoo_names=["m"])
