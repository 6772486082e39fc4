"""jpegtext.codec.consistency: a restoration projected onto what the JPEG file allows."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image
from tiny_model import save_tiny_model

import jpegtext
from jpegtext.cli import main
from jpegtext.codec.consistency import (
    UnsupportedLayout,
    _dct,
    _natural,
    project_jpeg_file,
    project_to_file,
)
from jpegtext.codec.jpegfile import _oriented, parse_file, unoriented
from jpegtext.codec.markers import Component, FrameHeader
from jpegtext.errors import ConfigError
from jpegtext.receiver import decode_detailed
from jpegtext.sample import make_sample_image


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(10 * np.log10(255.0 ** 2 / ((a.astype(np.float64) - b) ** 2).mean()))


def _encoded(quality: int, subsampling: int = 2, size: tuple[int, int] = (120, 88)
             ) -> tuple[np.ndarray, bytes]:
    """A clean sample (odd size: padding is exercised) and its JPEG at ``quality``."""
    clean = make_sample_image(*size, seed=3)
    buf = io.BytesIO()
    clean.save(buf, format="JPEG", quality=quality, subsampling=subsampling)
    return np.asarray(clean), buf.getvalue()


def _project(restored: np.ndarray, data: bytes) -> np.ndarray:
    file = parse_file(data)
    return project_to_file(restored, file.pixels(), file.layout.frame, file.layout.qtables)


@pytest.mark.parametrize("subsampling", [0, 1, 2])  # 4:4:4, 4:2:2, 4:2:0
def test_the_decoded_jpeg_is_a_fixed_point(subsampling: int) -> None:
    _, data = _encoded(5, subsampling)
    decoded = parse_file(data).pixels()
    assert np.array_equal(_project(decoded, data), decoded)


@pytest.mark.parametrize("quality", [1, 5, 10])
def test_the_clean_image_is_inside_and_a_repainted_one_comes_back(quality: int) -> None:
    clean, data = _encoded(quality)
    file = parse_file(data)
    # the clean image meets the file's bounds: projecting it changes it by rounding only
    moved = _project(clean, data).astype(int) - clean
    assert np.abs(moved).max() <= 2
    # a restoration whose colours were pushed far (what a misleading caption does) comes back
    # towards the clean image, and every coefficient ends within its interval
    decoded = file.pixels().astype(np.float64)
    wrong = np.clip(decoded + np.array([60.0, -40.0, 50.0]), 0, 255).astype(np.uint8)
    fixed = _project(wrong, data)
    assert _psnr(fixed, clean) > _psnr(wrong, clean) + 3
    ycc = fixed.astype(np.float64) @ np.array([[0.299, 0.587, 0.114]]).T  # luma
    ycc_dec = decoded @ np.array([[0.299, 0.587, 0.114]]).T
    h, w = ycc.shape[:2]
    pad = ((0, (-h) % 16), (0, (-w) % 16))
    q = _natural(file.layout.qtables[file.layout.frame.components[0].tq])
    k = np.round(_dct(np.pad(ycc_dec[:, :, 0], pad, mode="edge")) / q)
    coef = _dct(np.pad(ycc[:, :, 0], pad, mode="edge"))
    assert np.all(np.abs(coef - k * q) <= q / 2 + 1 + 4)  # + the uint8 rounding of the output


def test_slack_widens_the_intervals_monotonically() -> None:
    clean, data = _encoded(1)
    file = parse_file(data)
    decoded = file.pixels().astype(np.float64)
    wrong = np.clip(decoded + np.array([60.0, -40.0, 50.0]), 0, 255).astype(np.uint8)

    def moved(slack: float) -> float:
        out = project_to_file(wrong, file.pixels(), file.layout.frame, file.layout.qtables,
                              slack=slack)
        return float(np.abs(out.astype(int) - wrong).mean())

    exact, wider, widest = moved(1.0), moved(2.0), moved(float("inf"))
    # a wider set moves the restoration less, an unbounded one not at all, and the clean image
    # stays inside every one of them
    assert exact > wider > widest == 0.0
    kept = project_to_file(clean, file.pixels(), file.layout.frame, file.layout.qtables, slack=2.0)
    assert np.abs(kept.astype(int) - clean).max() <= 2
    for bad in (0.5, float("nan")):
        with pytest.raises(ValueError, match="slack"):
            project_to_file(wrong, file.pixels(), file.layout.frame, file.layout.qtables,
                            slack=bad)
        with pytest.raises(ValueError, match="chroma_slack"):
            project_to_file(wrong, file.pixels(), file.layout.frame, file.layout.qtables,
                            chroma_slack=bad)


def test_chroma_slack_bounds_the_luma_alone() -> None:
    _, data = _encoded(1)
    file = parse_file(data)
    decoded = file.pixels().astype(np.float64)
    luma = np.array([0.299, 0.587, 0.114])
    wrong = np.clip(decoded + np.array([60.0, -40.0, 50.0]), 0, 255).astype(np.uint8)
    out = project_to_file(wrong, file.pixels(), file.layout.frame, file.layout.qtables,
                          chroma_slack=float("inf")).astype(np.float64)
    both = project_to_file(wrong, file.pixels(), file.layout.frame, file.layout.qtables)
    # the luma is brought back as far as with both bounded; the chroma (RGB minus luma) is left
    assert np.abs(out @ luma - both.astype(np.float64) @ luma).mean() < 1.0
    chroma = (wrong.astype(np.float64) - (wrong @ luma)[..., None])
    kept = out - (out @ luma)[..., None]
    assert np.abs(kept - chroma).mean() < 1.0 < np.abs(both - (both @ luma)[..., None] - chroma).mean()


def test_a_gray_file_bounds_the_luma_only() -> None:
    clean = make_sample_image(72, 64, seed=2).convert("L")
    buf = io.BytesIO()
    clean.save(buf, format="JPEG", quality=2)
    data = buf.getvalue()
    file = parse_file(data)
    decoded = file.pixels()
    assert np.array_equal(_project(decoded, data), decoded)
    brighter = np.clip(decoded.astype(int) + 80, 0, 255).astype(np.uint8)
    gray = np.repeat(np.asarray(clean)[:, :, None], 3, axis=2)
    assert _psnr(_project(brighter, data), gray) > _psnr(brighter, gray) + 3


@pytest.mark.parametrize("orientation", range(1, 9))
def test_unoriented_undoes_oriented(orientation: int) -> None:
    a = np.arange(5 * 7 * 3).reshape(5, 7, 3)
    assert np.array_equal(unoriented(_oriented(a, orientation), orientation), a)


def test_an_exif_rotated_file_is_projected_in_its_own_orientation() -> None:
    clean, data = _encoded(3)
    im = Image.open(io.BytesIO(data))
    exif = Image.Exif()
    exif[0x0112] = 6
    buf = io.BytesIO()
    im.save(buf, format="JPEG", quality=3, exif=exif.tobytes(), subsampling=2)
    rotated = parse_file(buf.getvalue())
    assert rotated.orientation == 6
    shown = rotated.pixels()
    assert shown.shape[:2] == clean.shape[:2][::-1]
    wrong = np.clip(shown.astype(int) + 70, 0, 255).astype(np.uint8)
    plain = parse_file(buf.getvalue())
    expected = project_to_file(unoriented(wrong, 6).copy(), unoriented(shown, 6).copy(),
                               plain.layout.frame, plain.layout.qtables)
    assert np.array_equal(project_jpeg_file(wrong, rotated), _oriented(expected, 6))
    assert np.array_equal(project_jpeg_file(shown, rotated), shown)


def test_unsupported_layouts_are_refused() -> None:
    decoded = np.zeros((8, 8, 3), np.uint8)
    cmyk = FrameHeader(8, 8, 8, tuple(Component(i, 1, 1, 0) for i in range(4)), False)
    rgb = FrameHeader(8, 8, 8, tuple(Component(i, 1, 1, 0) for i in (82, 71, 66)), False)
    odd = FrameHeader(8, 8, 8, (Component(1, 4, 1, 0), Component(2, 1, 1, 1),
                                Component(3, 1, 1, 1)), False)
    for frame in (cmyk, rgb, odd):
        with pytest.raises(UnsupportedLayout):
            project_to_file(decoded, decoded, frame, {0: (1,) * 64, 1: (1,) * 64})


def test_decode_consistency_through_the_product(tmp_path: Path,
                                                caplog: pytest.LogCaptureFixture) -> None:
    model = save_tiny_model(tmp_path / "tiny.safetensors")
    clean = make_sample_image(96, 64, seed=5)
    data = jpegtext.encode(clean, 1, caption="a red barn")
    plain = decode_detailed(data, model=str(model), device="cpu", consistent="off")
    default = decode_detailed(data, model=str(model), device="cpu")
    luma = decode_detailed(data, model=str(model), device="cpu", consistent="luma")
    with caplog.at_level("INFO", logger="jpegtext"):
        kept = decode_detailed(data, model=str(model), device="cpu", consistent=True)
    assert [r.consistency for r in (plain, default, luma, kept)] == ["off", "full", "luma", "full"]
    assert not plain.consistent and default.consistent and luma.consistent and kept.consistent
    assert "moved the restoration by" in caplog.text  # what -v shows
    file = parse_file(data)
    assert np.array_equal(kept.image, project_jpeg_file(plain.image, file))
    assert np.array_equal(default.image, kept.image)  # auto: the file's own caption -> full
    assert np.array_equal(luma.image, project_jpeg_file(plain.image, file,
                                                        chroma_slack=float("inf")))
    # auto with the caller's caption (steering) bounds the luma only
    steer_raw = decode_detailed(data, model=str(model), device="cpu", caption="a blue barn",
                                consistent="off")
    steered = decode_detailed(data, model=str(model), device="cpu", caption="a blue barn")
    assert steered.consistency == "luma"
    assert np.array_equal(steered.image, project_jpeg_file(steer_raw.image, file,
                                                           chroma_slack=float("inf")))
    assert _psnr(kept.image, np.asarray(clean)) >= _psnr(plain.image, np.asarray(clean)) - 0.01
    src = tmp_path / "in.jpg"
    src.write_bytes(data)
    for flags, expected, said in (([], kept.image, "bound full"),
                                  (["--consistent"], kept.image, "bound full"),
                                  (["--consistency", "luma"], luma.image, "bound luma"),
                                  (["--consistency", "off"], plain.image, "bound off"),
                                  (["--caption", "a blue barn"], steered.image, "bound luma")):
        out = tmp_path / f"out{len(flags)}{'-'.join(flags)}.png"
        r = CliRunner().invoke(main, ["decode", str(src), "-o", str(out), "--model", str(model),
                                      "--device", "cpu", *flags])
        assert r.exit_code == 0, r.output
        assert np.array_equal(np.asarray(Image.open(out).convert("RGB")), expected), flags
        assert said in r.output, (flags, r.output)  # the decode line says which bound
    r = CliRunner().invoke(main, ["decode", str(src), "-o", str(tmp_path / "x.png"), "--model",
                                  str(model), "--consistent", "--consistency", "off"])
    assert r.exit_code == 2 and "--consistent means --consistency full" in r.output
    assert not (tmp_path / "x.png").exists()
    with pytest.raises(ConfigError, match="consistent="):
        decode_detailed(data, model=str(model), device="cpu", consistent="chroma")
