"""Optimized Huffman tables, the byte-budget search (API and ``encode --max-bytes``)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner, Result
from PIL import Image

import jpegtext
from jpegtext.api import encode_detailed, inspect, read_caption
from jpegtext.cli import main
from jpegtext.codec import Payload, decode_jpeg, encode_jpeg, encode_jpeg_within, parse_jpeg
from jpegtext.codec.image import highest_quality_within
from jpegtext.errors import BudgetError, ConfigError, JpegTextError, MissingDependencyError


def _photo(width: int = 160, height: int = 112, seed: int = 0) -> Image.Image:
    """A smooth scene with texture and noise (sizes vary with the quality like a photo)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)
    base = np.stack(
        [
            128 + 90 * np.sin(xx / 17.0) * np.cos(yy / 23.0),
            100 + 0.8 * yy + 30 * np.sin((xx + yy) / 9.0),
            60 + 0.9 * xx + 20 * np.cos(xx / 5.0),
        ],
        axis=-1,
    )
    return Image.fromarray(np.clip(base + rng.normal(0, 6, base.shape), 0, 255).astype(np.uint8))


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=True)


# --------------------------------------------------------------------- optimized tables


@pytest.mark.parametrize("quality", [1, 5, 10, 50, 95])
@pytest.mark.parametrize("subsampling", ["4:2:0", "4:4:4"])
def test_optimized_tables_same_pixels_smaller_baseline_file(quality: int, subsampling: str):
    im = _photo()
    payload = Payload("a red barn beside a pond", "builtin", quality)
    standard = encode_jpeg(im, quality, subsampling=subsampling, payload=payload, optimize=False)
    optimized = encode_jpeg(im, quality, subsampling=subsampling, payload=payload)
    assert len(optimized) < len(standard)
    assert np.array_equal(np.asarray(decode_jpeg(optimized)), np.asarray(decode_jpeg(standard)))
    layout = parse_jpeg(optimized)
    assert not layout.frame.progressive  # baseline: every decoder reads it
    assert layout.qtables == parse_jpeg(standard).qtables
    info = inspect(optimized)
    assert info.estimated_quality == quality and info.payload_quality == quality
    assert info.caption == "a red barn beside a pond" and not info.quality_mismatch
    with Image.open(io.BytesIO(optimized)) as f:  # another decoder path opens it
        assert f.size == im.size


def test_api_optimizes_by_default_and_can_turn_it_off():
    im = _photo()
    default = jpegtext.encode(im, 1, caption="x")
    standard = jpegtext.encode(im, 1, caption="x", optimize=False)
    assert len(default) < len(standard)
    assert default == encode_jpeg(im, 1, payload=Payload("x", None, 1))


def test_mozjpeg_lossless_pass_keeps_pixels_caption_and_quality():
    pytest.importorskip("mozjpeg_lossless_optimization")
    im = _photo()
    plain = encode_jpeg(im, 1, payload=Payload("a caption", None, 1))
    moz = encode_jpeg(im, 1, payload=Payload("a caption", None, 1), mozjpeg=True)
    assert len(moz) < len(plain)
    assert np.array_equal(np.asarray(decode_jpeg(moz)), np.asarray(decode_jpeg(plain)))
    info = inspect(moz)
    assert info.caption == "a caption" and info.estimated_quality == 1


def test_mozjpeg_absent_is_a_missing_dependency(monkeypatch: pytest.MonkeyPatch):
    import sys

    monkeypatch.setitem(sys.modules, "mozjpeg_lossless_optimization", None)
    with pytest.raises(MissingDependencyError, match="jpegtext\\[mozjpeg\\]"):
        encode_jpeg(_photo(), 1, mozjpeg=True)


# --------------------------------------------------------------------- the search


def test_search_finds_dips_and_never_exceeds():
    # A non-monotonic size curve: 11 does not fit, 12 does (a dip), 13+ do not.
    sizes = {q: 100 + 10 * q for q in range(0, 101)}
    sizes[12] = 150
    calls: list[int] = []

    def enc(q: int) -> bytes:
        calls.append(q)
        return b"x" * sizes[q]

    data, q = highest_quality_within(enc, 205, 0, 100)
    assert (q, len(data)) == (12, 150)  # 10 fits (200), 11 does not, the dip at 12 is found
    assert len(calls) == len(set(calls))  # each quality encoded once
    assert highest_quality_within(enc, 99, 0, 100) is None
    assert highest_quality_within(enc, 10_000, 0, 100)[1] == 100  # type: ignore[index]
    assert highest_quality_within(enc, 100, 0, 0) == (b"x" * 100, 0)


@pytest.mark.parametrize("seed", [0, 1])
def test_budget_gives_the_highest_quality_that_fits(seed: int):
    im = _photo(seed=seed)
    payload = lambda q: Payload("blue at the top, green at the bottom", "builtin", q)  # noqa: E731
    sizes = {q: len(encode_jpeg(im, q, payload=payload(q))) for q in range(1, 101)}
    for budget in sorted({sizes[1], sizes[1] + 1, sizes[7], sizes[30] + 50, sizes[90],
                          sizes[100], sizes[100] + 999}):
        data, q = encode_jpeg_within(im, budget, payload_for=payload)
        assert len(data) <= budget and len(data) == sizes[q]
        assert q == max(k for k, n in sizes.items() if n <= budget)  # brute force agrees
        assert inspect(data).quality == q and read_caption(data) == payload(q).caption
    lo_hi = encode_jpeg_within(im, sizes[100], qualities=(3, 8), payload_for=payload)
    assert lo_hi[1] == 8


def test_budget_error_names_the_smallest_size_and_what_takes_it():
    im = _photo()
    exif = Image.Exif()
    exif[0x010E] = "x" * 300  # ImageDescription: a big EXIF block
    im.info["exif"] = exif.tobytes()
    smallest = len(encode_jpeg(im, 1, payload=Payload("c" * 200, None, 1)))
    with pytest.raises(BudgetError) as err:
        encode_jpeg_within(im, 500, payload_for=lambda q: Payload("c" * 200, None, q))
    msg = str(err.value)
    assert f"{smallest:,} bytes" in msg and "500 bytes" in msg
    assert "caption 2" in msg and "EXIF 3" in msg and "image " in msg
    assert isinstance(err.value, ValueError) and isinstance(err.value, JpegTextError)
    with pytest.raises(BudgetError, match="at QF 20"):
        encode_jpeg_within(im, smallest, qualities=(20, 30))


@pytest.mark.parametrize(
    "kwargs",
    [{"max_bytes": 0}, {"max_bytes": 1.5}, {"max_bytes": 9000, "qualities": (9, 3)},
     {"max_bytes": 9000, "qualities": (0, 10)}],
)
def test_bad_budgets_are_config_errors(kwargs: dict):
    with pytest.raises(ConfigError):
        jpegtext.encode(_photo(), caption="x", **kwargs)


def test_api_max_bytes_ignores_quality_and_records_the_chosen_one():
    im = _photo()
    budget = len(jpegtext.encode(im, 12, caption="abc")) + 3
    res = encode_detailed(im, 1, caption="abc", max_bytes=budget)
    assert res.quality == 12 and len(res.data) <= budget
    info = inspect(res.data)
    assert info.payload_quality == 12 == info.estimated_quality
    assert jpegtext.encode(im, quality=99, caption="abc", max_bytes=budget) == res.data
    assert encode_detailed(im, caption="abc", max_bytes=budget, qualities=(1, 5)).quality == 5
    with pytest.raises(ConfigError, match="needs max_bytes"):
        jpegtext.encode(im, 5, caption="abc", qualities=(1, 5))


# --------------------------------------------------------------------- the CLI


def test_cli_max_bytes_writes_a_file_within_the_budget(tmp_path: Path):
    src = tmp_path / "a.png"
    _photo().save(src)
    budget = len(jpegtext.encode(src, 9, caption="hi")) + 1
    res = run("encode", str(src), "-o", str(tmp_path / "a.jpg"), "--caption", "hi",
              "--max-bytes", str(budget))
    assert res.exit_code == 0, res.output
    data = (tmp_path / "a.jpg").read_bytes()
    assert len(data) <= budget and inspect(data).quality == 9
    assert f"at QF 9 (the highest that fits {budget:,} bytes)" in res.stderr


def test_cli_impossible_budget_exits_1_one_line_no_file(tmp_path: Path):
    src = tmp_path / "a.png"
    _photo().save(src)
    res = run("encode", str(src), "-o", str(tmp_path / "a.jpg"), "--caption", "hi",
              "--max-bytes", "300")
    assert res.exit_code == 1
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: ")
    assert "smallest file, at QF 1" in lines[0] and "caption" in lines[0]
    assert not (tmp_path / "a.jpg").exists()
    assert list(tmp_path.iterdir()) == [src]  # no temporary file left either


def test_cli_max_bpp_batch_reports_each_files_quality(tmp_path: Path):
    for i, size in enumerate([(160, 112), (96, 64)]):
        _photo(*size, seed=i).save(tmp_path / f"in{i}.png")
    res = run("encode", str(tmp_path / "in0.png"), str(tmp_path / "in1.png"), "--out-dir",
              str(tmp_path / "out"), "--caption", "hi", "--max-bpp", "2.5", "--qualities", "1-60")
    assert res.exit_code == 0, res.output
    for i, (w, h) in enumerate([(160, 112), (96, 64)]):
        data = (tmp_path / "out" / f"in{i}.jpg").read_bytes()
        budget = int(2.5 * w * h / 8)
        assert len(data) <= budget and 1 <= inspect(data).quality <= 60
        assert f"in{i}.jpg: {len(data):,} bytes at QF {inspect(data).quality} (the highest" \
            in res.stderr


@pytest.mark.parametrize(
    "args",
    [["--max-bytes", "9000", "--max-bpp", "0.2"], ["--qualities", "1-10"],
     ["--max-bytes", "9000", "--qualities", "10-1"], ["--max-bytes", "9000", "--qualities", "x"],
     ["--max-bytes", "0"], ["--max-bpp", "0"]],
)
def test_cli_bad_budget_options_exit_2(tmp_path: Path, args: list[str]):
    src = tmp_path / "a.png"
    _photo().save(src)
    res = run("encode", str(src), "-o", str(tmp_path / "a.jpg"), "--caption", "hi", *args)
    assert res.exit_code == 2, res.output
    assert not (tmp_path / "a.jpg").exists()


def test_cli_no_optimize_writes_the_standard_tables(tmp_path: Path):
    src = tmp_path / "a.png"
    _photo().save(src)
    assert run("encode", str(src), "-o", str(tmp_path / "o.jpg"), "--caption", "x").exit_code == 0
    res = run("encode", str(src), "-o", str(tmp_path / "s.jpg"), "--caption", "x", "--no-optimize")
    assert res.exit_code == 0
    opt, std = (tmp_path / "o.jpg").read_bytes(), (tmp_path / "s.jpg").read_bytes()
    assert len(opt) < len(std)
    assert np.array_equal(np.asarray(decode_jpeg(opt)), np.asarray(decode_jpeg(std)))


def test_kodak_budgets_fit(kodak_dir: Path):
    """--max-bytes on real photos: 6 / 9 / 15 kB, never over (benchmarks/max_bytes.py: all)."""
    from jpegtext.codec import load_image

    for name in ("kodim01.png", "kodim23.png"):
        im = load_image(kodak_dir / name)
        for budget in (6000, 9000, 15000):
            data, q = encode_jpeg_within(im, budget, payload_for=lambda q: Payload("c", None, q))
            assert len(data) <= budget
            if q < 100:
                assert len(encode_jpeg(im, q + 1, payload=Payload("c", None, q + 1))) > budget
