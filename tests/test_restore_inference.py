"""Restorer: tiling on the JPEG grid without seams, thread safety, zoo rules, bad weights."""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path

import numpy as np
import pytest
import torch
from tiny_model import TINY_CONFIG, save_tiny_model

from jpegtext.errors import ConfigError, InsufficientMemoryError, WeightsError
from jpegtext.restore import zoo
from jpegtext.restore.inference import Restorer, plan_tiles
from jpegtext.restore.modelfile import load_model_file

CFG = TINY_CONFIG


@pytest.fixture(scope="module")
def model_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_model(tmp_path_factory.mktemp("m") / "tiny.safetensors",
                           info={"note": "test"})


def _image(h: int = 136, w: int = 200) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w]
    rng = np.random.default_rng(0)
    img = np.stack([xx * 255 / w, yy * 255 / h, (xx + yy) % 64 * 4], -1)
    return np.clip(img + rng.normal(0, 8, img.shape), 0, 255).astype(np.uint8)


def test_model_file_round_trip(model_file: Path) -> None:
    m = load_model_file(model_file)
    assert m.config == CFG and m.vocab is not None and "barn" in m.vocab
    assert m.info == {"note": "test"}


def test_plan_tiles_is_grid_aligned_and_covers() -> None:
    ph, pw = plan_tiles(1000, 517, 256, 32)
    for plan in (ph, pw):
        assert all(s % 8 == 0 for s in plan.starts)
        assert plan.starts[0] == 0 and plan.end(plan.starts[-1]) == plan.size
        assert plan.end(plan.starts[-1]) - plan.starts[-1] < plan.tile + 8
        assert all(b - a <= plan.tile - 32 for a, b in zip(plan.starts, plan.starts[1:], strict=False))
    with pytest.raises(ConfigError, match="tile"):
        plan_tiles(100, 100, 100, 8)
    with pytest.raises(ConfigError, match="overlap"):
        plan_tiles(100, 100, 64, 12)


def test_tiled_matches_untiled(model_file: Path) -> None:
    img = _image()
    full = Restorer(load_model_file(model_file), device="cpu", tile=0)
    tiled = Restorer(load_model_file(model_file), device="cpu", tile=64, tile_overlap=16)
    a = full.restore(img, "red at the top", 1).astype(np.float64)
    b = tiled.restore(img, "red at the top", 1).astype(np.float64)
    assert a.shape == img.shape
    assert np.abs(a - img).mean() > 1.0  # the model does change the image
    # close everywhere (no seams): mean and max deviation in 8-bit levels
    assert np.abs(a - b).mean() < 0.1
    assert np.abs(a - b).max() <= 3
    # the check can see seams: without overlap the tile borders show
    seams = Restorer(load_model_file(model_file), device="cpu", tile=64, tile_overlap=0)
    c = seams.restore(img, "red at the top", 1).astype(np.float64)
    assert np.abs(a - c).max() > 8


def test_restore_is_deterministic_and_caption_matters(model_file: Path) -> None:
    r = Restorer(load_model_file(model_file), device="cpu")
    img = _image(64, 72)
    a = r.restore(img, "red at the top", 5)
    assert np.array_equal(a, r.restore(img, "red at the top", 5))
    assert not np.array_equal(a, r.restore(img, "blue at the bottom", 5))


def test_concurrent_calls_give_the_same_results(model_file: Path) -> None:
    r = Restorer(load_model_file(model_file), device="cpu")
    imgs = [_image(48 + 8 * i, 64) for i in range(4)]
    caps = ["red", "green at the top", "", "blue"]
    expected = [r.restore(im, c, 1) for im, c in zip(imgs, caps, strict=True)]
    results: dict[int, np.ndarray] = {}

    def work(i: int) -> None:
        results[i] = r.restore(imgs[i], caps[i], 1)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i in range(4):
        assert np.array_equal(results[i], expected[i])


def test_bad_requests(model_file: Path) -> None:
    with pytest.raises(ConfigError, match="CUDA"):
        Restorer(load_model_file(model_file), device="cpu", precision="fp16")
    r = Restorer(load_model_file(model_file), device="cpu")
    with pytest.raises(ConfigError, match="uint8"):
        r.restore(np.zeros((8, 8), np.uint8))
    with pytest.raises(ConfigError, match="quality"):
        r.restore(np.zeros((8, 8, 3), np.uint8), "", 0)
    huge = Restorer(load_model_file(model_file), device="cpu", tile=2**20, tile_overlap=32)
    with pytest.raises(InsufficientMemoryError, match="smaller --tile"):
        huge.restore(np.zeros((16, 16, 3), np.uint8))


def test_damaged_and_foreign_weights(tmp_path: Path, model_file: Path) -> None:
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\x00" * 100)
    with pytest.raises(WeightsError, match="not a valid"):
        load_model_file(bad)
    from safetensors.torch import save_file

    foreign = tmp_path / "foreign.safetensors"
    save_file({"x": torch.zeros(2)}, foreign)
    with pytest.raises(WeightsError, match="not a jpegtext restoration model"):
        load_model_file(foreign)
    # right format, wrong shapes
    data = model_file.read_bytes()
    wrong = tmp_path / "wrong.safetensors"
    from safetensors.torch import load, save

    tensors = load(data)
    tensors["generator.head.0.weight"] = torch.zeros(3, 3, 3, 3)
    import json

    meta = json.loads(data[8 : 8 + int.from_bytes(data[:8], "little")])["__metadata__"]
    wrong.write_bytes(save(tensors, metadata=meta))
    with pytest.raises(WeightsError, match="do not fit"):
        load_model_file(wrong)


def test_zoo_registry_rules_and_sha256(tmp_path: Path, model_file: Path,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    digest = hashlib.sha256(model_file.read_bytes()).hexdigest()
    entry = zoo.ModelEntry(name="test-tiny", filename="test-tiny.safetensors", sha256=digest,
                           description="tiny", config="tiny", qualities=(1, 5, 10),
                           text_encoder="bilstm", training_data="none")
    monkeypatch.setattr(zoo, "_REGISTRY", dict(zoo._REGISTRY))
    monkeypatch.setenv("JPEGTEXT_HOME", str(tmp_path))
    zoo.register_model(entry)
    with pytest.raises(ConfigError, match="already registered"):
        zoo.register_model(entry)
    with pytest.raises(ConfigError, match="sha256"):
        zoo.register_model(zoo.ModelEntry(**{**entry.to_dict(), "name": "x", "sha256": "ab",
                                             "qualities": (1,)}))
    with pytest.raises(ConfigError, match="known models:.*test-tiny"):
        zoo.get_model_entry("nope")
    # absent, no URL: a clear message
    with pytest.raises(WeightsError, match="not installed"):
        zoo.resolve_model_file("test-tiny")
    (tmp_path / "test-tiny.safetensors").write_bytes(model_file.read_bytes())
    r = zoo.load_restorer("test-tiny", device="cpu")
    assert r.name == "test-tiny"
    # tampered: one byte changed
    data = bytearray(model_file.read_bytes())
    data[-1] ^= 1
    (tmp_path / "test-tiny.safetensors").write_bytes(bytes(data))
    with pytest.raises(WeightsError, match="does not match"):
        zoo.load_restorer("test-tiny", device="cpu")
