"""``jpegtext encode``: inputs, outputs, caption sources, batches and bad input."""

from __future__ import annotations

import io
import json
import os
import struct
import sys
import time
import types
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner, Result
from PIL import Image

from jpegtext.api import inspect, read_caption
from jpegtext.cli import main
from jpegtext.codec.markers import parse_jpeg
from jpegtext.errors import ConfigError, InvalidJpegError


def _photo(width: int = 48, height: int = 32, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width]
    base = np.stack([xx * 5, yy * 7, (xx + yy) * 3], axis=-1) % 256
    return np.clip(base + rng.normal(0, 8, base.shape), 0, 255).astype(np.uint8)


def _write(path: Path, seed: int = 0, fmt: str = "PNG", **kw: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(_photo(seed=seed)).save(path, fmt, **kw)
    return path


def run(*args: str, input: bytes | None = None) -> Result:
    return CliRunner().invoke(main, list(args), input=input, catch_exceptions=True)


def _assert_clean_failure(result: Result, code: int = 1) -> None:
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    assert result.output.count("Error") >= 1


class FakeCaptioner:
    def __init__(self, name: str) -> None:
        self.name = name
        self.calls = 0

    def __call__(self, images: Sequence[Image.Image]) -> list[str]:
        self.calls += 1
        return [f"{self.name} saw {im.width}x{im.height}" for im in images]


@pytest.fixture
def fake_captioners(monkeypatch: pytest.MonkeyPatch) -> dict[str, FakeCaptioner]:
    known = {"fake": FakeCaptioner("fake"), "dflt": FakeCaptioner("dflt")}
    module = types.ModuleType("jpegtext.captioner")

    def get_captioner(name: str) -> FakeCaptioner:
        if name not in known:
            raise ConfigError(f"unknown captioner {name!r}; known: {sorted(known)}")
        return known[name]

    module.get_captioner = get_captioner  # type: ignore[attr-defined]
    module.default_captioner = lambda: known["dflt"]  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "jpegtext.captioner", module)
    return known


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


def test_help_lists_every_option():
    result = run("encode", "--help")
    assert result.exit_code == 0
    for opt in ("--quality", "--output", "--out-dir", "--caption", "--caption-file",
                "--captioner", "--caption-from-metadata", "--subsampling", "--xmp", "--force",
                "--recursive", "--strip-metadata"):  # fmt: skip
        assert opt in result.output


def test_single_file_with_caption(tmp_path: Path):
    _write(tmp_path / "a.png")
    result = run("encode", "a.png", "-q", "5", "-o", "a.jpg", "--caption", "a red barn")
    assert result.exit_code == 0, result.output
    info = inspect(tmp_path / "a.jpg")
    assert (info.caption, info.estimated_quality, info.payload_quality) == ("a red barn", 5, 5)
    assert "a.png -> a.jpg" in result.stderr and '"a red barn"' in result.stderr
    assert result.stdout == ""


def test_stdin_to_stdout():
    png = io.BytesIO()
    Image.fromarray(_photo()).save(png, "PNG")
    result = run("encode", "-", "-o", "-", "--caption", "piped", input=png.getvalue())
    assert result.exit_code == 0, result.stderr
    assert read_caption(result.stdout_bytes) == "piped"
    assert "<stdin> -> <stdout>" in result.stderr


def test_out_dir_with_files_folders_and_globs(tmp_path: Path):
    _write(tmp_path / "in" / "a.png", 1)
    _write(tmp_path / "in" / "b.jpg", 2, "JPEG")
    _write(tmp_path / "in" / "notes.txt.png", 3)
    (tmp_path / "in" / "readme.txt").write_text("not an image")
    _write(tmp_path / "in" / "sub" / "c.png", 4)
    _write(tmp_path / "g1.png", 5)
    _write(tmp_path / "g2.png", 6)
    result = run("encode", "in", "g*.png", "--out-dir", "out", "--caption", "c")
    assert result.exit_code == 0, result.output
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert names == ["a.jpg", "b.jpg", "g1.jpg", "g2.jpg", "notes.txt.jpg"]
    assert "Encoded 5 of 5 inputs." in result.stderr
    result = run("encode", "in", "--out-dir", "out2", "--caption", "c", "--recursive")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "out2" / "c.jpg").exists()


def test_usage_errors_exit_2(tmp_path: Path):
    _write(tmp_path / "a.png")
    _write(tmp_path / "b.png")
    _write(tmp_path / "x" / "a.png")
    cases = [
        (["a.png", "--caption", "c"], "give -o OUT"),
        (["a.png", "-o", "o.jpg", "--out-dir", "d", "--caption", "c"], "not both"),
        (["a.png", "b.png", "-o", "o.jpg", "--caption", "c"], "use --out-dir"),
        (["a.png", "x/a.png", "--out-dir", "d", "--caption", "c"], "both be written"),
        (["a.png", "-o", "o.jpg", "--caption", "c", "--captioner", "x"], "only one of"),
        (["missing.png", "-o", "o.jpg", "--caption", "c"], "no such file"),
        (["-", "--out-dir", "d", "--caption", "c"], "standard input"),
        (["-", "-", "-o", "o.jpg", "--caption", "c"], "only once"),
        (["a.png", "-o", "o.jpg", "-q", "0", "--caption", "c"], "0 is not in the range"),
        (["a.png", "-o", "o.jpg", "--subsampling", "4:2:2", "--caption", "c"], "4:2:2"),
    ]
    for args, message in cases:
        result = run("encode", *args)
        assert result.exit_code == 2, (args, result.output)
        assert message in result.output, (args, result.output)
    assert not (tmp_path / "o.jpg").exists() and not (tmp_path / "d").exists()


def test_existing_outputs_need_force(tmp_path: Path):
    _write(tmp_path / "a.png")
    (tmp_path / "a.jpg").write_bytes(b"keep me")
    result = run("encode", "a.png", "-o", "a.jpg", "--caption", "c")
    _assert_clean_failure(result)
    assert "exists (use --force" in result.output
    assert (tmp_path / "a.jpg").read_bytes() == b"keep me"
    result = run("encode", "a.png", "-o", "a.jpg", "--caption", "c", "--force")
    assert result.exit_code == 0
    assert read_caption(tmp_path / "a.jpg") == "c"


def test_caption_file_plain_text(tmp_path: Path):
    _write(tmp_path / "a.png")
    (tmp_path / "cap.txt").write_text("  a caption from a file\n", encoding="utf-8")
    result = run("encode", "a.png", "-o", "a.jpg", "--caption-file", "cap.txt")
    assert result.exit_code == 0, result.output
    assert read_caption(tmp_path / "a.jpg") == "a caption from a file"


def test_caption_file_jsonl_and_csv_mappings(tmp_path: Path):
    _write(tmp_path / "in" / "a.png", 1)
    _write(tmp_path / "in" / "sub" / "b.png", 2)
    lines = [{"file": "a.png", "caption": "first"}, {"file": "./in/sub/b.png", "caption": "2nd"}]
    (tmp_path / "caps.jsonl").write_text("\n".join(json.dumps(x) for x in lines) + "\n\n")
    result = run("encode", "in", "-r", "--out-dir", "o1", "--caption-file", "caps.jsonl")
    assert result.exit_code == 0, result.output
    assert read_caption(tmp_path / "o1" / "a.jpg") == "first"
    assert read_caption(tmp_path / "o1" / "b.jpg") == "2nd"
    (tmp_path / "caps.csv").write_text('file,caption\nsub/b.png,"with, comma"\na.png,x\n')
    result = run("encode", "in", "-r", "--out-dir", "o2", "--caption-file", "caps.csv")
    assert result.exit_code == 0, result.output
    assert read_caption(tmp_path / "o2" / "b.jpg") == "with, comma"


def test_caption_file_missing_entry_is_an_error_before_any_output(tmp_path: Path):
    _write(tmp_path / "a.png", 1)
    _write(tmp_path / "b.png", 2)
    (tmp_path / "caps.jsonl").write_text(json.dumps({"file": "a.png", "caption": "x"}))
    result = run("encode", "a.png", "b.png", "--out-dir", "out", "--caption-file", "caps.jsonl")
    _assert_clean_failure(result, 2)
    assert "no caption for b.png" in result.output
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("c.jsonl", "{bad json", "c.jsonl:1"),
        ("c.jsonl", '{"file": "a.png"}', "needs a file name and a caption"),
        ("c.jsonl", '{"file": "a.png", "caption": "x"}\n{"file": "a.png", "caption": "y"}',
         "listed twice"),
        ("c.csv", "a.png,x,extra\n", "expected 2 columns"),
        ("c.txt", "   \n", "is empty"),
    ],
)  # fmt: skip
def test_bad_caption_files(tmp_path: Path, name: str, content: str, message: str):
    _write(tmp_path / "a.png")
    (tmp_path / name).write_text(content)
    result = run("encode", "a.png", "-o", "a.jpg", "--caption-file", name)
    _assert_clean_failure(result, 2)
    assert message in result.output


def test_caption_from_metadata(tmp_path: Path):
    exif = Image.Exif()
    exif[0x010E] = "described in exif"
    _write(tmp_path / "in" / "a.jpg", 1, "JPEG", exif=exif.tobytes())
    _write(tmp_path / "in" / "b.png", 2)
    result = run("encode", "in", "--out-dir", "out", "--caption-from-metadata")
    _assert_clean_failure(result)
    assert read_caption(tmp_path / "out" / "a.jpg") == "described in exif"
    assert not (tmp_path / "out" / "b.jpg").exists()
    assert "in/b.png has no XMP dc:description or EXIF ImageDescription" in result.stderr
    assert "1 of 2 inputs failed" in result.output


def test_summary_escapes_control_characters(
    fake_captioners: dict[str, FakeCaptioner], tmp_path: Path
):
    _write(tmp_path / "a.png")
    caption = "red \u009b31m barn\x7f\u0085 \x1b[2J end"
    (tmp_path / "c.txt").write_text(caption, encoding="utf-8")
    result = run("encode", "a.png", "-o", "a.jpg", "--caption-file", "c.txt")
    assert result.exit_code == 0, result.output
    assert read_caption(tmp_path / "a.jpg") == caption  # stored as written
    assert not any("\x7f" <= c <= "\x9f" or c == "\x1b" for c in result.stderr)
    assert '"red \\x9b31m barn\\x7f\\x85 \\u001b[2J end"' in result.stderr
    # A captioner's name (a model folder's name) is escaped too.
    fake_captioners["evil"] = FakeCaptioner("ev\u009bil")
    result = run("encode", "a.png", "-o", "b.jpg", "--captioner", "evil")
    assert result.exit_code == 0, result.output
    assert "\u009b" not in result.stderr and "caption by ev\\x9bil " in result.stderr


def test_caption_from_utf8_exif(tmp_path: Path):
    exif = Image.Exif()
    exif[0x010E] = "caf\u00e9 \u65e5\u672c".encode()  # as exiftool writes it
    _write(tmp_path / "ex.jpg", 1, "JPEG", exif=exif.tobytes())
    result = run("encode", "ex.jpg", "-q", "1", "-o", "o.jpg", "--caption-from-metadata")
    assert result.exit_code == 0, result.output
    assert read_caption(tmp_path / "o.jpg") == "caf\u00e9 \u65e5\u672c"


def test_captioner_option_and_default(fake_captioners: dict[str, FakeCaptioner], tmp_path: Path):
    _write(tmp_path / "a.png")
    result = run("encode", "a.png", "-o", "a.jpg", "--captioner", "fake")
    assert result.exit_code == 0, result.output
    info = inspect(tmp_path / "a.jpg")
    assert (info.caption, info.captioner) == ("fake saw 48x32", "fake")
    assert "default captioner" not in result.stderr
    result = run("encode", "a.png", "-o", "b.jpg")
    assert result.exit_code == 0, result.output
    assert "Using the default captioner: dflt" in result.stderr
    assert inspect(tmp_path / "b.jpg").captioner == "dflt"
    result = run("encode", "a.png", "-o", "c.jpg", "--captioner", "nope")
    _assert_clean_failure(result, 2)
    assert "unknown captioner 'nope'" in result.output


def test_xmp_subsampling_and_strip_metadata(tmp_path: Path):
    exif = Image.Exif()
    exif[0x010F] = "camera"
    _write(tmp_path / "a.jpg", 0, "JPEG", exif=exif.tobytes())
    result = run("encode", "a.jpg", "-o", "o.jpg", "--caption", "c", "--xmp",
                 "--subsampling", "4:4:4")  # fmt: skip
    assert result.exit_code == 0, result.output
    data = (tmp_path / "o.jpg").read_bytes()
    assert b"http://ns.adobe.com/xap/1.0/\x00" in data and b"camera" in data
    assert inspect(data).subsampling == "4:4:4"
    result = run("encode", "a.jpg", "-o", "p.jpg", "--caption", "c", "--strip-metadata")
    assert result.exit_code == 0
    assert b"camera" not in (tmp_path / "p.jpg").read_bytes()


def test_batch_failure_continues_and_exits_1(tmp_path: Path):
    _write(tmp_path / "in" / "a.png", 1)
    (tmp_path / "in" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0\x00\x10JFIF")
    _write(tmp_path / "in" / "c.png", 3)
    result = run("encode", "in", "--out-dir", "out", "--caption", "c")
    _assert_clean_failure(result)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.jpg", "c.jpg"]
    assert "Error: in/broken.jpg: truncated JPEG" in result.stderr
    assert "Encoded 2 of 3 inputs." in result.stderr


def test_debug_shows_the_real_exception(tmp_path: Path):
    (tmp_path / "bad.jpg").write_bytes(b"\xff\xd8garbage")
    result = CliRunner().invoke(main, ["--debug", "encode", "bad.jpg", "-o", "o.jpg",
                                       "--caption", "c"])  # fmt: skip
    assert isinstance(result.exception, InvalidJpegError)


def _small_jpeg() -> bytes:
    buf = io.BytesIO()
    Image.fromarray(_photo(96, 64)).save(buf, "JPEG", quality=95)
    data = buf.getvalue()
    assert 2000 <= len(data) <= 5000
    return data


def _bad_inputs() -> dict[str, bytes]:
    data = _small_jpeg()
    sof = next(s for s in parse_jpeg(data).segments if s.is_sof)
    bomb = bytearray(data)
    bomb[sof.offset + 5 : sof.offset + 9] = struct.pack(">HH", 60000, 60000)
    rng = np.random.default_rng(7)
    cases = {
        "empty": b"",
        "random": rng.integers(0, 256, 5000, dtype=np.uint8).tobytes(),
        "random_after_soi": b"\xff\xd8" + rng.integers(0, 256, 5000, dtype=np.uint8).tobytes(),
        "length_past_end": b"\xff\xd8\xff\xe1\xff\xf0Exif\x00\x00" + b"\0" * 100,
        "ff_flood": b"\xff" * 10_000_000,
        "bomb": bytes(bomb),
    }
    for cut in sorted({1, 2, 3, 4, 20, 100, 300, 600, 650, len(data) // 2, len(data) - 2,
                       len(data) - 1, *range(0, len(data), 397)}):  # fmt: skip
        cases[f"truncated_{cut}"] = data[:cut]
    return cases


@pytest.mark.parametrize(("name", "blob"), sorted(_bad_inputs().items()))
def test_bad_input_gives_one_line_error_and_no_output(tmp_path: Path, name: str, blob: bytes):
    (tmp_path / "bad.jpg").write_bytes(blob)
    start = time.perf_counter()
    result = run("encode", "bad.jpg", "-o", "out.jpg", "--caption", "c")
    elapsed = time.perf_counter() - start
    _assert_clean_failure(result)
    assert result.output.startswith("Error: bad.jpg: ") and result.output.count("\n") == 1
    assert not (tmp_path / "out.jpg").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["bad.jpg"]  # no temp files left either
    assert elapsed < 1.0


def test_encode_with_given_caption_does_not_import_torch(tmp_path: Path):
    import subprocess

    _write(tmp_path / "a.png")
    code = (
        "import sys; from jpegtext.cli import main\n"
        "try:\n    main(['encode', 'a.png', '-o', 'a.jpg', '--caption', 'x'])\n"
        "except SystemExit as e:\n    assert e.code == 0, e.code\n"
        "print('torch' in sys.modules, 'transformers' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=tmp_path, env={**os.environ}, check=True)  # fmt: skip
    assert out.stdout.split() == ["False", "False"]
    assert read_caption(tmp_path / "a.jpg") == "x"
