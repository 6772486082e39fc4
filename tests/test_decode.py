"""Receiver side: ``jpegtext.decode`` and ``jpegtext decode`` with a tiny model file."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image
from tiny_model import save_tiny_model

import jpegtext
from jpegtext.cli import main
from jpegtext.errors import ConfigError, InvalidJpegError, WeightsError
from jpegtext.receiver import decode_detailed, encode_png
from jpegtext.sample import make_sample_image


@pytest.fixture(scope="module")
def model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_model(tmp_path_factory.mktemp("model") / "tiny.safetensors")


@pytest.fixture(scope="module")
def jpeg_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    image = make_sample_image(160, 96, seed=1)
    data = jpegtext.encode(image, 1, caption="a red barn and green trees")
    path = tmp_path_factory.mktemp("jpeg") / "barn.jpg"
    path.write_bytes(data)
    return path


def test_decode_api_uses_stored_caption_and_quality(model_path: Path, jpeg_file: Path) -> None:
    res = decode_detailed(jpeg_file, model=str(model_path), device="cpu")
    assert res.caption == "a red barn and green trees" and res.caption_source == "payload"
    assert res.quality == 1 and res.image.shape == (96, 160, 3) and res.image.dtype == np.uint8
    other = decode_detailed(jpeg_file.read_bytes(), model=str(model_path), device="cpu",
                            caption="a blue sky")
    assert other.caption_source == "override"
    assert not np.array_equal(res.image, other.image)  # the text reaches the pixels


def test_decode_output_types(model_path: Path, jpeg_file: Path) -> None:
    pil = jpegtext.decode(jpeg_file, model=str(model_path), device="cpu")
    arr = jpegtext.decode(jpeg_file, model=str(model_path), device="cpu", output_type="np")
    pt = jpegtext.decode(jpeg_file, model=str(model_path), device="cpu", output_type="pt")
    assert isinstance(pil, Image.Image) and pil.size == (160, 96)
    assert np.array_equal(np.asarray(pil), arr)
    assert pt.shape == (3, 96, 160) and float(pt.max()) <= 1.0
    with pytest.raises(ConfigError, match="output_type"):
        jpegtext.decode(jpeg_file, model=str(model_path), output_type="bmp")


def test_decode_without_caption_says_so(model_path: Path, caplog: pytest.LogCaptureFixture
                                        ) -> None:
    buf = io.BytesIO()
    make_sample_image(64, 64).save(buf, format="JPEG", quality=5)
    res = decode_detailed(buf.getvalue(), model=str(model_path), device="cpu")
    assert res.caption == "" and res.caption_source == "none" and res.quality == 5
    assert "no caption" in caplog.text


def test_png_keeps_caption_and_icc(model_path: Path) -> None:
    icc = b"\x00" * 8 + b"fake-icc-profile"
    buf = io.BytesIO()
    make_sample_image(64, 64).save(buf, format="JPEG", quality=1, icc_profile=icc)
    res = decode_detailed(buf.getvalue(), model=str(model_path), device="cpu", caption="ünïcode ✓")
    png = Image.open(io.BytesIO(encode_png(res)))
    assert png.format == "PNG" and png.info["Description"] == "ünïcode ✓"
    assert png.info["icc_profile"] == icc
    assert np.array_equal(np.asarray(png.convert("RGB")), res.image)


def test_cli_decode_end_to_end(model_path: Path, jpeg_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "barn.png"
    r = CliRunner().invoke(main, ["decode", str(jpeg_file), "-o", str(out), "--model",
                                  str(model_path), "--device", "cpu"])
    assert r.exit_code == 0, r.output
    assert "QF 1" in r.output and "payload" in r.output
    assert Image.open(out).info["Description"] == "a red barn and green trees"
    # existing output: refused without --force, skipped with --resume
    again = CliRunner().invoke(main, ["decode", str(jpeg_file), "-o", str(out), "--model",
                                      str(model_path)])
    assert again.exit_code == 1 and "exists" in again.output


def test_cli_decode_folder_with_failures(model_path: Path, jpeg_file: Path, tmp_path: Path
                                         ) -> None:
    src = tmp_path / "in"
    src.mkdir()
    (src / "a.jpg").write_bytes(jpeg_file.read_bytes())
    (src / "b.jpg").write_bytes(jpeg_file.read_bytes()[:500])  # truncated
    (src / "c.jpg").write_bytes(b"not a jpeg at all")
    out = tmp_path / "out"
    r = CliRunner().invoke(main, ["decode", str(src), "--out-dir", str(out), "--model",
                                  str(model_path)])
    assert r.exit_code == 1
    assert "b.jpg" in r.output and "c.jpg" in r.output and "Traceback" not in r.output
    assert sorted(p.name for p in out.iterdir()) == ["a.png"]  # no partial outputs
    r2 = CliRunner().invoke(main, ["decode", str(src / "a.jpg"), "--out-dir", str(out),
                                   "--model", str(model_path), "--resume"])
    assert r2.exit_code == 0 and "skipped" in r2.output


@pytest.mark.parametrize("args,code,message", [
    (["--model", "no-such-model"], 2, "unknown model"),
    (["--device", "cuda:7"], 2, "CUDA"),
    (["--tile", "12"], 2, "tile"),
    (["-o", "out.jpg"], 2, "PNG"),
    # (a tile that cannot fit in memory: tests/test_cli_contract.py, since a tile larger than
    # this small image is one pass of the image's size and fits)
])
def test_cli_decode_bad_options(model_path: Path, jpeg_file: Path, tmp_path: Path,
                                args: list[str], code: int, message: str) -> None:
    base = ["decode", str(jpeg_file)]
    if "-o" not in args:
        base += ["-o", str(tmp_path / "x.png")]
    if "--model" not in args:
        base += ["--model", str(model_path)]
    if torch.cuda.is_available() and "cuda:7" in args:
        pytest.skip("this machine has CUDA")
    r = CliRunner().invoke(main, base + args)
    assert r.exit_code == code, r.output
    assert message in r.output and "Traceback" not in r.output
    assert not (tmp_path / "x.png").exists()


def test_bad_inputs_and_weights(model_path: Path, jpeg_file: Path, tmp_path: Path) -> None:
    with pytest.raises(InvalidJpegError):
        decode_detailed(b"\xff\xd8\xff" + b"\x00" * 50, model=str(model_path))
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"{}")
    with pytest.raises(WeightsError):
        decode_detailed(jpeg_file, model=str(bad))
    r = CliRunner().invoke(main, ["decode", str(jpeg_file), "-o", str(tmp_path / "y.png"),
                                  "--model", str(bad)])
    assert r.exit_code == 1 and "not a valid" in r.output
    assert not (tmp_path / "y.png").exists()


@pytest.mark.slow
def test_torchrun_shards_inputs(model_path: Path, jpeg_file: Path, tmp_path: Path) -> None:
    """2 CPU processes: every file is restored exactly once."""
    src = tmp_path / "in"
    src.mkdir()
    for i in range(5):
        (src / f"img{i}.jpg").write_bytes(jpeg_file.read_bytes())
    out = tmp_path / "out"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
         "-m", "jpegtext", "decode", str(src), "--out-dir", str(out), "--model", str(model_path),
         "--device", "cpu"],
        capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert sorted(p.name for p in out.iterdir()) == [f"img{i}.png" for i in range(5)]
    done = [line for line in proc.stderr.splitlines() if "-> " in line and "[rank" in line]
    names = sorted(line.split("->")[0].split("]")[-1].strip().split("/")[-1] for line in done)
    assert names == [f"img{i}.jpg" for i in range(5)]  # once each, no duplicates
    assert {line.split("]")[0] for line in done} == {"[rank 0/2", "[rank 1/2"}


@pytest.mark.slow
def test_torchrun_a_failing_share_does_not_stop_the_others(model_path: Path, jpeg_file: Path,
                                                            tmp_path: Path) -> None:
    """Rank 0 gets only bad files and fails at once; rank 1 still restores its good ones."""
    names = []
    for i in range(2):
        (tmp_path / f"bad{i}.jpg").write_bytes(b"not a jpeg")
        (tmp_path / f"good{i}.jpg").write_bytes(jpeg_file.read_bytes())
        names += [f"bad{i}.jpg", f"good{i}.jpg"]  # input k goes to rank k mod 2
    out = tmp_path / "out"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
         "-m", "jpegtext", "decode", *[str(tmp_path / n) for n in names], "--out-dir", str(out),
         "--model", str(model_path), "--device", "cpu"],
        capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode != 0  # a failed input is still reported as a failure
    assert "bad0.jpg" in proc.stderr and "bad1.jpg" in proc.stderr
    assert sorted(p.name for p in out.iterdir()) == ["good0.png", "good1.png"]


def test_cli_refuses_tampered_zoo_weights(model_path: Path, jpeg_file: Path, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    import hashlib

    from jpegtext.restore.runtime import zoo

    digest = hashlib.sha256(model_path.read_bytes()).hexdigest()
    monkeypatch.setattr(zoo, "_REGISTRY", dict(zoo._REGISTRY))
    monkeypatch.setattr(zoo, "PACKAGE_WEIGHTS", tmp_path / "none")
    monkeypatch.setenv("JPEGTEXT_HOME", str(tmp_path / "cache"))
    zoo.register_model(zoo.ModelEntry(
        name="tampered-test", filename="tampered-test.safetensors", sha256=digest,
        description="test", config="tiny", qualities=(1, 5, 10), text_encoder="bilstm",
        training_data="none"))
    data = bytearray(model_path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / "tampered-test.safetensors").write_bytes(bytes(data))
    out = tmp_path / "t.png"
    r = CliRunner().invoke(main, ["decode", str(jpeg_file), "-o", str(out), "--model",
                                  "tampered-test"])
    assert r.exit_code == 1 and "does not match" in r.output and "Traceback" not in r.output
    assert not out.exists()
