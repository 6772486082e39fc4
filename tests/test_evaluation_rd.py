"""Rate-distortion helpers: Bjøntegaard delta rate, RD points, plots; equal-bytes methods."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from jpegtext.errors import ConfigError, MissingDependencyError
from jpegtext.evaluation.methods import CodecMethod, UpscalerMethod, parse_method_specs
from jpegtext.evaluation.rd import bd_rate, bd_rates, plot_rd, rd_markdown, rd_points

RATES = [0.1, 0.2, 0.4, 0.8, 1.6]
PSNR = [24.0, 26.5, 29.0, 31.0, 33.5]


def test_bd_rate_of_known_shifts():
    assert bd_rate(RATES, PSNR, RATES, PSNR) == pytest.approx(0.0, abs=1e-9)
    half = [r / 2 for r in RATES]
    assert bd_rate(RATES, PSNR, half, PSNR) == pytest.approx(-50.0, abs=1e-6)
    assert bd_rate(RATES, PSNR, [r * 1.25 for r in RATES], PSNR) == pytest.approx(25.0)
    # lower is better (LPIPS): the same quality for twice the rate is +100 %
    lp = [0.6, 0.45, 0.33, 0.25, 0.2]
    assert bd_rate(RATES, lp, [r * 2 for r in RATES], lp, higher_is_better=False) == (
        pytest.approx(100.0)
    )
    # a better curve at the same rates needs fewer bytes
    assert bd_rate(RATES, PSNR, RATES, [p + 1.0 for p in PSNR]) < -10
    assert bd_rate(RATES[:3], PSNR[:3], RATES[:3], PSNR[:3]) is None  # under 4 points
    # a repeated point counts once: 4 given, 3 distinct
    assert bd_rate(RATES, PSNR, RATES[:1] + RATES[:3], PSNR[:1] + PSNR[:3]) is None
    assert bd_rate(RATES, PSNR, RATES, [p + 20 for p in PSNR]) is None  # no overlap


def _recs() -> list[dict]:
    out = []
    for i, img in enumerate(("a", "b")):
        for q, (rate, p) in enumerate(zip(RATES, PSNR, strict=True), start=1):
            for m, shift in (("jpeg", 1.0), ("codec", 0.5)):
                out.append({"image": img, "quality": q, "method": m, "bpp": rate * shift,
                            "bytes": 1000 * rate * shift, "psnr_rgb": p + i, "psnr_y": p,
                            "lpips": 0.5 - p / 100, "niqe": 5.0,
                            "coded_quality": 10 * q if m == "codec" else None,
                            "fits": not (m == "codec" and q == 1 and img == "a")})
    return out


def test_rd_points_and_tables():
    pts = rd_points(_recs(), range(1, 6), ["jpeg", "codec"])
    assert pts["jpeg"][1]["psnr_rgb"] == pytest.approx(24.5)
    assert pts["codec"][1]["over_budget"] == 1 and pts["jpeg"][1]["over_budget"] == 0
    assert pts["jpeg"][1]["coded_quality"] is None and pts["codec"][2]["coded_quality"] == 20
    bd = bd_rates(pts, "jpeg")
    assert bd["codec"]["psnr_y"] == pytest.approx(-50.0, abs=1e-6)
    assert "jpeg" not in bd
    md = rd_markdown(pts, bd, title="synthetic")
    assert "| 1 | 100 |" in md and "-50.0 %" in md and "1 over" in md


def test_plot_rd_writes_a_png(tmp_path: Path):
    pytest.importorskip("matplotlib")
    pts = rd_points(_recs(), range(1, 6), ["jpeg", "codec"])
    plot_rd(pts, tmp_path / "rd.png", title="t", metrics=("psnr_rgb", "lpips", "niqe"))
    from PIL import Image

    with Image.open(tmp_path / "rd.png") as im:
        assert im.width > 1000 and im.height > 300


def test_method_names_of_codecs_peers_and_capbytes(tmp_path: Path):
    model = tmp_path / "m.safetensors"
    model.write_bytes(b"x")
    specs = parse_method_specs(["webp", "avif", "waifu2x", "realcugan", f"{model}:capbytes"],
                               zoo_names=[])
    assert [(s.name, s.kind) for s in specs] == [
        ("webp", "codec"), ("avif", "codec"), ("waifu2x", "peer"), ("realcugan", "peer"),
        ("m:capbytes", "tgjar")]
    assert specs[-1].caption_mode == "capbytes"
    with pytest.raises(ConfigError):
        parse_method_specs(["absent.safetensors:capbytes"], zoo_names=[])
    for bad in ("webp:nocap", "avif+x8", "waifu2x:capbytes"):
        with pytest.raises(ConfigError, match="takes no caption"):
            parse_method_specs([bad], zoo_names=[])


@pytest.mark.parametrize("name", ["webp", "avif"])
def test_codec_method_fits_the_budget(name: str):
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:96, 0:128]
    clean = np.clip(np.stack([xx * 2, yy * 2, xx + yy], -1) + rng.normal(0, 9, (96, 128, 3)),
                    0, 255).astype(np.uint8)
    codec = CodecMethod(name)
    big = len(codec.encode(clean, 60))
    decoded, nbytes, quality, fits = codec.compress(clean, big)
    assert fits and nbytes <= big and quality >= 60 and decoded.shape == clean.shape
    assert decoded.dtype == np.uint8
    _, nbytes, quality, fits = codec.compress(clean, 10)
    assert not fits and quality == 0 and nbytes > 10


def test_peer_methods_restore_or_skip():
    yy, xx = np.mgrid[0:40, 0:56]
    clean = np.stack([xx * 4, yy * 5, 200 - xx * 2], -1).astype(np.uint8)
    for name in ("waifu2x", "realcugan"):
        try:
            method = UpscalerMethod(name)
        except MissingDependencyError as exc:
            pytest.skip(f"{name} not available: {exc}")
        out = method.restore(clean, "", 1)
        assert out.shape == clean.shape and out.dtype == np.uint8
        # the input image, channels in order (Real-CUGAN, trained on anime, changes contrast)
        for c in range(3):
            assert np.corrcoef(out[..., c].ravel(), clean[..., c].ravel())[0, 1] > 0.9


def test_rate_distortion_script_passes_its_consistency_to_the_harness(tmp_path: Path):
    """benchmarks/rate_distortion.py bounds the models as decode does unless told otherwise."""
    import importlib.util

    script = Path(__file__).resolve().parents[1] / "benchmarks" / "rate_distortion.py"
    spec = importlib.util.spec_from_file_location("rate_distortion", script)
    rd = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(rd)
    for argv, want in (([], "auto"), (["--consistency", "off"], "off")):
        args = rd._parse(["--shared", str(tmp_path), *argv])
        assert rd._config(args, tmp_path / "out", [1], ["jpeg"]).consistency == want
    with pytest.raises(SystemExit):
        rd._parse(["--consistency", "sometimes"])
