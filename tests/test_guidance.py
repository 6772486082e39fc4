"""Caption strength (guidance): empty + s * (captioned - empty), through the restorer, API, CLI."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image
from tiny_model import save_tiny_model

import jpegtext
from jpegtext.cli import main
from jpegtext.errors import ConfigError
from jpegtext.restore.runtime.inference import Restorer
from jpegtext.restore.runtime.modelfile import load_model_file
from jpegtext.sample import make_sample_image


@pytest.fixture(scope="module")
def model_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_model(tmp_path_factory.mktemp("m") / "tiny.safetensors")


def _x(seed: int = 1) -> torch.Tensor:
    img = np.asarray(make_sample_image(72, 64, seed=seed))
    return torch.from_numpy(img.copy()).permute(2, 0, 1)[None].float() / 255


@pytest.mark.parametrize("ensemble", [1, 2])
def test_guidance_scales_what_the_caption_changes(model_file: Path, ensemble: int) -> None:
    r = Restorer(load_model_file(model_file), device="cpu", tile=0)
    x = _x()
    captioned = r.restore_tensor(x, "a red barn at the bottom", 1, ensemble)
    empty = r.restore_tensor(x, "", 1, ensemble)
    assert (captioned - empty).abs().max() > 1e-4  # the tiny model reads its caption (a little)
    assert torch.equal(r.restore_tensor(x, "a red barn at the bottom", 1, ensemble, 1.0),
                       captioned)
    for s in (0.0, 0.5, 2.0):
        got = r.restore_tensor(x, "a red barn at the bottom", 1, ensemble, s)
        want = (empty + s * (captioned - empty)).clamp(0, 1)
        torch.testing.assert_close(got, want, rtol=0, atol=1e-6)
    # no caption: nothing to scale, one pass
    assert torch.equal(r.restore_tensor(x, "", 1, ensemble, 3.0), empty)


def test_bad_guidance_is_refused(model_file: Path, tmp_path: Path) -> None:
    r = Restorer(load_model_file(model_file), device="cpu", tile=0)
    for bad in (-0.5, 10.5, float("nan"), float("inf"), "strong"):
        with pytest.raises(ConfigError, match="guidance"):
            r.restore_tensor(_x(), "red", 1, guidance=bad)  # type: ignore[arg-type]
    data = jpegtext.encode(make_sample_image(64, 64, seed=2), 5, caption="red")
    with pytest.raises(ConfigError, match="guidance"):
        jpegtext.decode(data, model=str(model_file), device="cpu", guidance=11)
    src = tmp_path / "in.jpg"
    src.write_bytes(data)
    res = CliRunner().invoke(main, ["decode", str(src), "-o", str(tmp_path / "o.png"),
                                    "--model", str(model_file), "--guidance", "11"])
    assert res.exit_code == 2 and "guidance" in res.output
    assert not (tmp_path / "o.png").exists()


def test_decode_and_cli_apply_guidance_before_the_bound(model_file: Path,
                                                        tmp_path: Path) -> None:
    from jpegtext.codec.consistency import project_jpeg_file
    from jpegtext.codec.jpegfile import parse_file

    clean = make_sample_image(80, 64, seed=3)
    data = jpegtext.encode(clean, 1, caption="green grass at the bottom")
    restorer = Restorer(load_model_file(model_file), device="cpu", tile=0)
    file = parse_file(data)
    raw = restorer.restore(file.pixels(), "blue sky", 1, guidance=2.0)
    got = jpegtext.decode(data, model=str(model_file), device="cpu", caption="blue sky",
                          guidance=2, output_type="np")
    # a caption given here: auto bounds the luma only, after the strength is applied
    assert np.array_equal(got, project_jpeg_file(raw, file, chroma_slack=float("inf")))
    src = tmp_path / "in.jpg"
    src.write_bytes(data)
    out = tmp_path / "out.png"
    res = CliRunner().invoke(main, ["decode", str(src), "-o", str(out), "--model",
                                    str(model_file), "--device", "cpu", "--caption", "blue sky",
                                    "--guidance", "2"])
    assert res.exit_code == 0, res.output
    assert np.array_equal(np.asarray(Image.open(out).convert("RGB")), got)
