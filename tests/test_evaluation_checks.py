"""``jpegtext evaluate``: what is refused before anything is written, and what summary.json says
the text-guided numbers were made with."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image
from tiny_model import save_tiny_model

from jpegtext.cli import main
from jpegtext.errors import InvalidImageError
from jpegtext.evaluation import EvaluationConfig, run_evaluation


def _png(path: Path, seed: int) -> None:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:64, 0:64]
    img = np.stack([xx * 4, yy * 4, (xx + yy) * 2], axis=2) + rng.normal(0, 8, (64, 64, 3))
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(path)


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_model(tmp_path_factory.mktemp("m") / "tinyck.safetensors")


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    d = tmp_path / "data"
    for i in range(3):
        _png(d / f"img{i}.png", i)
    return d


def _run(dataset: Path, out: Path, model: Path, *extra: str) -> object:
    args = ["evaluate", str(dataset), "-q", "1", "-m", "jpeg", str(model), "--metrics", "psnr",
            "--captioner", "builtin", "--figure-images", "0", "--no-progress", "--out", str(out),
            *extra]  # fmt: skip
    return CliRunner().invoke(main, args)


def _error_line(res: object) -> str:
    lines = [x for x in res.output.splitlines() if x.startswith("Error:")]  # type: ignore[attr-defined]
    assert len(lines) == 1 and "Traceback" not in res.output, res.output  # type: ignore[attr-defined]
    return lines[0]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--tile", "16"], 'Invalid tile "16"'),
        (["--device", "cpu", "--precision", "bf16"], 'Invalid precision "bf16" on cpu'),
        (["--device", "cpu", "--precision", "fp16"], 'Invalid precision "fp16" on cpu'),
        (["--device", "bogus"], 'Invalid device "bogus"'),
    ],
)
def test_runtime_options_are_usage_errors_before_any_write(
    dataset: Path, model: Path, tmp_path: Path, extra: list[str], message: str
) -> None:
    out = tmp_path / "out"
    res = _run(dataset, out, model, *extra)
    assert res.exit_code == 2 and message in _error_line(res)
    assert not out.exists()


def test_a_complete_run_checks_its_options_and_records_what_made_its_numbers(
    dataset: Path, model: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    res = _run(dataset, out, model, "--device", "cpu", "--precision", "fp32")
    assert res.exit_code == 0, res.output
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    # every result is done: the options are still checked, and nothing is touched
    res = _run(dataset, out, model, "--device", "cpu", "--precision", "bf16")
    assert res.exit_code == 2 and 'Invalid precision "bf16"' in _error_line(res)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    # a valid option that made no number is not recorded as if it had
    res = _run(dataset, out, model, "--device", "cpu", "--tile", "32")
    assert res.exit_code == 0 and "0 result(s) computed, 6 already done" in res.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert (summary["config"]["tile"], summary["config"]["precision"]) == (None, "fp32")
    runtime = {"device": "cpu", "precision": "fp32", "tile": None}
    assert summary["methods"][1]["runtime"] == runtime and "runtime" not in summary["methods"][0]
    recs = [json.loads(x) for x in (out / "results.jsonl").read_text().splitlines()]
    assert [r.get("runtime") for r in recs if r["method"] == "tinyck"] == [runtime] * 3
    assert all("runtime" not in r for r in recs if r["method"] == "jpeg")


def test_a_resumed_run_lists_every_setting_its_numbers_were_made_with(
    dataset: Path, model: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    assert _run(dataset, out, model, "--device", "cpu", "--limit", "2").exit_code == 0
    res = _run(dataset, out, model, "--device", "cpu", "--tile", "32")  # the third image only
    assert res.exit_code == 0 and "2 result(s) computed, 4 already done" in res.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["config"]["tile"] == [None, 32] and summary["config"]["precision"] == "fp32"
    assert summary["methods"][1]["runtime"]["tile"] == [None, 32]
    assert any("different settings" in n and "tile None, 32" in n for n in summary["notes"])
    # records made before records said how they were made: not claimed either way
    lines = (out / "results.jsonl").read_text().splitlines()
    old = [json.loads(x) for x in lines]
    for r in old:
        r.pop("runtime", None)
    (out / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in old))
    assert _run(dataset, out, model, "--device", "cpu").exit_code == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["config"]["precision"] == "not recorded"


@pytest.mark.parametrize("captions", [False, True])
def test_an_unreadable_image_is_named_and_stops_the_run_before_any_write(
    dataset: Path, model: Path, tmp_path: Path, captions: bool
) -> None:
    (dataset / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\nnot a png")
    extra: list[str] = []
    if captions:  # captions given: no captioner reads the images first
        caps = tmp_path / "caps.jsonl"
        caps.write_text("".join(json.dumps({"image": f"{n}.png", "caption": "a red barn"}) + "\n"
                                for n in ("img0", "img1", "img2", "bad")))
        extra = ["--captions", str(caps)]
    out = tmp_path / "out"
    args = ["evaluate", str(dataset), "-q", "1", "-m", "jpeg", "--metrics", "psnr",
            "--out", str(out), *extra]  # fmt: skip
    if not captions:
        args += ["--captioner", "builtin"]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 1
    assert _error_line(res).startswith("Error: bad.png: not a supported image")
    assert not out.exists()


def test_images_are_named_by_their_path_in_the_set(dataset: Path, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    good = (dataset / "img1.png").read_bytes()
    (dataset / "sub").mkdir()
    (dataset / "sub" / "cut.png").write_bytes(good[: len(good) // 2])  # truncated
    manifest = dataset / "m.jsonl"
    manifest.write_text("".join(json.dumps({"file": f, "caption": "a red barn"}) + "\n"
                                for f in ("img0.png", "sub/cut.png")))
    cfg = EvaluationConfig(dataset_dir=dataset, out_dir=tmp_path / "out", qualities=(1,),
                           methods=("jpeg",), manifest=manifest, metrics=("psnr",),
                           figure_images=0, device="cpu")
    with pytest.raises(InvalidImageError, match=r"^sub/cut\.png: "):
        run_evaluation(cfg)
    assert not (tmp_path / "out").exists()
    # a file that passes the check but does not decode is named as well
    import jpegtext.codec.image as image_mod

    monkeypatch.setattr(image_mod, "probe_image", lambda data, **kw: (64, 64))
    with pytest.raises(InvalidImageError, match=r"^sub/cut\.png: "):
        run_evaluation(cfg)


def test_missing_metric_weights_stop_the_run_before_any_write(
    dataset: Path, model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a trunk named by the environment that is not there (no option to check it up front)
    monkeypatch.setenv("JPEGTEXT_LPIPS_TRUNK", str(tmp_path / "absent.pth"))
    out = tmp_path / "out"
    args = ["evaluate", str(dataset), "-q", "1", "-m", "jpeg", "--metrics", "psnr", "lpips",
            "--captioner", "builtin", "--no-progress", "--out", str(out)]  # fmt: skip
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 1
    assert "LPIPS trunk file not found" in _error_line(res)
    assert not out.exists()  # no run.json or captions.jsonl left behind


def test_a_damaged_model_file_stops_the_run_before_any_write(dataset: Path,
                                                            tmp_path: Path) -> None:
    broken = tmp_path / "broken.safetensors"
    broken.write_bytes(b"not a model at all")
    out = tmp_path / "out"
    res = _run(dataset, out, broken)
    assert res.exit_code == 1, res.output  # type: ignore[attr-defined]
    assert "broken.safetensors" in _error_line(res)
    assert not out.exists()  # no run.json or captions.jsonl left behind
