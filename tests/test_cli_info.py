"""``jpegtext info``: text and JSON output, mismatch warnings, bad input, no torch import."""

from __future__ import annotations

import io
import json
import logging
import struct
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner, Result
from PIL import Image

from jpegtext.api import encode
from jpegtext.cli import main
from jpegtext.codec import embed_caption
from jpegtext.codec.markers import COM, parse_jpeg, walk_segments

CAPTION_15_WORDS = (
    "a colourful outdoor scene with red, green and blue tones, bright sky above, dark ground"
)


def _photo(width: int = 96, height: int = 64) -> np.ndarray:
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:height, 0:width]
    base = np.stack([xx * 3, yy * 4, (xx + yy) * 2], axis=-1) % 256
    return np.clip(base + rng.normal(0, 8, base.shape), 0, 255).astype(np.uint8)


def run(*args: str, input: bytes | None = None) -> Result:
    return CliRunner().invoke(main, list(args), input=input)


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


def test_text_output(tmp_path: Path):
    data = encode(_photo(), 1, caption="a red barn\nbeside a pond")
    (tmp_path / "a.jpg").write_bytes(data)
    result = run("info", "a.jpg")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert out.startswith("a.jpg\n")
    # Escaped: the caption stays on one line and cannot send control characters to a terminal.
    assert '  caption:    "a red barn\\nbeside a pond"' in out
    assert "captioner:  (given by the user)" in out
    assert "quality:    1 (exact: standard IJG tables; stored in payload: 1)" in out
    assert "size:       96x64, 4:2:0" in out
    caption_bytes = next(s.size for s in walk_segments(data) if s.marker == COM)
    image_bytes = len(data) - caption_bytes
    assert f"{len(data):,} total = {image_bytes:,} image + {caption_bytes:,} caption" in out
    assert f"caption share: {100 * caption_bytes / len(data):.2f}%" in out
    assert "warning" not in out


def test_json_output_for_several_files(tmp_path: Path):
    (tmp_path / "a.jpg").write_bytes(encode(_photo(), 5, caption="first"))
    (tmp_path / "b.jpg").write_bytes(encode(_photo(), 10, caption="second", xmp=True))
    result = run("info", "--json", "a.jpg", "b.jpg")
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(r["file"], r["caption"], r["quality"]) for r in rows] == [
        ("a.jpg", "first", 5),
        ("b.jpg", "second", 10),
    ]
    assert rows[1]["caption_bytes"] > rows[0]["caption_bytes"] + 300  # the XMP mirror counts
    assert 0 < rows[0]["caption_share"] < 1


def test_folder_and_stdin_inputs(tmp_path: Path):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "x.jpg").write_bytes(encode(_photo(), 1, caption="in a folder"))
    (tmp_path / "d" / "notes.txt").write_text("ignored")
    result = run("info", "d")
    assert result.exit_code == 0 and '"in a folder"' in result.stdout
    result = run("info", "-", input=encode(_photo(), 1, caption="piped"))
    assert result.exit_code == 0 and result.stdout.startswith("<stdin>\n")


def test_mismatch_warning_and_non_standard_tables(tmp_path: Path):
    im = Image.open(io.BytesIO(encode(_photo(), 5, caption="stored at 5")))
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=40)  # Pillow keeps the comment
    (tmp_path / "re.jpg").write_bytes(buf.getvalue())
    result = run("info", "re.jpg")
    assert result.exit_code == 0
    assert (
        "quality:    40 (exact: standard IJG tables; stored in payload: 5)" in result.stdout
    )
    assert "warning:    the payload says QF 5" in result.stdout
    custom = io.BytesIO()
    im.save(custom, "JPEG", qtables=[[5] * 64, [6] * 64])
    (tmp_path / "custom.jpg").write_bytes(custom.getvalue())
    result = run("info", "custom.jpg")
    assert ("quality:    95 (estimated: the nearest IJG quality to non-IJG tables; stored in "
            "payload: 5)") in result.stdout
    assert "warning:    the payload says QF 5 but the tables are QF 95 (estimated)" in result.stdout
    row = json.loads(run("info", "--json", "custom.jpg").stdout)
    assert (row["standard_tables"], row["estimated_quality"], row["quality_kind"],
            row["quality_mismatch"]) == (False, 95, "estimated", True)
    cmyk = io.BytesIO()
    im.convert("CMYK").save(cmyk, "JPEG", quality=20)
    (tmp_path / "cmyk.jpg").write_bytes(embed_caption(cmyk.getvalue(), "c", quality=5))
    result = run("info", "cmyk.jpg")
    assert "quality:    unknown (CMYK: no IJG quality applies; stored in payload: 5)" \
        in result.stdout
    assert "the tables do not show a quality" in result.stdout


def test_json_escapes_del_and_c1_characters_from_the_file(tmp_path: Path):
    caption = "red \u009b31m barn\x7f\u0085 \x1b[2J end"
    name = "cap\u009btioner\x7f"
    data = embed_caption(encode(_photo(), 1, caption="x"), caption, captioner=name)
    (tmp_path / "c.jpg").write_bytes(data)
    result = run("info", "--json", "c.jpg")
    assert result.exit_code == 0, result.output
    # U+009B is CSI on some terminals: nothing from U+007F to U+009F reaches the terminal raw.
    assert not any("\x7f" <= c <= "\x9f" or c < " " for c in result.stdout.rstrip("\n"))
    assert "red \\u009b31m barn\\u007f\\u0085 \\u001b[2J end" in result.stdout
    row = json.loads(result.stdout)  # still valid JSON, and the same text once parsed
    assert (row["caption"], row["captioner"]) == (caption, name)


def _with_edited_xmp_mirror() -> bytes:
    data = encode(_photo(), 1, caption="a red barn", xmp=True)
    assert data.count(b">a red barn<") == 1  # only in the XMP mirror's dc:description
    return data.replace(b">a red barn<", b">a big barn<")


def test_xmp_disagreement_warning_is_printed_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
):
    (tmp_path / "e.jpg").write_bytes(_with_edited_xmp_mirror())
    with caplog.at_level(logging.WARNING):
        result = run("info", "e.jpg")
    assert result.exit_code == 0, result.output
    assert result.stdout.count("the XMP mirror's caption differs") == 1
    assert "warning:    the XMP mirror's caption differs" in result.stdout
    with caplog.at_level(logging.WARNING):
        result = run("info", "--json", "e.jpg")
    assert json.loads(result.stdout)["warnings"] == [
        "the XMP mirror's caption differs from the COM payload's (an edited XMP description?); "
        "the COM payload is used"
    ]
    # Not also logged (the log line went to stderr beside the block's own warning line).
    assert not [r for r in caplog.records if "XMP mirror" in r.getMessage()]


def test_file_without_caption_and_long_caption(tmp_path: Path):
    buf = io.BytesIO()
    Image.fromarray(_photo()).save(buf, "JPEG", quality=7)
    (tmp_path / "plain.jpg").write_bytes(buf.getvalue())
    result = run("info", "plain.jpg")
    assert "caption:    (none)" in result.stdout and "stored in payload: none" in result.stdout
    (tmp_path / "long.jpg").write_bytes(encode(_photo(), 1, caption="x" * 100_000))
    out = run("info", "long.jpg").stdout
    assert "... (100,000 chars)" in out and len(out) < 2000
    assert json.loads(run("info", "--json", "long.jpg").stdout)["caption"] == "x" * 100_000


def _small_jpeg() -> bytes:
    buf = io.BytesIO()
    Image.fromarray(_photo()).save(buf, "JPEG", quality=95)
    data = buf.getvalue()
    assert 2000 <= len(data) <= 5000
    return data


def _bad_inputs() -> dict[str, bytes]:
    data = _small_jpeg()
    sof = next(s for s in parse_jpeg(data).segments if s.is_sof)
    bomb = bytearray(data)
    bomb[sof.offset + 5 : sof.offset + 9] = struct.pack(">HH", 65000, 65000)
    png = io.BytesIO()
    Image.fromarray(_photo()).save(png, "PNG")
    rng = np.random.default_rng(11)
    cases = {
        "empty": b"",
        "png": png.getvalue(),
        "random": rng.integers(0, 256, 3000, dtype=np.uint8).tobytes(),
        "length_past_end": b"\xff\xd8\xff\xfe\x40\x00short",
        "ff_flood": b"\xff" * 10_000_000,
        "soi_then_ff_flood": b"\xff\xd8" + b"\xff" * 10_000_000,
        "bomb": bytes(bomb),
    }
    for cut in sorted({1, 2, 5, 21, 150, 400, 700, len(data) - 1, *range(0, len(data), 331)}):
        cases[f"truncated_{cut}"] = data[:cut]
    return cases


@pytest.mark.parametrize(("name", "blob"), sorted(_bad_inputs().items()))
def test_bad_input_is_one_line_and_exit_1(tmp_path: Path, name: str, blob: bytes):
    (tmp_path / "bad.jpg").write_bytes(blob)
    start = time.perf_counter()
    result = run("info", "bad.jpg")
    elapsed = time.perf_counter() - start
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    assert result.stderr.startswith("Error: bad.jpg: ") and result.stderr.count("\n") == 1
    assert result.stdout == ""
    assert elapsed < 1.0
    row = json.loads(run("info", "--json", "bad.jpg").stdout)
    assert row["file"] == "bad.jpg" and row["error"]


def test_one_bad_file_among_good_ones(tmp_path: Path):
    (tmp_path / "good.jpg").write_bytes(encode(_photo(), 1, caption="fine"))
    (tmp_path / "bad.jpg").write_bytes(b"\xff\xd8\xff")
    result = run("info", "good.jpg", "bad.jpg")
    assert result.exit_code == 1
    assert '"fine"' in result.stdout
    assert "Error: bad.jpg:" in result.stderr and "1 of 2 files could not be read" in result.stderr


def test_max_pixels_option(tmp_path: Path):
    (tmp_path / "a.jpg").write_bytes(encode(_photo(), 1, caption="c"))
    result = run("info", "a.jpg", "--max-pixels", "100")
    assert result.exit_code == 1 and "over the limit of 100" in result.stderr


def test_info_does_not_import_torch(tmp_path: Path):
    (tmp_path / "a.jpg").write_bytes(encode(_photo(), 1, caption="no torch here"))
    code = (
        "import sys\n"
        "from jpegtext.cli import main\n"
        "try:\n"
        "    main(['info', '--json', 'a.jpg'])\n"
        "except SystemExit as exc:\n"
        "    assert exc.code == 0, exc.code\n"
        "print('torch' in sys.modules, 'transformers' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, check=True
    )
    first, last = out.stdout.strip().splitlines()
    assert json.loads(first)["caption"] == "no torch here"
    assert last == "False False"


@pytest.mark.slow
def test_caption_share_of_qf1_kodak_files(kodak_dir: Path, tmp_path: Path):
    """The paper's 1/25: a ~15-word caption costs < 4% of a QF 1 Kodak file.

    The paper's files have the standard Huffman tables (``--no-optimize``); with the tables
    fitted to each image (the default) the files are about half as large, so the share doubles.
    """
    assert len(CAPTION_15_WORDS.split()) in range(14, 17)
    images = sorted(kodak_dir.glob("kodim*.png"))
    assert len(images) == 24
    result = run(
        "encode", str(kodak_dir), "-q", "1", "--out-dir", "opt", "--caption", CAPTION_15_WORDS
    )
    assert result.exit_code == 0, result.output
    opt = [json.loads(line) for line in run("info", "--json", "opt").stdout.splitlines()]
    opt_shares = np.array([r["caption_share"] for r in opt])
    print(f"\noptimized tables: caption share max {100 * opt_shares.max():.2f}% mean "
          f"{100 * opt_shares.mean():.2f}%")
    assert len(opt) == 24 and opt_shares.mean() < 0.04 and opt_shares.max() < 0.05
    result = run(
        "encode", str(kodak_dir), "-q", "1", "--out-dir", "out", "--caption", CAPTION_15_WORDS,
        "--no-optimize",
    )
    assert result.exit_code == 0, result.output
    result = run("info", "--json", "out")
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(rows) == 24
    assert all(r["caption"] == CAPTION_15_WORDS and r["quality"] == 1 for r in rows)
    shares = np.array([r["caption_share"] for r in rows])
    sizes = np.array([r["total_bytes"] for r in rows])
    print(
        f"\nKodak QF 1, {len(CAPTION_15_WORDS.split())}-word caption "
        f"({rows[0]['caption_bytes']} bytes): file {sizes.min()}-{sizes.max()} bytes, "
        f"caption share max {100 * shares.max():.2f}% mean {100 * shares.mean():.2f}%"
    )
    assert shares.max() < 0.04
    text = run("info", "out/kodim01.jpg").stdout
    assert "caption share:" in text
