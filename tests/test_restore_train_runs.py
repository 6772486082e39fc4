"""The training run's contract: typed configs, run folders, CLI limits, exact resume, logs."""

from __future__ import annotations

import copy
import json
import os
import re
import signal
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml
from click.testing import CliRunner
from test_restore_train import TINY_MODEL, _config, _make_dataset, _random_trunk

from jpegtext.cli import main
from jpegtext.errors import ConfigError
from jpegtext.restore.training.config import TrainConfig, load_yaml_config
from jpegtext.restore.training.train import Trainer, run_training


@pytest.fixture
def tiny_data(tmp_path: Path) -> Path:
    root = tmp_path / "data"
    _make_dataset(root)
    return root


def _raw(root: Path, stage: str = "tgjar", **over: Any) -> dict[str, Any]:
    """The full dict of a valid tiny config (what a run folder's config.yaml holds)."""
    return _config(root, stage, **over).to_dict()


def _set(raw: dict[str, Any], dotted: str, value: Any) -> dict[str, Any]:
    out = copy.deepcopy(raw)
    *parents, last = dotted.split(".")
    node = out
    for p in parents:
        node = node[p][0] if p == "sources" else node[p]
    node[last] = value
    return out


def _log_steps(run: Path, name: str = "log.jsonl") -> list[int]:
    """Steps of the training records (not validation) of a run's log."""
    rows = [json.loads(line) for line in (run / name).read_text().splitlines()]
    return [r["step"] for r in rows if not r.get("val")]


def _ckpt(run: Path) -> dict[str, Any]:
    return torch.load(run / "checkpoints" / "last.pt", weights_only=True)


def _assert_same_models(a: dict[str, Any], b: dict[str, Any]) -> None:
    assert a["step"] == b["step"]
    for name in a["models"]:
        for k, v in a["models"][name].items():
            torch.testing.assert_close(v, b["models"][name][k], rtol=0, atol=0,
                                       msg=f"{name}.{k}")


# --------------------------------------------------------------------------- 1. value types
@pytest.mark.parametrize(("key", "value", "named"), [
    ("seed", "abc", 'seed "abc": should be an integer'),
    ("data.crop", 32.0, "data.crop 32.0: should be an integer"),
    ("workers", "many", 'workers "many"'),
    ("threads", "x", 'threads "x"'),
    ("loss", None, "loss null: should be a mapping"),
    ("loss", 5, "loss 5: should be a mapping"),
    ("discriminator", [1, 2], "discriminator [1, 2]: should be a mapping"),
    ("data.sources.weight", "abc", 'data.sources[0].weight "abc": should be an integer'),
    ("log_every", 2.5, "log_every 2.5: should be an integer"),
    ("epochs", 1.5, "epochs 1.5: should be an integer"),
    ("model.qualities", 5, "model.qualities 5: should be a list"),
    ("model.generator.use_gfm", "yes", 'model.generator.use_gfm "yes": should be true or false'),
    ("lr", "1e-4", 'lr "1e-4": should be a number (YAML reads 1e-4 without a dot as text'),
    ("max_minutes", float("inf"), "max_minutes Infinity: should be a finite number"),
])
def test_a_value_of_the_wrong_type_is_named_by_its_key(tiny_data: Path, tmp_path: Path, key: str,
                                                       value: Any, named: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(_set(_raw(tiny_data), key, value)))
    with pytest.raises(ConfigError, match=re.escape(f"Invalid {named}")):
        load_yaml_config(path)


def test_configs_built_in_code_are_type_checked_too(tiny_data: Path) -> None:
    cfg = _config(tiny_data, "tgjar")
    with pytest.raises(ConfigError, match="epochs 1.5"):
        cfg.replace(epochs=1.5)
    with pytest.raises(ConfigError, match="seed"):
        TrainConfig(seed="abc")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="loss null"):
        TrainConfig(loss=None)  # type: ignore[arg-type]
    assert cfg.replace(max_minutes=2).max_minutes == 2  # an int where a float is meant


def test_cli_says_one_line_for_a_wrong_type_and_writes_nothing(tiny_data: Path,
                                                                tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(_set(_raw(tiny_data), "seed", "abc")))
    run = tmp_path / "run"
    result = CliRunner().invoke(main, ["train", "tgjar", str(path), "--run-dir", str(run),
                                       "--quiet"])
    assert result.exit_code == 1, result.output
    assert result.output.strip().splitlines() == ['Error: Invalid seed "abc": should be an integer']
    assert not run.exists()


# --------------------------------------------------------------------------- 2. run folders
def test_a_run_folder_refuses_a_config_its_checkpoint_does_not_fit(tiny_data: Path,
                                                                   tmp_path: Path) -> None:
    cfg = _config(tiny_data, "tgjar", max_steps=1)
    run = tmp_path / "run"
    run_training(cfg, run, progress=False)
    before = {p: p.read_bytes() for p in (run / "config.yaml", run / "log.jsonl",
                                          run / "checkpoints" / "last.pt")}
    wider = TINY_MODEL | {"generator": TINY_MODEL["generator"] | {"widths": [8, 16, 16, 16]}}
    with pytest.raises(ConfigError, match=r"model\.generator\.widths differs .*--no-resume"):
        run_training(_config(tiny_data, "tgjar", max_steps=2, model=wider), run, progress=False)
    with pytest.raises(ConfigError, match=r"stage differs .*--no-resume"):
        run_training(_config(tiny_data, "damsm", max_steps=2), run, progress=False)
    # an ordinary error (no data) leaves the folder as it was too
    with pytest.raises(ConfigError, match="data root not found"):
        run_training(_config(tmp_path / "nowhere", "tgjar", max_steps=2), run, progress=False)
    assert {p: p.read_bytes() for p in before} == before
    # what the checkpoint does not depend on may change: it resumes, and config.yaml says so
    run_training(cfg.replace(max_steps=2, lr=5e-4), run, progress=False)
    assert _ckpt(run)["step"] == 2
    assert yaml.safe_load((run / "config.yaml").read_text())["lr"] == 5e-4


def test_cli_refuses_another_config_in_one_line(tiny_data: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    run_training(_config(tiny_data, "tgjar", max_steps=1), run, progress=False)
    path = tmp_path / "damsm.yaml"
    path.write_text(yaml.safe_dump(_raw(tiny_data, "damsm")))
    result = CliRunner().invoke(main, ["train", "damsm", str(path), "--run-dir", str(run),
                                       "--quiet"])
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and "--no-resume" in lines[0]


# --------------------------------------------------------------------------- 3. CLI limits
@pytest.mark.parametrize("option", [["--max-steps", "0"], ["--max-steps", "-3"],
                                    ["--max-minutes", "0"], ["--max-minutes", "-1"],
                                    ["--max-minutes", "inf"], ["--max-minutes", "nan"]])
def test_cli_limits_must_be_positive_and_finite(tmp_path: Path, option: list[str]) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("stage: tgjar\n")
    run = tmp_path / "run"
    result = CliRunner().invoke(main, ["train", "tgjar", str(path), "--run-dir", str(run),
                                       *option])
    assert result.exit_code == 2, result.output
    assert option[0] in result.output and not run.exists()


# --------------------------------------------------------------------------- 4. exact resume
@pytest.mark.parametrize("first", [2, 3])  # an epoch is 2 steps: at its end, and part-way
def test_stage1_with_dropout_resumes_bit_for_bit(tiny_data: Path, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch,
                                                 first: int) -> None:
    _random_trunk(monkeypatch)
    model = TINY_MODEL | {"text": TINY_MODEL["text"] | {"dropout": 0.5}}
    cfg = _config(tiny_data, "damsm", max_steps=4, model=model)
    run_training(cfg, tmp_path / "whole", progress=False)
    run_training(cfg.replace(max_steps=first), tmp_path / "parts", progress=False)
    run_training(cfg, tmp_path / "parts", progress=False)
    _assert_same_models(_ckpt(tmp_path / "whole"), _ckpt(tmp_path / "parts"))


# --------------------------------------------------------------------------- 5. logs, Ctrl-C
def _fail_at(monkeypatch: pytest.MonkeyPatch, step: int, action: Any) -> None:
    """Run ``action`` during the training step that makes ``step`` (after its work)."""
    real = Trainer._train_step

    def step_then(self: Trainer, batch: dict[str, Any]) -> dict[str, float]:
        out = real(self, batch)
        if self.step + 1 == step:
            action()
        return out

    monkeypatch.setattr(Trainer, "_train_step", step_then)


def test_a_resumed_run_logs_each_step_once(tiny_data: Path, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = _config(tiny_data, "tgjar", max_steps=5, ckpt_every=2)
    run = tmp_path / "run"

    def crash() -> None:
        raise RuntimeError("killed")

    _fail_at(monkeypatch, 4, crash)  # steps 1-3 logged, the checkpoint is step 2's
    with pytest.raises(RuntimeError, match="killed"):
        run_training(cfg, run, progress=False)
    assert _log_steps(run) == [1, 2, 3] and _ckpt(run)["step"] == 2
    monkeypatch.undo()
    run_training(cfg, run, progress=False)
    assert _log_steps(run) == [1, 2, 3, 4, 5]


def test_ctrl_c_checkpoints_the_last_finished_step(tiny_data: Path, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = _config(tiny_data, "tgjar", max_steps=5, ckpt_every=2,
                  loss={"contrastive_weight": 0.0, "damsm_weight": 0.0, "gan_weight": 0.01})
    run_training(cfg, tmp_path / "whole", progress=False)
    run = tmp_path / "run"
    _fail_at(monkeypatch, 3, lambda: os.kill(os.getpid(), signal.SIGINT))
    with pytest.raises(KeyboardInterrupt):
        run_training(cfg, run, progress=False)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # put back
    assert _ckpt(run)["step"] == 3 and _log_steps(run) == [1, 2, 3]
    assert not (run / "model.safetensors").exists()  # not finished: no export
    monkeypatch.undo()
    run_training(cfg, run, progress=False)
    assert _log_steps(run) == [1, 2, 3, 4, 5]
    _assert_same_models(_ckpt(tmp_path / "whole"), _ckpt(run))


def test_no_resume_starts_a_new_log_and_keeps_the_old_run(tiny_data: Path,
                                                          tmp_path: Path) -> None:
    run = tmp_path / "run"
    run_training(_config(tiny_data, "tgjar", max_steps=3), run, progress=False)
    wider = TINY_MODEL | {"generator": TINY_MODEL["generator"] | {"widths": [8, 16, 16, 16]}}
    run_training(_config(tiny_data, "tgjar", max_steps=2, model=wider), run, resume=False,
                 progress=False)
    assert _log_steps(run) == [1, 2] and _log_steps(run, "log.1.jsonl") == [1, 2, 3]
    assert torch.load(run / "checkpoints" / "last.1.pt", weights_only=True)["step"] == 3
    assert yaml.safe_load((run / "config.1.yaml").read_text())["model"]["generator"][
        "widths"] == [8, 8, 16, 16]
    assert _ckpt(run)["step"] == 2
