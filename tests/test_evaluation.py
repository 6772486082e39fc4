"""The evaluation harness: end to end on synthetic images with a tiny random TGJAR model.

Weights the metrics need are built in the test (a random AlexNet trunk for LPIPS, an identity
Gaussian for NIQE), so this tier runs without ../shared; the slow test at the end runs the real
Kodak images with AR-CNN's official weights.
"""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from tiny_model import save_tiny_model

from jpegtext.codec import Payload, decode_jpeg, encode_jpeg
from jpegtext.errors import ConfigError
from jpegtext.evaluation import EvaluationConfig, run_evaluation
from jpegtext.evaluation import harness as harness_mod
from jpegtext.evaluation.report import NA_WEIGHTS
from jpegtext.metrics import psnr, ssim
from jpegtext.restore.runtime import zoo
from jpegtext.restore.runtime.modelfile import file_sha256


def _scene(seed: int, h: int = 128, w: int = 192) -> np.ndarray:
    """A synthetic photo-like image: coloured regions, an edge, texture, noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    base = rng.uniform(40, 215, 3)
    img = np.empty((h, w, 3))
    for c in range(3):
        img[:, :, c] = base[c] + 40 * np.sin(xx / (7 + 3 * c + seed)) * (yy > h / 3)
    img[: h // 3] = rng.uniform(60, 240, 3)  # a flat "sky" band of another colour
    cy, cx = rng.integers(40, h - 30), rng.integers(40, w - 40)
    img[(yy - cy) ** 2 + (xx - cx) ** 2 < 300] = rng.uniform(0, 255, 3)
    img += rng.normal(0, 6, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def weights(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Tiny model file, random LPIPS trunk, synthetic NIQE model."""
    from torchvision.models import alexnet

    root = tmp_path_factory.mktemp("weights")
    model = save_tiny_model(root / "tinytest.safetensors", info={"note": "test"})
    trunk = root / "alex_random.pth"
    state = {f"features.{k}": v for k, v in alexnet(weights=None).features.state_dict().items()}
    torch.save(state, trunk)
    niqe = root / "niqe.npz"
    np.savez(niqe, mu_pris_param=np.zeros(36), cov_pris_param=np.eye(36))
    return {"model": model, "lpips_trunk": trunk, "niqe_params": niqe}


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    d = tmp_path / "data"
    d.mkdir()
    for i in range(3):
        Image.fromarray(_scene(i)).save(d / f"img{i}.png")
    (d / "README.txt").write_text("not an image")
    return d


@pytest.fixture
def tiny_zoo(weights: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """Make the tiny model, as "tiny-test", the zoo's only model (file in a temporary cache).

    The shipped models are hidden so that the "zoo" method expands to exactly this one.
    """
    home = tmp_path / "home"
    home.mkdir()
    shutil.copy(weights["model"], home / "tiny-test.safetensors")
    entry = zoo.ModelEntry(
        name="tiny-test",
        filename="tiny-test.safetensors",
        sha256=file_sha256(weights["model"]),
        description="test",
        config="tiny",
        qualities=(1, 5, 10),
        text_encoder="bilstm",
        training_data="none",
    )
    monkeypatch.setenv("JPEGTEXT_HOME", str(home))
    monkeypatch.setattr(zoo, "_REGISTRY", {"tiny-test": entry})
    return "tiny-test"


def _cfg(dataset: Path, out: Path, weights: dict[str, Path], **kw: object) -> EvaluationConfig:
    base: dict[str, object] = {
        "dataset_dir": dataset,
        "out_dir": out,
        "qualities": (1, 5),
        "methods": ("jpeg",),
        "captioner": "builtin",
        "device": "cpu",
        "lpips_trunk": weights["lpips_trunk"],
        "niqe_params": weights["niqe_params"],
        "figure_images": 2,
    }
    base.update(kw)
    return EvaluationConfig(**base)  # type: ignore[arg-type]


def _records(out: Path) -> list[dict]:
    return [json.loads(x) for x in (out / "results.jsonl").read_text().splitlines() if x]


def test_end_to_end_with_zoo_model(
    dataset: Path, weights: dict[str, Path], tiny_zoo: str, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    calls: list[tuple[int, int]] = []
    cfg = _cfg(
        dataset,
        out,
        weights,
        methods=("jpeg", "zoo", "zoo:nocap", "zoo:wrongcap"),
    )
    res = run_evaluation(cfg, progress=lambda d, t, label: calls.append((d, t)))
    names = ["jpeg", "tiny-test", "tiny-test:nocap", "tiny-test:wrongcap"]
    assert res.summary["method_names"] == names
    assert res.computed == 3 * 2 * 4 and res.skipped == 0
    assert calls[-1] == (24, 24) and [d for d, _ in calls] == list(range(1, 25))

    recs = _records(out)
    assert len(recs) == 24
    assert {r["image"] for r in recs} == {"img0.png", "img1.png", "img2.png"}
    caps = {
        json.loads(x)["image"]: json.loads(x)
        for x in (out / "captions.jsonl").read_text().splitlines()
    }
    assert set(caps) == {"img0.png", "img1.png", "img2.png"}
    assert all(c["source"] == "captioner builtin" and c["caption"] for c in caps.values())

    # The JPEG row is exactly the product's encoder at that QF, scored independently here.
    clean = np.array(Image.open(dataset / "img1.png").convert("RGB"))
    data = encode_jpeg(
        Image.fromarray(clean), 5, payload=Payload(caps["img1.png"]["caption"], None, 5)
    )
    dec = decode_jpeg(data)
    jr = next(
        r for r in recs if r["image"] == "img1.png" and r["quality"] == 5 and r["method"] == "jpeg"
    )
    assert jr["bytes"] == len(data)
    assert jr["psnr_rgb"] == pytest.approx(psnr(clean, dec), abs=1e-9)
    assert jr["ssim_y"] == pytest.approx(ssim(clean, dec, channel="y"), abs=1e-9)
    assert 0.0 < jr["lpips"] and np.isfinite(jr["niqe"])

    # Caption modes: true caption, empty, another image's caption.
    by = {(r["image"], r["quality"], r["method"]): r for r in recs}
    for img in caps:
        assert by[(img, 1, "tiny-test")]["caption"] == caps[img]["caption"]
        assert by[(img, 1, "tiny-test:nocap")]["caption"] == ""
        wrong = by[(img, 1, "tiny-test:wrongcap")]
        assert wrong["wrong_caption_of"] != img
        assert wrong["caption"] == caps[wrong["wrong_caption_of"]]["caption"]
    # The text reaches the model: with and without caption the restored pixels differ.
    a = np.array(Image.open(out / "images/q1/tiny-test/img0.png"))
    b = np.array(Image.open(out / "images/q1/tiny-test_nocap/img0.png"))
    assert a.shape == clean.shape and np.abs(a.astype(int) - b).max() > 0

    # Means are the means of the per-image numbers.
    cell = res.summary["results"]["1"]["tiny-test"]
    mine = [r["lpips"] for r in recs if r["quality"] == 1 and r["method"] == "tiny-test"]
    assert cell["n"] == 3 and cell["lpips"] == pytest.approx(np.mean(mine), abs=1e-12)
    assert cell["fid"] == NA_WEIGHTS and cell["pi"] == NA_WEIGHTS

    # Outputs: CSV, summary JSON (strict), markdown, figures.
    with open(out / "results.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 24 and rows[0]["method"] == "jpeg"
    summary = json.loads((out / "summary.json").read_text())
    assert summary["command"] == "(library call)" and summary["versions"]["torch"]
    assert summary["methods"][1]["sha256"] == file_sha256(weights["model"])
    md = (out / "table.md").read_text()
    for heading in ("Table 1", "Table 2", "Table 4", "Text ablation"):
        assert heading in md
    assert "FID: n/a (weights not given)" in md and "PI: n/a (weights not given)" in md
    for q in (1, 5):
        fig = Image.open(out / f"figure_q{q}.png")
        # clean + JPEG + 3 model columns of 256 px each, plus 6 px gaps
        assert fig.size[0] == 5 * 256 + 6 * 6 and fig.size[1] > 2 * (171 + 256)
    assert (out / "images/q1/jpeg_files/img0.jpg").is_file()
    assert not (out / "images/q1/tiny-test/img2.png").exists()  # only figure images kept


def test_resume_skips_done_work(dataset: Path, weights: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "out"
    methods = ("jpeg", str(weights["model"]), f"{weights['model']}:nocap")
    first = run_evaluation(_cfg(dataset, out, weights, qualities=(1,), methods=methods))
    assert first.computed == 9
    before = (out / "results.jsonl").read_text()

    second = run_evaluation(_cfg(dataset, out, weights, qualities=(1, 5), methods=methods))
    assert (second.computed, second.skipped) == (9, 9)
    after = (out / "results.jsonl").read_text()
    assert after.startswith(before)  # finished results are kept as they were
    assert len(_records(out)) == 18

    third = run_evaluation(_cfg(dataset, out, weights, qualities=(1, 5), methods=methods))
    assert (third.computed, third.skipped) == (0, 18)
    assert (out / "results.jsonl").read_text() == after
    assert third.summary["results"] == second.summary["results"]

    # A crash in the middle of writing a record: the cut line is dropped and redone.
    lines = after.splitlines(keepends=True)
    (out / "results.jsonl").write_text("".join(lines[:-1]) + lines[-1][:25])
    fourth = run_evaluation(_cfg(dataset, out, weights, qualities=(1, 5), methods=methods))
    assert (fourth.computed, fourth.skipped) == (1, 17)
    assert len(_records(out)) == 18
    assert fourth.summary["results"]["5"]["tinytest"]["n"] == 3


def test_resume_rescores_a_model_whose_weights_changed(
    dataset: Path, weights: dict[str, Path], tmp_path: Path
) -> None:
    out = tmp_path / "out"
    model = tmp_path / "m" / "tinytest.safetensors"
    model.parent.mkdir()
    shutil.copy(weights["model"], model)
    methods = ("jpeg", str(model))
    first = run_evaluation(_cfg(dataset, out, weights, qualities=(1,), methods=methods))
    assert first.computed == 6
    old = {r["image"]: r["psnr_rgb"] for r in _records(out) if r["method"] == "tinytest"}
    model.unlink()
    save_tiny_model(model, seed=5, scale=0.08)  # same name, new weights
    second = run_evaluation(_cfg(dataset, out, weights, qualities=(1,), methods=methods))
    assert (second.computed, second.skipped) == (3, 3)  # the model again, not the JPEG rows
    new = {r["image"]: r["psnr_rgb"] for r in _records(out) if r["method"] == "tinytest"}
    assert new.keys() == old.keys() and new != old


def test_figure_methods_choose_the_columns(
    dataset: Path, weights: dict[str, Path], tmp_path: Path
) -> None:
    model = str(weights["model"])
    methods = ("jpeg", model, f"{model}:nocap")
    out = tmp_path / "out"
    # Named as in --methods (the file) or as in the tables; clean and JPEG are always shown.
    cfg = _cfg(dataset, out, weights, qualities=(1,), methods=methods, figure_images=1,
               figure_methods=(f"{model}:nocap", "jpeg"))  # fmt: skip
    run_evaluation(cfg)
    with Image.open(out / "figure_q1.png") as fig:
        assert fig.size[0] == 3 * 256 + 4 * 6  # clean, JPEG, tinytest:nocap
    every = run_evaluation(_cfg(dataset, out, weights, qualities=(1,), methods=methods,
                                figure_images=1))  # fmt: skip
    assert every.computed == 0
    with Image.open(out / "figure_q1.png") as fig:
        assert fig.size[0] == 4 * 256 + 5 * 6

    bad = _cfg(dataset, tmp_path / "bad", weights, qualities=(1,), methods=methods,
               figure_methods=("tinytest:wrongcap",))  # fmt: skip
    with pytest.raises(ConfigError, match='figure method "tinytest:wrongcap" is not among'):
        run_evaluation(bad)
    assert not (tmp_path / "bad").exists()  # refused before any work


def test_resume_refuses_other_settings(
    dataset: Path, weights: dict[str, Path], tmp_path: Path
) -> None:
    out = tmp_path / "out"
    run_evaluation(_cfg(dataset, out, weights, qualities=(1,), figure_images=0))
    with pytest.raises(ConfigError, match="crop_border"):
        run_evaluation(_cfg(dataset, out, weights, qualities=(1,), crop_border=8))
    caps = tmp_path / "caps.jsonl"
    caps.write_text(
        "".join(json.dumps({"image": f"img{i}.png", "caption": "x"}) + "\n" for i in range(3))
    )
    with pytest.raises(ConfigError, match="another caption"):
        run_evaluation(
            _cfg(dataset, out, weights, qualities=(1,), captioner=None, captions_file=caps)
        )


def test_captions_file_and_limit(dataset: Path, weights: dict[str, Path], tmp_path: Path) -> None:
    caps = tmp_path / "caps.json"
    caps.write_text(
        json.dumps([{"file": f"some/dir/img{i}.png", "caption": f"cap {i}"} for i in range(3)])
    )
    out = tmp_path / "out"
    res = run_evaluation(
        _cfg(
            dataset,
            out,
            weights,
            qualities=(10,),
            captioner=None,
            captions_file=caps,
            limit=2,
            metrics=("psnr",),
            figure_images=0,
        )
    )
    recs = _records(out)
    assert len(recs) == 2 and res.summary["dataset"]["images"] == 2
    assert res.summary["captions"]["source"] == "file caps.json"
    stored = [json.loads(x) for x in (out / "captions.jsonl").read_text().splitlines()]
    assert {s["caption"] for s in stored} <= {"cap 0", "cap 1", "cap 2"} and len(stored) == 2
    # Only PSNR was asked for: the others are reported as not computed, never as numbers.
    cell = res.summary["results"]["10"]["jpeg"]
    assert isinstance(cell["psnr_y"], float) and cell["lpips"] == "n/a (not computed)"
    assert "lpips" not in recs[0] and "niqe" not in recs[0]


def test_fid_and_pi_computed_when_given(
    dataset: Path, weights: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from jpegtext.metrics.distribution import fid_from_features

    def fake_features(path: Path, device: object):  # noqa: ANN202
        assert Path(path).name == "inception.pth"
        # A cheap stand-in for Inception features: colour statistics of the image.
        return lambda img: np.concatenate([img.mean((0, 1)), img.std((0, 1))]).astype(np.float64)

    monkeypatch.setattr(harness_mod, "_load_inception", fake_features)
    inception = tmp_path / "inception.pth"
    inception.write_bytes(b"not used by the fake")
    ma = tmp_path / "ma.jsonl"
    ma.write_text(
        "".join(
            json.dumps({"image": f"img{i}.png", "quality": 1, "method": "jpeg", "ma": 4.0 + i})
            + "\n"
            for i in range(3)
        )
    )
    out = tmp_path / "out"
    res = run_evaluation(
        _cfg(
            dataset,
            out,
            weights,
            qualities=(1,),
            fid_inception=inception,
            ma_scores=ma,
            figure_images=0,
        )
    )
    recs = _records(out)
    cell = res.summary["results"]["1"]["jpeg"]
    expected_pi = np.mean(
        [
            ((10 - (4.0 + i)) + r["niqe"]) / 2
            for i, r in enumerate(sorted(recs, key=lambda r: r["image"]))
        ]
    )
    assert cell["pi"] == pytest.approx(expected_pi, abs=1e-9)
    feats = fake_features(inception, None)
    clean = [np.array(Image.open(dataset / f"img{i}.png")) for i in range(3)]
    a = np.stack([feats(c) for c in clean])
    b = np.stack([np.load(out / f"fid_features/q1/jpeg/img{i}.npy") for i in range(3)])
    assert isinstance(cell["fid"], float) and cell["fid"] == pytest.approx(fid_from_features(a, b))
    assert "n/a (weights not given)" not in (out / "table.md").read_text()


def test_config_validation(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="quality"):
        EvaluationConfig(dataset_dir=tmp_path, out_dir=tmp_path, qualities=(0,))
    with pytest.raises(ConfigError, match="one caption source"):
        EvaluationConfig(
            dataset_dir=tmp_path,
            out_dir=tmp_path,
            captioner="builtin",
            captions_file=tmp_path / "c.jsonl",
        )
    with pytest.raises(ConfigError, match="metric"):
        EvaluationConfig(dataset_dir=tmp_path, out_dir=tmp_path, metrics=("fid",))


def test_method_returning_wrong_shape_is_refused(
    dataset: Path, weights: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from jpegtext.evaluation import methods

    monkeypatch.setattr(methods.JPEGMethod, "restore", lambda self, x, c, q: x[:-1])
    with pytest.raises(ConfigError, match="returned"):
        run_evaluation(_cfg(dataset, tmp_path / "o", weights, qualities=(1,), figure_images=0))


@pytest.mark.slow
def test_kodak_qf1_jpeg_arcnn(kodak_dir: Path, tmp_path: Path) -> None:
    wd = kodak_dir.parent.parent / "weights"  # ../shared/weights beside ../shared/data
    if not (wd / "arcnn").is_dir():
        pytest.skip(f"{wd} is absent")
    cfg = EvaluationConfig(
        dataset_dir=kodak_dir,
        out_dir=tmp_path / "kodak",
        qualities=(1,),
        methods=("jpeg", "arcnn"),
        limit=3,
        captioner="builtin",
        device="cpu",
        arcnn_dir=wd / "arcnn",
        lpips_trunk=wd / "lpips" / "alexnet_features_imagenet_tv.pth",
        niqe_params=wd / "niqe" / "niqe_pris_params.npz",
        figure_images=1,
    )
    res = run_evaluation(cfg)
    row = res.summary["results"]["1"]
    assert row["jpeg"]["n"] == row["arcnn"]["n"] == 3
    # AR-CNN (its q10 model) removes blocking: Y-PSNR and PSNR-B up at QF 1 on every image.
    recs = _records(cfg.out_dir)
    by = {(r["image"], r["method"]): r for r in recs}
    for img in {r["image"] for r in recs}:
        assert by[(img, "arcnn")]["psnr_y"] > by[(img, "jpeg")]["psnr_y"]
        assert by[(img, "arcnn")]["psnrb_y"] > by[(img, "jpeg")]["psnrb_y"] + 0.5
    # QF 1 Kodak JPEG (optimized Huffman tables): ~0.09 bpp, PSNR around 20 dB, LPIPS far from 0.
    assert 0.05 < row["jpeg"]["bpp"] < 0.2
    assert 17 < row["jpeg"]["psnr_rgb"] < 24 and 0.3 < row["jpeg"]["lpips"] < 0.9
    assert (cfg.out_dir / "figure_q1.png").is_file()


# ------------------------------------------------------------------------------------------ CLI


def test_cli_evaluate_list_options_and_outputs(
    dataset: Path, weights: dict[str, Path], tmp_path: Path
) -> None:
    from click.testing import CliRunner

    from jpegtext.cli import main

    out = tmp_path / "out"
    model = str(weights["model"])
    args = [
        "evaluate",
        "-q", "1", "5",
        "--methods", "jpeg", model, f"{model}:nocap",
        str(dataset),  # after the method list: a folder is never a method
        "--out", str(out),
        "--captioner", "builtin",
        "--device", "cpu",
        "--lpips-trunk", str(weights["lpips_trunk"]),
        "--niqe-params", str(weights["niqe_params"]),
        "--metrics", "psnr,lpips", "niqe",
        "--figure-images", "1",
        "--figure-methods", f"{model}:nocap", "jpeg",
        "--precision", "fp32",
    ]  # fmt: skip
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "| data | 1 |" in result.stdout and "### PSNR (RGB, dB)" in result.stdout
    summary = json.loads((out / "summary.json").read_text())
    assert summary["qualities"] == [1, 5]
    assert summary["method_names"] == ["jpeg", "tinytest", "tinytest:nocap"]
    assert summary["config"]["metrics"] == ["psnr", "lpips", "niqe"]
    assert summary["methods"][1]["restorer"]["precision"] == "fp32"
    assert summary["command"].startswith("jpegtext evaluate -q 1 5 --methods jpeg ")
    assert "ssim_y" not in _records(out)[0] and "lpips" in _records(out)[0]
    assert summary["config"]["figure_methods"] == [f"{model}:nocap", "jpeg"]
    for q in (1, 5):
        with Image.open(out / f"figure_q{q}.png") as fig:
            assert fig.size[0] == 3 * 256 + 4 * 6  # clean, JPEG, tinytest:nocap

    again = CliRunner().invoke(main, args + ["--no-progress"])
    assert again.exit_code == 0, again.output
    assert "0 result(s) computed, 18 already done" in again.stderr


def test_cli_evaluate_usage_errors(dataset: Path, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from jpegtext.cli import main

    runner = CliRunner()
    r = runner.invoke(main, ["evaluate", str(dataset), "--out", str(tmp_path / "o"), "-m", "nope"])
    assert r.exit_code == 2 and 'unknown method "nope"' in r.output
    r = runner.invoke(main, ["evaluate", str(dataset), "--out", str(tmp_path / "o"), "-q", "0"])
    assert r.exit_code == 2 and "0" in r.output
    r = runner.invoke(main, ["evaluate", str(dataset), "--out", str(tmp_path / "o"), "-m", "jpeg",
                             "--figure-methods", "arcnn"])  # fmt: skip
    assert r.exit_code == 1 and 'figure method "arcnn" is not among' in r.output
    assert not (tmp_path / "o").exists()
    r = runner.invoke(
        main,
        [
            "evaluate",
            str(dataset),
            "--out",
            str(tmp_path / "o"),
            "--captioner",
            "builtin",
            "--caption-template",
            "{x}",
        ],
    )
    assert r.exit_code == 2 and "one caption source" in r.output
    r = runner.invoke(
        main,
        [
            "evaluate",
            str(dataset),
            "--out",
            str(tmp_path / "o"),
            "-m",
            "arcnn",
            "--captioner",
            "builtin",
            "--metrics",
            "psnr",
            "--figure-images",
            "0",
        ],
        env={"JPEGTEXT_ARCNN_DIR": ""},
    )
    assert r.exit_code == 1 and r.output.startswith("Error: AR-CNN needs its official weights")


def test_cli_metric_names_match_the_harness() -> None:
    from jpegtext.cli.evaluate import METRIC_NAMES
    from jpegtext.evaluation.harness import METRIC_CHOICES

    assert tuple(METRIC_CHOICES) == METRIC_NAMES


def test_cli_help_imports_no_torch() -> None:
    import subprocess
    import sys

    code = (
        "import sys; from click.testing import CliRunner; from jpegtext.cli import main; "
        "r = CliRunner().invoke(main, ['evaluate', '--help']); assert r.exit_code == 0, r.output; "
        "assert '--qualities' in r.output and '--wrongcap-seed' in r.output; "
        "print(sorted(m for m in ('torch', 'numpy', 'lpips') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# ------------------------------------------------------------------------------------- examples


def _example(name: str):  # noqa: ANN202
    import importlib.util

    path = Path(__file__).resolve().parents[1] / "examples" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"example_{name}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_example_kodak_experiment(
    dataset: Path,
    weights: dict[str, Path],
    tiny_zoo: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    wd = tmp_path / "w"
    (wd / "lpips").mkdir(parents=True)
    (wd / "niqe").mkdir()
    shutil.copy(weights["lpips_trunk"], wd / "lpips" / "alexnet_features_imagenet_tv.pth")
    shutil.copy(weights["niqe_params"], wd / "niqe" / "niqe_pris_params.npz")
    out = tmp_path / "out"
    args = ["--data", str(dataset), "--weights-dir", str(wd), "--limit", "2", "--out", str(out)]
    assert (
        _example("kodak_experiment").main([*args, "--device", "cpu", "--figure-images", "1"]) == 0
    )
    text = capsys.readouterr().out
    assert "| kodak | 1 | tiny-test |" in text and "| kodak | 1 | tiny-test:nocap |" in text
    summary = json.loads((out / "summary.json").read_text())
    assert summary["method_names"] == ["jpeg", "tiny-test", "tiny-test:nocap"]
    assert summary["captions"]["source"] == "captioner builtin"
    assert summary["command"].startswith("python examples/kodak_experiment.py --data")


def test_example_text_control(
    weights: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    mod = _example("text_control")
    word, caps = mod.colour_captions(
        "grey sky, yellow patch on the left", None, ["red", "yellow", "blue"]
    )
    assert word == "yellow"
    assert caps == [
        "grey sky, yellow patch on the left",
        "grey sky, red patch on the left",
        "grey sky, blue patch on the left",
    ]
    assert mod.colour_captions("grey sky", None, ["red"]) == ("", ["grey sky", "red grey sky"])

    img = tmp_path / "scene.png"
    Image.fromarray(_scene(3)).save(img)
    out = tmp_path / "tc.png"
    args = ["--image", str(img), "--model", str(weights["model"]), "--out", str(out)]
    assert (
        mod.main(
            [
                *args,
                "--caption",
                "green at the top, red patch",
                "--colours",
                "red",
                "blue",
                "--device",
                "cpu",
                "--tile-width",
                "96",
            ]
        )
        == 0
    )
    text = capsys.readouterr().out
    assert "replaced word: green" in text
    assert "'red at the top, red patch'" in text and "'blue at the top, red patch'" in text
    # clean, JPEG and three restorations, 96 px each with 6 px gaps
    assert Image.open(out).size[0] == 5 * 96 + 6 * 6


def test_equal_bytes_methods(dataset: Path, weights: dict[str, Path], tmp_path: Path) -> None:
    """webp / avif fit the jpegtext file's bytes; :capbytes spends the caption's bytes on the
    image (a QF at least the row's); the RD report reads the records."""
    from jpegtext.evaluation.rd import bd_rates, rd_markdown, rd_points

    model = str(weights["model"])
    out = tmp_path / "rd"
    methods = ("jpeg", "webp", "avif", f"{model}:nocap", f"{model}:capbytes")
    res = run_evaluation(_cfg(dataset, out, weights, qualities=(1, 10), methods=methods,
                              metrics=("psnr", "lpips"), figure_images=0))
    recs = _records(out)
    assert len(recs) == 3 * 2 * 5
    by = {(r["image"], r["quality"], r["method"]): r for r in recs}
    for (img, q, m), r in by.items():
        jpeg = by[(img, q, "jpeg")]
        if m in ("webp", "avif"):
            assert 0 <= r["coded_quality"] <= 100
            assert r["bytes"] <= jpeg["bytes"] or (r["fits"] is False and r["coded_quality"] == 0)
        elif m.endswith(":capbytes"):
            assert r["caption"] == "" and r["fits"] is True
            assert r["coded_quality"] >= q and r["bytes"] <= jpeg["bytes"]
        else:
            assert r["bytes"] == jpeg["bytes"]
        assert r["bpp"] == pytest.approx(r["bytes"] * 8 / (r["width"] * r["height"]))
    assert any("webp / avif" in n for n in res.summary["notes"])
    pts = rd_points(recs, (1, 10), ["jpeg", "webp", "avif"])
    assert pts["jpeg"][1]["n"] == 3 and pts["jpeg"][10]["bytes"] > pts["jpeg"][1]["bytes"]
    text = rd_markdown(pts, bd_rates(pts), title="t")
    assert "| 10 |" in text and "BD-rate" in text


def test_consistency_variants_are_their_own_columns(dataset: Path, weights: dict[str, Path],
                                                     tmp_path: Path) -> None:
    from jpegtext.evaluation.methods import parse_method_specs

    model = str(weights["model"])
    specs = parse_method_specs([model, f"{model}+c", f"{model}+c:nocap", "m+x8+c", "m+raw"],
                               zoo_names=["m"])
    assert [(s.name, s.consistency, s.ensemble, s.caption_mode) for s in specs] == [
        ("tinytest", "auto", 1, "caption"), ("tinytest+c", "full", 1, "caption"),
        ("tinytest+c:nocap", "full", 1, "nocap"), ("m+x8+c", "full", 8, "caption"),
        ("m+raw", "off", 1, "caption")]
    for bad in ("jpeg+c", "arcnn+raw"):
        with pytest.raises(ConfigError, match=r"\+c or \+raw"):
            parse_method_specs([bad], zoo_names=["m"])
    out = tmp_path / "ev"
    run_evaluation(_cfg(dataset, out, weights, qualities=(1,), metrics=("psnr",),
                        methods=(model, f"{model}+c", f"{model}+raw")))
    rows = {r["method"]: [] for r in _records(out)}
    for r in _records(out):
        rows[r["method"]].append(r["psnr_rgb"])
    assert set(rows) >= {"tinytest", "tinytest+c", "tinytest+raw"}
    # a bound never moves further from the clean image than the rounding of the output
    for bounded in ("tinytest", "tinytest+c"):
        assert all(c >= p - 0.01 for p, c in zip(rows["tinytest+raw"], rows[bounded],
                                                  strict=True))
    assert rows["tinytest+raw"] != rows["tinytest+c"]
    # auto: every column stands for a file holding its caption, so it is the full bound
    assert rows["tinytest"] == rows["tinytest+c"]


def test_the_run_wide_consistency_names_no_column_and_is_never_mixed(
        dataset: Path, weights: dict[str, Path], tmp_path: Path) -> None:
    from jpegtext.evaluation.methods import parse_method_specs

    [spec] = parse_method_specs(["m"], zoo_names=["m"], consistency="off")
    assert (spec.name, spec.consistency) == ("m", "off")
    [spec] = parse_method_specs(["m+c"], zoo_names=["m"], consistency="off")
    assert (spec.name, spec.consistency) == ("m+c", "full")
    with pytest.raises(ConfigError, match="consistency"):
        _cfg(dataset, tmp_path / "x", weights, consistency="chroma")
    model = str(weights["model"])
    out = tmp_path / "ev"
    run_evaluation(_cfg(dataset, out, weights, qualities=(1,), metrics=("psnr",),
                        methods=(model,), consistency="off"))
    # records of unbounded restorations are never resumed as bounded ones (same column name)
    with pytest.raises(ConfigError, match="consistency: 'off' -> 'auto'"):
        run_evaluation(_cfg(dataset, out, weights, qualities=(1,), metrics=("psnr",),
                            methods=(model,)))
