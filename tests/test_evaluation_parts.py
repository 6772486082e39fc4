"""Parts of the evaluation harness: datasets, captions, derangement, method names, report, figure."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from jpegtext.errors import ConfigError
from jpegtext.evaluation import (
    JPEGMethod,
    MethodSpec,
    aggregate,
    captioned_strip,
    comparison_figure,
    default_method_names,
    derangement,
    list_images,
    parse_method_specs,
    read_captions_file,
    render_markdown,
    select_subset,
    wrong_caption_sources,
)
from jpegtext.evaluation.figure import FigureRow, detail_box
from jpegtext.evaluation.report import NA_NOT_COMPUTED, NA_WEIGHTS

# --------------------------------------------------------------------------------- datasets


def _png(path: Path, value: int = 100) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((16, 16, 3), value, np.uint8)).save(path)


def test_folder_lists_images_sorted(tmp_path: Path) -> None:
    for name in ("b.png", "a.jpg", "c.JPEG"):
        _png(tmp_path / name)
    (tmp_path / "SOURCE.txt").write_text("x")
    (tmp_path / "sub").mkdir()
    ims = list_images(tmp_path)
    assert [im.id for im in ims] == ["a.jpg", "b.png", "c.JPEG"]
    assert all(im.caption is None for im in ims)
    with pytest.raises(ConfigError, match="no images"):
        list_images(tmp_path / "sub")


def test_manifest_split_captions_and_template(tmp_path: Path) -> None:
    rows = [
        {"file": "images/1.jpg", "split": "val", "captions": ["first", "second"]},
        {"file": "images/2.jpg", "split": "train", "captions": ["train one"]},
        {"file": "images/3.jpg", "split": "val", "class_name": "rose"},
    ]
    for r in rows:
        _png(tmp_path / r["file"])
    (tmp_path / "captions.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    ims = list_images(tmp_path, manifest="captions.jsonl", split="val")
    assert [(im.id, im.caption) for im in ims] == [
        ("images/1.jpg", "first"),
        ("images/3.jpg", None),
    ]
    ims = list_images(
        tmp_path,
        manifest=tmp_path / "captions.jsonl",
        split="val",
        caption_template="a photo of a {class_name}",
    )
    assert ims[1].caption == "a photo of a rose" and ims[0].caption == "first"
    with pytest.raises(ConfigError, match="split 'test'; splits: train, val"):
        list_images(tmp_path, manifest="captions.jsonl", split="test")
    with pytest.raises(ConfigError, match="field .colour. .*fields: class_name, file, split"):
        list_images(tmp_path, manifest="captions.jsonl", split="val", caption_template="{colour}")
    with pytest.raises(ConfigError, match="needs a --manifest"):
        list_images(tmp_path, split="val")
    (tmp_path / "images/3.jpg").unlink()
    with pytest.raises(ConfigError, match="not found"):
        list_images(tmp_path, manifest="captions.jsonl", split="val")


def test_limit_draws_nested_deterministic_subsets() -> None:
    items = list(range(100))
    picks = {n: select_subset(items, n) for n in (1, 3, 10, 50)}
    assert picks[10] == select_subset(items, 10)  # deterministic
    assert all(p == sorted(p) and len(p) == n for n, p in picks.items())
    assert set(picks[1]) <= set(picks[3]) <= set(picks[10]) <= set(picks[50])
    assert picks[10] != list(range(10))  # not the first ten: classes are grouped in manifests
    assert select_subset(items, None) == items and select_subset(items, 500) == items


def test_read_captions_file_forms(tmp_path: Path) -> None:
    from jpegtext.evaluation import EvalImage

    ims = [EvalImage("a.png", tmp_path / "a.png"), EvalImage("sub/b.png", tmp_path / "sub/b.png")]
    jsonl = tmp_path / "c.jsonl"
    jsonl.write_text(
        '{"image": "a.png", "caption": "one"}\n{"image": "sub/b.png", "caption": "two"}\n'
    )
    assert read_captions_file(jsonl, ims) == {"a.png": "one", "sub/b.png": "two"}
    as_list = tmp_path / "c.json"  # `jpegtext caption --json` output, labels as typed paths
    as_list.write_text(
        json.dumps([{"file": "x/a.png", "caption": "A"}, {"file": "y/b.png", "caption": "B"}])
    )
    assert read_captions_file(as_list, ims) == {"a.png": "A", "sub/b.png": "B"}
    as_list.write_text(json.dumps([{"file": "x/a.png", "caption": "A"}]))
    with pytest.raises(ConfigError, match="no caption for 1 image"):
        read_captions_file(as_list, ims)


# --------------------------------------------------------------------------------- derangement


@settings(max_examples=200, deadline=None)
@given(n=st.integers(2, 60), seed=st.integers(0, 2**31))
def test_derangement_has_no_fixed_point(n: int, seed: int) -> None:
    perm = derangement(n, seed)
    assert sorted(perm) == list(range(n))
    assert all(perm[i] != i for i in range(n))
    assert derangement(n, seed) == perm


@settings(max_examples=200, deadline=None)
@given(
    captions=st.lists(
        st.sampled_from(["a red rose", "a daisy", "a tulip", ""]), min_size=2, max_size=40
    ),
    seed=st.integers(0, 1000),
)
def test_wrong_captions_never_own_and_differ_when_possible(captions: list[str], seed: int) -> None:
    src = wrong_caption_sources(captions, seed)
    assert len(src) == len(captions)
    for i, j in enumerate(src):
        assert j != i
        if len(set(captions)) > 1:
            assert captions[j] != captions[i]
    assert wrong_caption_sources(captions, seed) == src


def test_derangement_needs_two_images() -> None:
    with pytest.raises(ConfigError, match="at least 2"):
        derangement(1, 0)


# --------------------------------------------------------------------------------- methods


def test_method_names() -> None:
    assert default_method_names([]) == ["jpeg", "arcnn", "dncnn3"]
    assert default_method_names(["m1"]) == ["jpeg", "arcnn", "dncnn3", "m1", "m1:nocap"]
    specs = parse_method_specs(
        ["jpeg,arcnn", "zoo", "zoo:wrongcap", "m1:nocap", "jpeg"], ["m1", "m2"]
    )
    assert [s.name for s in specs] == [
        "jpeg",
        "arcnn",
        "m1",
        "m2",
        "m1:wrongcap",
        "m2:wrongcap",
        "m1:nocap",
    ]
    assert specs[-1] == MethodSpec("m1:nocap", "tgjar", "m1", "nocap")
    assert specs[0].caption_mode == "none"
    assert [s.name for s in parse_method_specs(["jpeg", "zoo", "zoo:nocap"], [])] == ["jpeg"]
    with pytest.raises(
        ConfigError, match='unknown method "tgjar-huge"; known: jpeg, arcnn, dncnn3, webp, avif, waifu2x, realcugan, m1'
    ):
        parse_method_specs(["tgjar-huge"], ["m1"])
    with pytest.raises(ConfigError, match="takes no caption"):
        parse_method_specs(["arcnn:nocap"], [])
    with pytest.raises(ConfigError, match="no methods"):
        parse_method_specs(["zoo"], [])


def test_method_file_names(tmp_path: Path) -> None:
    a = tmp_path / "a" / "net.safetensors"
    b = tmp_path / "b" / "net.safetensors"
    for p in (a, b):
        p.parent.mkdir()
        p.write_bytes(b"x")
    specs = parse_method_specs([str(a), f"{a}:wrongcap"], [])
    assert [(s.name, s.model, s.caption_mode) for s in specs] == [
        ("net", str(a), "caption"),
        ("net:wrongcap", str(a), "wrongcap"),
    ]
    with pytest.raises(ConfigError, match='both be called "net"'):
        parse_method_specs([str(a), str(b)], [])
    with pytest.raises(ConfigError, match="not found"):
        parse_method_specs([str(tmp_path / "missing.safetensors")], [])


def test_jpeg_method_copies() -> None:
    x = np.arange(48, dtype=np.uint8).reshape(4, 4, 3)
    x.flags.writeable = False
    y = JPEGMethod().restore(x, "caption", 1)
    assert np.array_equal(x, y) and y.flags.writeable


def test_baseline_method_passes_quality_and_ignores_caption() -> None:
    from jpegtext.evaluation import BaselineMethod

    class Spy:
        def restore(self, image: np.ndarray, quality: int) -> np.ndarray:
            self.seen = quality
            return image + 1

    spy = Spy()
    out = BaselineMethod("spy", spy).restore(np.zeros((2, 2, 3), np.uint8), "ignored", 7)
    assert spy.seen == 7 and out.max() == 1


# --------------------------------------------------------------------------------- report


def _recs() -> list[dict]:
    out = []
    for i, (lp_j, lp_m) in enumerate([(0.5, 0.3), (0.7, 0.5)]):
        out.append(
            {
                "image": f"i{i}",
                "quality": 1,
                "method": "jpeg",
                "lpips": lp_j,
                "niqe": 10.0,
                "psnr_rgb": 20.0 + i,
                "bpp": 0.2,
            }
        )
        out.append(
            {
                "image": f"i{i}",
                "quality": 1,
                "method": "m",
                "lpips": lp_m,
                "niqe": 6.0,
                "psnr_rgb": 21.0 + i,
                "bpp": 0.2,
            }
        )
        out.append(
            {
                "image": f"i{i}",
                "quality": 1,
                "method": "m:nocap",
                "lpips": lp_m + 0.1,
                "niqe": 7.0,
                "psnr_rgb": 21.5 + i,
                "bpp": 0.2,
            }
        )
    return out


def test_aggregate_means_and_na() -> None:
    res = aggregate(_recs(), [1, 5], ["jpeg", "m"], na={"pi": NA_WEIGHTS})
    assert res["1"]["jpeg"]["lpips"] == pytest.approx(0.6) and res["1"]["m"][
        "lpips"
    ] == pytest.approx(0.4)
    assert res["1"]["m"]["psnr_rgb"] == pytest.approx(21.5) and res["1"]["m"]["n"] == 2
    assert res["1"]["m"]["pi"] == NA_WEIGHTS
    assert res["1"]["m"]["ssim_y"] == NA_NOT_COMPUTED  # never measured: no number
    assert res["5"]["m"] == {"n": 0, **{k: v for k, v in res["5"]["m"].items() if k != "n"}}
    assert res["5"]["m"]["lpips"] == NA_NOT_COMPUTED


def test_markdown_layout_and_bold_best() -> None:
    names = ["jpeg", "m", "m:nocap"]
    summary = {
        "dataset": {"name": "toy", "images": 2, "split": None},
        "qualities": [1],
        "command": "jpegtext evaluate toy",
        "captions": {"source": "manifest"},
        "versions": {"jpegtext": "0"},
        "method_names": names,
        "methods": [
            {"name": "jpeg", "kind": "jpeg", "caption_mode": "none"},
            {"name": "m", "kind": "tgjar", "caption_mode": "caption"},
            {"name": "m:nocap", "kind": "tgjar", "caption_mode": "nocap"},
        ],
        "results": aggregate(_recs(), [1], names, na={"pi": NA_WEIGHTS, "fid": NA_WEIGHTS}),
        "notes": ["FID: n/a (weights not given)"],
    }
    for cell in summary["results"]["1"].values():
        cell["fid"] = NA_WEIGHTS
    md = render_markdown([summary])
    assert (
        "| toy | 1 | 0.600/n/a/n/a/10.00 | **0.400**/n/a/n/a/**6.00** | 0.500/n/a/n/a/7.00 |" in md
    )
    assert "| toy | 1 | 20.50 | 21.50 | **22.00** |" in md  # PSNR: higher is better
    assert "| toy | 1 | m | **0.400**/**6.00**/21.50 | 0.500/7.00/**22.00** | — |" in md
    assert "**0.200**" not in md  # bpp is not a contest
    assert "`jpegtext evaluate toy`" in md and "- FID: n/a (weights not given)" in md


def test_report_combines_summaries(tmp_path: Path) -> None:
    from jpegtext.evaluation.report import main

    names = ["jpeg", "m"]
    paths = []
    for ds in ("kodak", "live1"):
        s = {
            "dataset": {"name": ds, "images": 2},
            "qualities": [1],
            "command": "c",
            "captions": {"source": "x"},
            "versions": {},
            "method_names": names,
            "methods": [{"name": n, "kind": "jpeg", "caption_mode": "none"} for n in names],
            "results": aggregate(_recs(), [1], names),
        }
        p = tmp_path / f"{ds}.json"
        p.write_text(json.dumps(s))
        paths.append(str(p))
    out = tmp_path / "all.md"
    assert main([*paths, "-o", str(out)]) == 0
    md = out.read_text()
    assert "| kodak | 1 | 20.50 | **21.50** |" in md and "| live1 | 1 | 20.50 | **21.50** |" in md


# --------------------------------------------------------------------------------- figure


def test_detail_box_finds_texture() -> None:
    rng = np.random.default_rng(0)
    img = np.full((128, 192, 3), 120, np.uint8)
    img[64:, 128:] = rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)
    top, left, side = detail_box(img)
    assert side == 32
    assert top >= 64 and left >= 128 and top + side <= 128 and left + side <= 192


def test_comparison_figure_and_strip_sizes() -> None:
    a = np.zeros((100, 150, 3), np.uint8)
    rows = [FigureRow("a caption that is long enough to wrap " * 6, [a, a + 50, a + 100])]
    fig = comparison_figure(rows, ["clean", "JPEG", "m"], tile_width=120)
    assert fig.size[0] == 3 * 120 + 4 * 6
    assert fig.size[1] > 80 + 120  # the row (120x80) and the zoomed detail (120x120)
    px = np.asarray(fig)
    assert (px == 100).all(axis=2).any() and (px == 50).all(axis=2).any()
    strip = captioned_strip([a, a], ["red", "blue"], tile_width=64)
    assert strip.size[0] == 2 * 64 + 3 * 6
    with pytest.raises(Exception, match="columns"):
        comparison_figure(rows, ["clean", "JPEG"])


def test_results_file_drops_only_a_cut_last_line(tmp_path: Path) -> None:
    from jpegtext.evaluation.harness import _ResultsFile

    p = tmp_path / "results.jsonl"
    a = json.dumps({"image": "a", "quality": 1, "method": "jpeg", "psnr_rgb": 20.0})
    b = json.dumps({"image": "b", "quality": 1, "method": "jpeg", "psnr_rgb": 21.0})
    p.write_text(a + "\n\n" + b[:10])
    rf = _ResultsFile(p)
    assert list(rf.records) == [("a", 1, "jpeg")] and p.read_text() == a + "\n\n"
    rf.append(json.loads(b))
    assert _ResultsFile(p).records[("b", 1, "jpeg")]["psnr_rgb"] == 21.0
    p.write_text(a + "\n" + b[:10] + "\n" + b + "\n")  # damage in the middle: refuse, keep data
    with pytest.raises(ConfigError, match="line 2 is damaged"):
        _ResultsFile(p)
    assert p.read_text().endswith(b + "\n")
    p.write_text(a)  # complete record without its newline: kept, newline added
    assert len(_ResultsFile(p).records) == 1 and p.read_text() == a + "\n"
