"""The receiver pipeline: one parse and one Pillow open per decode, one caption/QF rule, and the
evaluation harness on the same path as ``jpegtext encode`` + ``jpegtext decode``."""

from __future__ import annotations

import io
import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image, ImageOps
from tiny_model import save_tiny_model

import jpegtext
from jpegtext.cli import main
from jpegtext.codec import Payload, encode_jpeg, parse_file
from jpegtext.codec.jpegfile import read_exif_orientation, read_icc_profile
from jpegtext.errors import ConfigError, PayloadError
from jpegtext.evaluation.harness import _safe
from jpegtext.receiver import Receiver
from jpegtext.sample import make_sample_image


@pytest.fixture(scope="module")
def model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_model(tmp_path_factory.mktemp("model") / "tiny.safetensors")


@pytest.fixture(scope="module")
def restorer(model_path: Path) -> Any:
    from jpegtext.restore.runtime.zoo import load_restorer

    return load_restorer(str(model_path), device="cpu")


class _Spy:
    """A restorer that records what it is given and forwards to the real one."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.name = inner.name
        self.config = inner.config
        self.calls: list[dict[str, Any]] = []

    def restore(self, image: np.ndarray, caption: str, quality: int | None,
                ensemble: int | None = None) -> np.ndarray:
        self.calls.append({"caption": caption, "quality": quality,
                           "writeable": image.flags.writeable,
                           "contiguous": image.flags.c_contiguous})
        return self.inner.restore(image, caption, quality, ensemble=ensemble)


def _icc(size: int) -> bytes:
    head = bytearray(128)
    head[16:20] = b"RGB "
    return bytes(head) + bytes((i * 7) % 256 for i in range(size - 128))


def test_one_parse_and_one_pillow_open_per_decode(restorer: Any,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    import jpegtext.codec.jpegfile as jpegfile
    import jpegtext.codec.markers as markers

    image = make_sample_image(96, 64, seed=5)
    image.info["icc_profile"] = _icc(3000)
    data = jpegtext.encode(image, 5, caption="a red barn")
    counts = {"walk": 0, "parse": 0, "open": 0}
    real_walk, real_parse, real_open = markers.walk_segments, jpegfile.parse_jpeg, Image.open

    def walk(*a: Any, **k: Any) -> Any:
        counts["walk"] += 1
        return real_walk(*a, **k)

    def parse(*a: Any, **k: Any) -> Any:
        counts["parse"] += 1
        return real_parse(*a, **k)

    def pil_open(*a: Any, **k: Any) -> Any:
        counts["open"] += 1
        return real_open(*a, **k)

    monkeypatch.setattr(markers, "walk_segments", walk)
    monkeypatch.setattr(jpegfile, "parse_jpeg", parse)
    monkeypatch.setattr(Image, "open", pil_open)
    spy = _Spy(restorer)
    out = jpegtext.decode(data, model=spy, output_type="pil")
    assert counts == {"walk": 1, "parse": 1, "open": 1}
    assert out.info["caption"] == "a red barn" and out.info["icc_profile"] == _icc(3000)
    # the restorer gets a writable C-contiguous array: its defensive copy is skipped
    assert spy.calls == [{"caption": "a red barn", "quality": 5, "writeable": True,
                          "contiguous": True}]


def test_payload_and_table_quality_disagree(restorer: Any,
                                            caplog: pytest.LogCaptureFixture) -> None:
    # A file whose tables are QF 9 but whose payload records QF 5 (re-encoded on the way)
    data = encode_jpeg(make_sample_image(96, 64, seed=2), 9, payload=Payload("grey sky", None, 5))
    assert jpegtext.inspect(data).payload_quality == 5
    spy = _Spy(restorer)
    with caplog.at_level(logging.WARNING, logger="jpegtext.receiver"):
        res = Receiver(spy).receive(data)
    assert spy.calls[0]["quality"] == 9 and res.quality == 9
    assert (res.quality_source, res.quality_kind) == ("tables", "exact")
    assert len(res.warnings) == 1
    assert "payload records QF 5" in res.warnings[0] and "tables are QF 9" in res.warnings[0]
    assert "restoring as QF 9" in caplog.text
    # the same file through the CLI says the same
    assert res.caption == "grey sky" and res.caption_source == "payload"


def test_estimated_quality_reaches_the_restorer(restorer: Any) -> None:
    from jpegtext.codec.quality import ijg_tables

    luma, chroma = ijg_tables(5)
    buf = io.BytesIO()
    # IJG QF 5 tables with every step one coarser: not IJG's, nearest quality 5 (+-2)
    make_sample_image(96, 64, seed=2).save(
        buf, "JPEG", qtables=[[min(255, v + 1) for v in luma], list(chroma)])
    spy = _Spy(restorer)
    res = Receiver(spy).receive(buf.getvalue())
    assert res.quality_kind == "estimated" and abs(spy.calls[0]["quality"] - 5) <= 2
    assert not res.warnings


def test_caption_resolution_override_payload_none(restorer: Any) -> None:
    data = jpegtext.encode(make_sample_image(64, 64, seed=1), 1, caption="blue sky")
    receiver = Receiver(restorer)
    assert receiver.receive(data).caption_source == "payload"
    res = receiver.receive(data, caption="")
    assert (res.caption, res.caption_source) == ("", "override")
    res = receiver.receive(data, ignore_payload=True)
    assert (res.caption, res.caption_source) == ("", "none")
    res = receiver.receive(parse_file(data), caption="green trees")
    assert (res.caption, res.caption_source) == ("green trees", "override")
    with pytest.raises(ConfigError, match="needs a loaded Restorer"):
        Receiver("tgjar-small")  # type: ignore[arg-type]


def test_damaged_payload_parsed_once_then_overridden(restorer: Any) -> None:
    data = bytearray(jpegtext.encode(make_sample_image(64, 64, seed=1), 1, caption="blue sky"))
    at = bytes(data).index(b"blue sky")
    data[at] ^= 0x20
    file = parse_file(bytes(data), payload_errors="keep")
    assert file.payload is None and file.payload_error
    with pytest.raises(PayloadError, match="--ignore-payload"):
        Receiver(restorer).receive(file)
    res = Receiver(restorer).receive(file, caption="x")
    assert res.caption == "x" and "damaged caption payload" in res.warnings[0]
    with pytest.raises(PayloadError):
        parse_file(bytes(data))


@pytest.mark.parametrize("orientation", range(1, 9))
def test_orientation_matches_pillow(orientation: int) -> None:
    arr = np.random.default_rng(orientation).integers(0, 256, (24, 40, 3), dtype=np.uint8)
    exif = Image.Exif()
    exif[0x0112] = orientation
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, "JPEG", quality=95, exif=exif.tobytes())
    file = parse_file(buf.getvalue())
    assert file.orientation == orientation
    with Image.open(io.BytesIO(buf.getvalue())) as im:
        ref = np.asarray(ImageOps.exif_transpose(im).convert("RGB"))
    got = file.pixels()
    assert np.array_equal(got, ref)
    assert got is file.pixels() and got.flags.writeable and got.flags.c_contiguous


def test_icc_chunks_are_joined_as_pillow_does() -> None:
    profile = _icc(150_000)  # three APP2 chunks
    buf = io.BytesIO()
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(buf, "JPEG", icc_profile=profile)
    data = buf.getvalue()
    segments = parse_file(data).layout.segments
    assert sum(s.marker == 0xE2 for s in segments) == 3
    with Image.open(io.BytesIO(data)) as im:
        assert read_icc_profile(segments) == im.info["icc_profile"] == profile
    # a lost chunk: no profile (as Pillow)
    lost = tuple(s for s in segments if not (s.marker == 0xE2 and s.data[12] == 2))
    assert read_icc_profile(lost) is None
    assert read_exif_orientation(segments) == 1


def test_evaluate_equals_encode_then_decode(model_path: Path, tmp_path: Path) -> None:
    """``jpegtext evaluate`` scores what ``jpegtext encode`` + ``jpegtext decode`` give."""
    from jpegtext.metrics import psnr

    data_dir = tmp_path / "data"
    data_dir.mkdir()
    captions = {"a.png": "a red barn at the bottom", "b.png": "blue sky at the top"}
    for i, name in enumerate(captions):
        make_sample_image(72 + 8 * i, 64, seed=10 + i).save(data_dir / name)
    caps = tmp_path / "caps.jsonl"
    caps.write_text("".join(json.dumps({"file": k, "caption": v}) + "\n"
                            for k, v in captions.items()))
    out = tmp_path / "eval"
    runner = CliRunner()
    model = str(model_path)
    res = runner.invoke(main, [
        "evaluate", str(data_dir), "--out", str(out), "-q", "1", "10",
        "--methods", model, f"{model}:nocap", "--metrics", "psnr", "--captions", str(caps),
        "--device", "cpu", "--figure-images", "0", "--no-progress", "--save-images"])
    assert res.exit_code == 0, res.output
    rows = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert len(rows) == 8
    for row in rows:
        name, q = row["image"], row["quality"]
        nocap = row["method"].endswith(":nocap")
        jpg, png = tmp_path / f"{name}{q}.jpg", tmp_path / f"{name}{q}{nocap}.png"
        r = runner.invoke(main, ["encode", str(data_dir / name), "-q", str(q),
                                 "--caption", captions[name], "-o", str(jpg), "--force"])
        assert r.exit_code == 0, r.output
        # :nocap stands for a file without a caption: its receiver reads none (and the default
        # bound, auto, treats it as the file's own, not as a caption given to steer)
        args = ["decode", str(jpg), "-o", str(png), "--model", model, "--device", "cpu",
                "--force"] + (["--ignore-payload"] if nocap else [])
        r = runner.invoke(main, args)
        assert r.exit_code == 0, r.output
        clean = np.asarray(Image.open(data_dir / name).convert("RGB"))
        by_hand = np.asarray(Image.open(png).convert("RGB"))
        assert abs(psnr(clean, by_hand) - row["psnr_rgb"]) < 0.01, row
        assert row["caption"] == ("" if nocap else captions[name])
        saved = out / "images" / f"q{q}" / _safe(row["method"]) / f"{_safe(name)}.png"
        assert np.array_equal(np.asarray(Image.open(saved).convert("RGB")), by_hand)


def test_lost_words_are_reported(restorer: Any, caplog: pytest.LogCaptureFixture) -> None:
    data = jpegtext.encode(make_sample_image(64, 64, seed=1), 1, caption="a red zebra barn")
    res = Receiver(restorer, report_lost_words=True).receive(data)
    assert res.lost_words == ("zebra",)
    assert Receiver(restorer, report_lost_words=False).receive(data).lost_words is None
    with caplog.at_level(logging.INFO, logger="jpegtext.receiver"):
        res = Receiver(restorer).receive(data)  # None: looked for when -v (INFO) is on
    assert res.lost_words == ("zebra",) and "cannot read 1 of the caption's words" in caplog.text


def _cache_key(model: str, **kw: Any) -> tuple[Any, ...]:
    from jpegtext._device import resolve_device

    return (model, str(resolve_device("cpu")), kw.get("precision"), kw.get("tile"),
            kw.get("tile_overlap", 32))


@pytest.mark.parametrize("bad", ["", "  ", 0, {}, False, b"tiny.safetensors"])
def test_a_bad_model_argument_is_refused_even_when_the_default_is_cached(
        bad: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from jpegtext import receiver
    from jpegtext.restore.runtime.zoo import DEFAULT_MODEL

    cached = object()
    monkeypatch.setattr(receiver, "_CACHE", {_cache_key(DEFAULT_MODEL): cached})
    assert receiver.get_restorer(None, device="cpu") is cached
    with pytest.raises(ConfigError, match="model must be"):
        receiver.get_restorer(bad, device="cpu")
    data = jpegtext.encode(np.zeros((16, 16, 3), np.uint8), 5, caption="x")
    with pytest.raises(ConfigError, match="model must be"):
        jpegtext.decode(data, model=bad, device="cpu")


def test_model_paths_are_cached_by_absolute_path_and_zoo_names_by_name(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from jpegtext import receiver

    monkeypatch.setattr(receiver, "_CACHE", {})
    for seed, folder in enumerate(("one", "two")):
        (tmp_path / folder).mkdir()
        save_tiny_model(tmp_path / folder / "m.safetensors", seed=seed)
    monkeypatch.chdir(tmp_path / "one")
    first = receiver.get_restorer("m.safetensors", device="cpu")
    assert receiver.get_restorer(Path("m.safetensors"), device="cpu") is first
    monkeypatch.chdir(tmp_path / "two")
    second = receiver.get_restorer("m.safetensors", device="cpu")
    assert second is not first
    assert second is receiver.get_restorer(tmp_path / "two" / "m.safetensors", device="cpu")
    w1, w2 = (next(r.generator.parameters()) for r in (first, second))
    assert not bool((w1 == w2).all())  # the file of the folder it was named in
    zoo_cached = object()
    receiver._CACHE[_cache_key("tgjar-small")] = zoo_cached
    (tmp_path / "two" / "tgjar-small").write_bytes(b"")  # a file of that name changes nothing
    assert receiver.get_restorer("tgjar-small", device="cpu") is zoo_cached


@pytest.mark.parametrize("kwargs", [
    {"tile": 32, "tile_overlap": 8.0}, {"tile": "64"}, {"tile": 64.0}, {"tile": True},
    {"tile_overlap": None}, {"tile_overlap": "8"}, {"tile_overlap": False},
    {"max_pixels": "100"}, {"max_pixels": 100.0}, {"max_pixels": True}, {"max_pixels": 0},
])
def test_tile_and_max_pixels_are_checked_before_the_model_loads(
        kwargs: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    from jpegtext import receiver
    from jpegtext.restore.runtime import zoo

    def no_load(*a: Any, **k: Any) -> Any:
        raise AssertionError("the model was loaded before the arguments were checked")

    monkeypatch.setattr(zoo, "load_restorer", no_load)
    monkeypatch.setattr(receiver, "_CACHE", {})
    data = jpegtext.encode(np.zeros((16, 16, 3), np.uint8), 5, caption="x")
    with pytest.raises(ConfigError, match="Invalid (tile|max_pixels)"):
        jpegtext.decode(data, model="m.safetensors", device="cpu", **kwargs)


def test_numpy_integer_tiles_and_pixel_limits_are_accepted(model_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    from jpegtext import receiver

    monkeypatch.setattr(receiver, "_CACHE", {})
    data = jpegtext.encode(make_sample_image(64, 64, seed=2), 5, caption="a red barn")
    want = jpegtext.decode(data, model=str(model_path), device="cpu", tile=32, tile_overlap=8,
                           output_type="np")
    got = jpegtext.decode(data, model=str(model_path), device="cpu", tile=np.int64(32),
                          tile_overlap=np.int32(8), max_pixels=np.int64(64 * 64),
                          output_type="np")
    assert np.array_equal(got, want)
    assert len(receiver._CACHE) == 1  # the numpy values share the int key
