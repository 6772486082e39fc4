"""The synthetic sample image and examples/make_sample.py."""

from __future__ import annotations

import importlib.util
import io
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from jpegtext.captioner import BuiltinCaptioner
from jpegtext.errors import ConfigError
from jpegtext.sample import make_sample_image

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def sample() -> Image.Image:
    return make_sample_image()


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(10 * np.log10(255.0**2 / mse))


def jpeg_roundtrip(image: Image.Image, quality: int) -> tuple[np.ndarray, int]:
    buf = io.BytesIO()
    image.save(buf, "JPEG", quality=quality)
    return np.asarray(Image.open(buf).convert("RGB")), buf.tell()


def test_size_mode_and_determinism(sample: Image.Image) -> None:
    assert sample.size == (768, 512) and sample.mode == "RGB"
    small = make_sample_image(192, 128, seed=0)
    assert small.size == (192, 128)
    assert small.tobytes() == make_sample_image(192, 128, seed=0).tobytes()
    other = np.asarray(make_sample_image(192, 128, seed=1), np.int16)
    assert np.abs(other - np.asarray(small, np.int16)).mean() > 3  # the seed changes the scene
    assert make_sample_image(100, 300).size == (100, 300)  # other shapes work too


def test_scene_layout(sample: Image.Image) -> None:
    arr = np.asarray(sample).astype(np.float32)
    sky = arr[: 512 // 6].reshape(-1, 3).mean(0)
    meadow = arr[-512 // 5 :].reshape(-1, 3).mean(0)
    assert sky[2] > sky[0] + 40, sky  # blue sky at the top
    assert meadow[1] > meadow[0] + 20 and meadow[1] > meadow[2] + 20, meadow  # green grass
    r, g, b = arr[..., 0], arr[..., 1], arr[..., 2]
    barn_red = (r > 130) & (g < 70) & (b < 70)
    assert 0.01 < barn_red.mean() < 0.10, barn_red.mean()
    caption = BuiltinCaptioner().caption(sample)
    assert "blue at the top" in caption and "green" in caption and "red patch" in caption, caption


def test_has_texture_edges_and_gradients(sample: Image.Image) -> None:
    grey = cv2.cvtColor(np.asarray(sample), cv2.COLOR_RGB2GRAY).astype(np.float32)
    lap = np.abs(cv2.Laplacian(grey, cv2.CV_32F, ksize=1))
    assert lap[-128:].mean() > 12  # fine grass texture in the foreground (measured 14.6)
    assert lap[:80, :400].mean() < lap[-128:].mean() / 3  # smooth sky
    assert np.percentile(lap, 99.5) > 60  # sharp edges (barn, fence, silo)


def test_low_quality_jpeg_visibly_damages_it(sample: Image.Image) -> None:
    clean = np.asarray(sample)
    q1, size1 = jpeg_roundtrip(sample, 1)
    q90, _ = jpeg_roundtrip(sample, 90)
    assert psnr(clean, q1) < 25.0
    assert psnr(clean, q90) > psnr(clean, q1) + 10.0
    assert size1 < 15_000  # a few kilobytes at QF 1


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"width": 10}, "width"),
        ({"height": 100_000}, "height"),
        ({"width": 300.5}, "width"),
        ({"seed": -1}, "seed"),
    ],
)
def test_bad_arguments(kwargs: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        make_sample_image(**kwargs)


def load_example():  # noqa: ANN201
    spec = importlib.util.spec_from_file_location(
        "make_sample", REPO / "examples" / "make_sample.py"
    )
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(module)
    return module


def test_example_script_writes_the_image(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    example = load_example()
    out = tmp_path / "sub" / "sample.png"
    assert example.main([str(out), "--width", "192", "--height", "128", "--seed", "2"]) == 0
    written = Image.open(out)
    assert written.format == "PNG"
    assert written.tobytes() == make_sample_image(192, 128, seed=2).tobytes()
    assert "wrote" in capsys.readouterr().out
    with pytest.raises(SystemExit):  # refuses to overwrite without --force
        example.main([str(out), "--width", "192", "--height", "128"])
    assert example.main([str(out), "--width", "96", "--height", "64", "--force"]) == 0
    assert Image.open(out).size == (96, 64)
