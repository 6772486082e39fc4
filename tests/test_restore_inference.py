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
from jpegtext.restore.networks.generator import TGJARGenerator
from jpegtext.restore.runtime import zoo
from jpegtext.restore.runtime.inference import Restorer
from jpegtext.restore.runtime.modelfile import load_model_file
from jpegtext.restore.tiling import pad_to_multiple, tile_grid, tiles

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


def test_tiles_are_grid_aligned_and_partition_the_image(model_file: Path) -> None:
    cover = np.zeros((1000, 520), int)
    for t in tiles(1000, 520, 256, 32, 8):
        assert all(v % 8 == 0 for v in (t.y0, t.x0, t.cy0, t.cx0))
        assert t.y1 - t.y0 <= 256 and t.x1 - t.x0 <= 256
        assert t.cy0 == max(t.y0 - 32, 0) and t.cx1 == min(t.x1 + 32, 520)
        cover[t.y0:t.y1, t.x0:t.x1] += 1
    assert (cover == 1).all()
    assert tile_grid(1000, 256, 8) == [0, 248, 496, 752, 1000]
    with pytest.raises(ConfigError, match="tile"):
        Restorer(load_model_file(model_file), device="cpu", tile=100)


def test_one_padding_rule() -> None:
    x = torch.arange(2 * 3 * 5 * 6, dtype=torch.float32).view(2, 3, 5, 6)
    p = pad_to_multiple(x, 8)
    assert p.shape == (2, 3, 8, 8) and torch.equal(p[:, :, :5, :6], x)
    assert torch.equal(p[:, :, 5, :6], x[:, :, 3])  # reflect about the last row
    assert pad_to_multiple(x, 1) is x
    tiny = pad_to_multiple(x[:, :, :1, :2], 8)  # too small to reflect: edge replication
    assert torch.equal(tiny[:, :, 7, 7], x[:, :, 0, 1])
    assert TGJARGenerator(CFG.generator).downsampling_factor == 8


def test_tiled_matches_untiled(model_file: Path) -> None:
    img = _image()
    full = Restorer(load_model_file(model_file), device="cpu", tile=0)
    a = full.restore(img, "red at the top", 1).astype(np.float64)
    assert a.shape == img.shape
    assert np.abs(a - img).mean() > 1.0  # the model does change the image
    # a halo past the theoretical receptive radius: the cores are the untiled result
    radius = max(full.generator.receptive_radius())
    exact = Restorer(load_model_file(model_file), device="cpu", tile=32,
                     tile_overlap=radius + 8 - radius % 8)
    b = exact.restore(img, "red at the top", 1).astype(np.float64)
    assert np.abs(a - b).max() <= 1
    # the default halo: close everywhere (no seams), mean and max deviation in 8-bit levels
    tiled = Restorer(load_model_file(model_file), device="cpu", tile=64, tile_overlap=32)
    b = tiled.restore(img, "red at the top", 1).astype(np.float64)
    assert np.abs(a - b).mean() < 0.2
    assert np.abs(a - b).max() <= 8
    # the check can see seams: without a halo the tile borders show
    seams = Restorer(load_model_file(model_file), device="cpu", tile=64, tile_overlap=0)
    c = seams.restore(img, "red at the top", 1).astype(np.float64)
    assert np.abs(a - c).max() > 8


def test_tiled_encoder_runs_once_per_tile(model_file: Path) -> None:
    r = Restorer(load_model_file(model_file), device="cpu", tile=64, tile_overlap=16)
    calls = {"down": 0, "head": 0}
    hooks = [r.generator.down[2].register_forward_hook(
                 lambda *_: calls.__setitem__("down", calls["down"] + 1)),
             r.generator.head.register_forward_hook(
                 lambda *_: calls.__setitem__("head", calls["head"] + 1))]
    img = _image()
    r.restore(img, "red", 1)
    for hk in hooks:
        hk.remove()
    n = len(list(tiles(img.shape[0] + (-img.shape[0]) % 8, img.shape[1] + (-img.shape[1]) % 8,
                       64, 16, 8)))
    assert n > 1
    assert calls == {"down": n, "head": 2 * n}  # deep encoder once; the cheap head twice


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


def test_bad_requests(model_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from jpegtext.restore.runtime import inference

    with pytest.raises(ConfigError, match="CUDA"):
        Restorer(load_model_file(model_file), device="cpu", precision="fp16")
    r = Restorer(load_model_file(model_file), device="cpu")
    with pytest.raises(ConfigError, match="uint8"):
        r.restore(np.zeros((8, 8), np.uint8))
    with pytest.raises(ConfigError, match="quality"):
        r.restore(np.zeros((8, 8, 3), np.uint8), "", 0)
    huge = Restorer(load_model_file(model_file), device="cpu", tile=2**20, tile_overlap=32)
    assert huge.restore(np.zeros((16, 16, 3), np.uint8)).shape == (16, 16, 3)  # one 16x16 pass
    monkeypatch.setattr(inference, "_available_memory", lambda device: 1)
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


def test_automatic_tile_comes_from_the_ladder(model_file: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    from jpegtext.restore.runtime import inference

    r = Restorer(load_model_file(model_file), device="cpu")
    monkeypatch.setattr(inference, "_CPU_BUDGET", int(r.bytes_per_pixel() * 600 ** 2))
    assert r._tile_for(100, 100) == 0
    assert r._tile_for(3000, 4000) == 512  # (512 + 2 * 32)^2 fits 600^2, (640 + 64)^2 does not
    monkeypatch.setattr(inference, "_CPU_BUDGET", 1)
    assert r._tile_for(3000, 4000) == inference.AUTO_TILES[0] == 384  # the agreement floor


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"tile": 32, "tile_overlap": 8.0}, "tile overlap"), ({"tile": "64"}, "tile"),
    ({"tile": 64.0}, "tile"), ({"tile": True}, "tile"), ({"tile_overlap": None}, "tile overlap"),
    ({"tile_overlap": "8"}, "tile overlap"), ({"tile_overlap": True}, "tile overlap"),
])
def test_tile_settings_must_be_integers(model_file: Path, kwargs: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=f'Invalid {message} "'):
        Restorer(load_model_file(model_file), device="cpu", **kwargs)
    r = Restorer(load_model_file(model_file), device="cpu", tile=np.int64(32),
                 tile_overlap=np.int16(8))
    assert (r.tile, r.tile_overlap) == (32, 8) and type(r.tile) is int


def test_a_caption_must_be_a_str_and_an_image_not_empty(model_file: Path) -> None:
    from jpegtext.restore.networks.text import tokenize

    r = Restorer(load_model_file(model_file), device="cpu", tile=0)
    img = _image(16, 16)
    for bad in (None, b"red", 3):
        with pytest.raises(ConfigError, match="caption must be a str"):
            r.restore(img, bad, 5)  # type: ignore[arg-type]
        with pytest.raises(ConfigError, match="caption must be a str"):
            r.lost_words(bad)  # type: ignore[arg-type]
        with pytest.raises(ConfigError, match="caption must be a str"):
            r.text_encoder.lost_words(bad)
        with pytest.raises(ConfigError, match="caption must be a str"):
            tokenize(bad)  # type: ignore[arg-type]
    for shape in ((0, 8, 3), (8, 0, 3), (0, 0, 3)):
        with pytest.raises(ConfigError, match="H, W >= 1"):
            r.restore(np.zeros(shape, np.uint8), "", 5)
    with pytest.raises(ConfigError, match="H, W >= 1"):
        r.restore_tensor(torch.zeros(1, 3, 0, 8), "", 5)
    assert r.restore(img, "a red barn", 5).shape == img.shape
