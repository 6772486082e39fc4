"""benchmarks/goal_uncertainty.py: paired standard errors and the image-cluster bootstrap."""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("goal_uncertainty",
                                               REPO / "benchmarks" / "goal_uncertainty.py")
gu = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(gu)


def _write_rows(folder: Path, rows: list[dict]) -> None:
    folder.mkdir(parents=True)
    (folder / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


def _table(folder: Path, gap: float, noise: list[float]) -> None:
    """Flowers-test rows: the twin at 0.3, the text model ``gap`` + noise[i] away, empty = twin."""
    rows = []
    for q in (1, 5, 10):
        for i, e in enumerate(noise):
            img = f"test/{i}.jpg"
            for method, lp in (("jpeg", 0.5), ("M-twin:nocap", 0.3), ("M", 0.3 + gap + e),
                               ("M:nocap", 0.3), ("M:wrongcap", 0.35), ("tgjar-small-v4", 0.31)):
                rows.append({"image": img, "quality": q, "method": method,
                             "lpips": lp, "psnr_rgb": 20.0 - 10 * lp})
    _write_rows(folder / gu.FLOWERS, rows)


def _control(path: Path, shifts: dict[str, list[float]]) -> None:
    rows = [{"file": f, "shift_region": s} for f, ss in shifts.items() for s in ss]
    path.write_text(json.dumps({"results": [{"rows": rows}]}))


def test_paired_difference_matches_hand_computation(tmp_path: Path) -> None:
    noise = [0.01, -0.01, 0.02, -0.02, 0.0]
    _table(tmp_path / "run", -0.03, noise)
    rows = gu._rows(tmp_path / "run" / gu.FLOWERS)
    assert gu._methods(rows) == ("M", "M-twin:nocap")
    stat = gu.paired(rows, rows, 1, "lpips", "M", "M-twin:nocap")
    sd = math.sqrt(sum(e * e for e in noise) / (len(noise) - 1))
    assert stat["n"] == 5
    assert stat["mean"] == pytest.approx(-0.03)
    assert stat["se"] == pytest.approx(sd / math.sqrt(5))
    half = 2.776445 * stat["se"]  # t(0.975, 4)
    assert stat["ci95"] == pytest.approx([-0.03 - half, -0.03 + half], rel=1e-5)


def test_verdicts_separate_met_from_clear(tmp_path: Path) -> None:
    tight = tmp_path / "tight"
    _table(tight, -0.03, [0.001, -0.001] * 10)
    _control(tmp_path / "c.json", {f"f{i}": [15.5 + (i % 2), 16.0] for i in range(20)})
    res = gu.measure(tight, tmp_path / "c.json")
    first = res["goals"][0]  # text - twin LPIPS at QF 1, goal <= -0.02
    assert first["met"] and first["clear"]
    wide = tmp_path / "wide"
    _table(wide, -0.021, [0.05, -0.05] * 10)
    first = gu.measure(wide, tmp_path / "c.json")["goals"][0]
    assert first["met"] and not first["clear"]
    missed = tmp_path / "missed"
    _table(missed, 0.002, [0.001, -0.001] * 10)
    first = gu.measure(missed, tmp_path / "c.json")["goals"][0]
    assert not first["met"] and first["clear"] and first["se_from_bound"] > 10


def test_decomposition_adds_up_to_text_minus_twin(tmp_path: Path) -> None:
    """text - twin = (empty - twin) + (true - empty), image by image: here the empty caption
    equals the twin (image path 0) and the whole gap is the caption's."""
    noise = [0.004, -0.002, 0.001, -0.003]
    _table(tmp_path / "run", 0.01, noise)
    rows = gu._rows(tmp_path / "run" / gu.FLOWERS)
    parts = gu.decomposition(tmp_path / "run", "M", "M-twin:nocap")
    assert [(p["set"], p["quality"]) for p in parts] == [(gu.FLOWERS, q) for q in (1, 5, 10)]
    whole = gu.paired(rows, rows, 1, "lpips", "M", "M-twin:nocap")["mean"]
    assert parts[0]["image_path"]["mean"] == pytest.approx(0.0, abs=1e-12)
    assert parts[0]["image_path"]["mean"] + parts[0]["caption"]["mean"] == pytest.approx(whole)
    assert whole == pytest.approx(0.01)


def test_measure_keeps_the_decomposition_beside_the_colour_word_split(tmp_path: Path) -> None:
    """--by-colour-word adds its split to the result; it does not replace the decomposition."""
    from PIL import Image

    noise = [0.004, -0.002, 0.001, -0.003]
    _table(tmp_path / "run", 0.01, noise)
    results = tmp_path / "run" / gu.FLOWERS / "results.jsonl"
    rows = [json.loads(line) for line in results.read_text().splitlines()]
    (tmp_path / "root" / "test").mkdir(parents=True)
    for i in range(len(noise)):
        Image.new("RGB", (32, 32), (220, 30, 30)).save(tmp_path / "root" / "test" / f"{i}.jpg")
    for r in rows:  # two captions name the petals' colour, two do not
        named = r["image"] in ("test/0.jpg", "test/1.jpg")
        r["caption"] = "" if r["method"] != "M" else \
            "this flower has red petals" if named else "a flower with round petals"
    results.write_text("".join(json.dumps(r) + "\n" for r in rows))
    _control(tmp_path / "c.json", {f"f{i}": [16.0] for i in range(4)})
    res = gu.measure(tmp_path / "run", tmp_path / "c.json", colour_root=tmp_path / "root")
    assert [(p["set"], p["quality"]) for p in res["decomposition"]] == \
        [(gu.FLOWERS, q) for q in (1, 5, 10)]
    assert res["by_colour_word"]["names a colour"]["text - twin, lpips"]["n"] == 2
    assert res["by_colour_word"]["names no colour"]["text - twin, lpips"]["n"] == 2


def test_control_bootstrap_resamples_images_not_pairs(tmp_path: Path) -> None:
    # two images, one with three pairs at 30, one with one pair at 0: the pair mean is 22.5
    shifts = {"a": [30.0, 30.0, 30.0], "b": [0.0]}
    for i in range(8):
        shifts[f"c{i}"] = [10.0, 20.0]
    _control(tmp_path / "c.json", shifts)
    res = gu.control(tmp_path / "c.json", draws=2000)
    assert res["n_images"] == 10 and res["n_pairs"] == 20
    assert res["mean"] == pytest.approx((90 + 0 + 8 * 30) / 20)
    lo, hi = res["ci95"]
    assert lo < res["mean"] < hi and res["se"] > 0
    # same result with the same seed: the interval is reproducible
    assert gu.control(tmp_path / "c.json", draws=2000) == res
    # two images of ten identical pairs each, at 0 and 10: drawing images gives means 0, 5, 5, 10
    # (SE sqrt(12.5) = 3.54); drawing the 20 pairs would give SE sqrt(25 / 20) = 1.12
    _control(tmp_path / "two.json", {"a": [0.0] * 10, "b": [10.0] * 10})
    assert gu.control(tmp_path / "two.json")["se"] == pytest.approx(math.sqrt(12.5), rel=0.05)


def test_reference_margin_pairs_across_folders(tmp_path: Path) -> None:
    _table(tmp_path / "run", -0.03, [0.0, 0.01, -0.01])
    ref = [{"image": f"test/{i}.jpg", "quality": 1, "method": "v9", "lpips": 0.27,
            "psnr_rgb": 17.4 + d} for i, d in enumerate((0.0, 0.02, 0.04))]
    _write_rows(tmp_path / "v9", ref)
    _control(tmp_path / "c.json", {"a": [10.0], "b": [20.0]})
    res = gu.measure(tmp_path / "run", tmp_path / "c.json", f"{tmp_path / 'v9'}:v9")
    psnr = res["margins"][0]
    # text PSNR = 20 - 10 * (0.27 + e); minus v9's 17.4 + d
    expected = sum(20 - 10 * (0.27 + e) - (17.4 + d)
                   for e, d in zip((0.0, 0.01, -0.01), (0.0, 0.02, 0.04), strict=True)) / 3
    assert psnr["mean"] == pytest.approx(expected)
    assert psnr["met"] == (expected >= -0.05)


def test_paired_control_matches_pairs_across_files(tmp_path: Path) -> None:
    def write(path: Path, shifts: dict[tuple[str, str], float]) -> None:
        rows = [{"file": f, "from": "red", "to": to, "shift_region": s}
                for (f, to), s in shifts.items()]
        path.write_text(json.dumps({"results": [{"rows": rows}]}))

    base = {(f"f{i}", to): 10.0 + i for i in range(6) for to in ("blue", "white")}
    write(tmp_path / "ref.json", base)
    write(tmp_path / "new.json", {k: v + (2.0 if k[1] == "blue" else 1.0) for k, v in base.items()})
    res = gu.control(tmp_path / "new.json", tmp_path / "ref.json")
    # every image moves +1.5 on average: the paired difference has no image-to-image spread
    assert res["mean"] == pytest.approx(1.5) and res["se"] == pytest.approx(0.0, abs=1e-9)
    assert res["n_pairs"] == 12


def test_by_colour_word_groups_images_by_their_caption(tmp_path: Path) -> None:
    from PIL import Image

    rows = []
    for i, (colour, caption) in enumerate([((220, 30, 30), "this flower has red petals"),
                                           ((220, 30, 30), "a flower with round petals"),
                                           ((30, 70, 220), "the petals are blue"),
                                           ((120, 120, 120), "a flower")]):
        Image.new("RGB", (32, 32), colour).save(tmp_path / f"{i}.png")
        for method, lp in (("M", 0.2 + 0.01 * i), ("M-twin:nocap", 0.2), ("M:nocap", 0.21)):
            rows.append({"image": f"{i}.png", "quality": 1, "method": method, "lpips": lp,
                         "psnr_rgb": 20.0, "caption": caption if method == "M" else ""})
    _write_rows(tmp_path / "run" / gu.FLOWERS, rows)
    table = gu._rows(tmp_path / "run" / gu.FLOWERS)
    res = gu.by_colour_word(table, "M", "M-twin:nocap", tmp_path)
    named, unnamed = res["names a colour"], res["names no colour"]
    assert named["text - twin, lpips"]["n"] == 2 and unnamed["text - twin, lpips"]["n"] == 2
    assert named["text - twin, lpips"]["mean"] == pytest.approx((0.0 + 0.02) / 2)
    assert unnamed["true - empty, lpips"]["mean"] == pytest.approx((0.01 + 0.03) / 2 - 0.01)


def test_one_model_of_a_file_with_several_and_paired_within_it(tmp_path: Path) -> None:
    """A file holding several models (text_control_flowers.py --model A --model B): each is
    picked by its entry or file stem, an unknown name is refused, and two models of the same
    file pair on their (image, from, to) pairs."""
    spec = importlib.util.spec_from_file_location("text_control_stats",
                                                  REPO / "benchmarks" / "text_control_stats.py")
    text_control_stats = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(text_control_stats)

    def rows(shift: float) -> list[dict]:
        return [{"file": f"f{i}", "from": "red", "to": to, "shift_region": shift + i}
                for i in range(5) for to in ("blue", "white")]

    path = tmp_path / "several.json"
    path.write_text(json.dumps({"results": [
        {"model": "examples/weights/twin.safetensors", "rows": rows(-1.0)},
        {"model": "tgjar-text-v14", "rows": rows(10.0)},
        {"model": "tgjar-text-v15", "rows": rows(12.0)}]}))
    assert gu.control(path)["mean"] == pytest.approx(1.0)            # the first model
    assert gu.control(path, model="twin")["mean"] == pytest.approx(1.0)
    assert gu.control(path, model="tgjar-text-v15")["mean"] == pytest.approx(14.0)
    with pytest.raises(SystemExit, match="no single model"):
        gu.control(path, model="tgjar-text-v9")
    res = text_control_stats.stats(path, "tgjar-text-v15", against="tgjar-text-v14", bound=15)
    assert res["paired"]["mean"] == pytest.approx(2.0) and res["paired"]["se"] == pytest.approx(0.0, abs=1e-9)
    assert res["goal"]["met"] is False and res["control"]["n_pairs"] == 10
