"""tools/gpu_kit.py: the kit a lent GPU machine trains from (subset, slim tree, side-by-side runs)."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from jpegtext.restore.training.config import load_yaml_config
from jpegtext.restore.training.data import read_records

REPO = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("gpu_kit", REPO / "tools" / "gpu_kit.py")
gpu_kit = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(gpu_kit)


def _jpeg(path: Path, seed: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 256, (24, 24, 3), dtype=np.uint8)).save(path, quality=90)


@pytest.fixture
def shared(tmp_path: Path) -> Path:
    """A ../shared with a flowers-like source (splits, captions file) and a folder source."""
    root = tmp_path / "shared"
    flowers = root / "data" / "flowers256"
    labels, captions = [], []
    for i in range(20):
        split = "train" if i < 16 else "val"
        name = f"{split}/image_{i:03d}.jpg"
        _jpeg(flowers / name, i)
        labels.append({"file": name, "split": split, "class_id": i % 3})
        captions.append({"file": name, "captions": [f"a flower number {i}", "petals"]})
    (flowers / "labels.jsonl").write_text("".join(json.dumps(r) + "\n" for r in labels))
    (flowers / "captions.jsonl").write_text("".join(json.dumps(r) + "\n" for r in captions))
    for i in range(6):
        _jpeg(root / "data" / "bsds500_train" / f"{i}.jpg", 100 + i)
    (root / "weights").mkdir()
    (root / "weights" / "trunk.pth").write_bytes(b"trunk")
    return root


def _config(tmp_path: Path, name: str, text_off: bool) -> Path:
    """A stage-2 config in tmp/repo/examples/configs that names ../../../shared like the real ones."""
    folder = tmp_path / "repo" / "examples" / "configs"
    folder.mkdir(parents=True, exist_ok=True)
    (tmp_path / "repo" / "examples" / "weights").mkdir(exist_ok=True)
    (tmp_path / "repo" / "examples" / "weights" / "damsm.safetensors").write_bytes(b"damsm")
    raw = {
        "stage": "tgjar", "damsm_checkpoint": "../weights/damsm.safetensors", "text_off": text_off,
        "lpips_trunk": "../../../shared/weights/trunk.pth",
        "data": {"sources": [
            {"root": "../../../shared/data/flowers256", "manifest": "labels.jsonl",
             "captions": "captions.jsonl", "split": "train", "caption": "mixed"},
            {"root": "../../../shared/data/bsds500_train", "caption": "builtin", "weight": 3}],
            "val": {"root": "../../../shared/data/flowers256", "manifest": "labels.jsonl",
                    "split": "val", "caption": "manifest"}},
        "batch_size": 16, "workers": 5,
    }
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def test_prepare_keeps_every_kth_image_and_each_source_share(tmp_path: Path, shared: Path) -> None:
    configs = [_config(tmp_path, "text", False), _config(tmp_path, "twin", True)]
    kit = tmp_path / "kit"
    desc = gpu_kit.prepare(configs, shared, kit, {"flowers256": 4, "bsds500_train": 2},
                           overrides={"batch_size": 2})
    assert desc["runs"] == ["text", "twin"] and desc["workers"] == 7 and desc["threads"] == 1
    assert {d["root"]: (d["images"], d["of"]) for d in desc["data"]} == {
        "flowers256": (4, 16), "bsds500_train": (3, 6)}
    # sorted by file, every 4th train image; captions only for those; no val image copied
    kept = sorted(p.relative_to(kit / "data" / "flowers256").as_posix()
                  for p in (kit / "data" / "flowers256").rglob("*.jpg"))
    assert kept == [f"train/image_{i:03d}.jpg" for i in (0, 4, 8, 12)]
    manifest = next((kit / "data" / "flowers256").glob("kit_train_*.jsonl")).read_text()
    assert [json.loads(x)["file"] for x in manifest.splitlines()] == kept
    for name, text_off in (("text", False), ("twin", True)):
        cfg = load_yaml_config(kit / "configs" / f"{name}.yaml")
        assert cfg.text_off is text_off and cfg.batch_size == 2 and cfg.workers == 7 and cfg.threads == 1
        assert cfg.data.val is None
        flowers, bsds = cfg.data.sources
        assert (flowers["weight"], bsds["weight"]) == (4, 6)  # 16/4 x 1 and 6/3 x 3: shares kept
        assert [r.path.name for r in read_records(flowers)] == [Path(k).name for k in kept]
        assert read_records(flowers)[0].captions == ("a flower number 0", "petals")
        assert len(read_records(bsds)) == 3
        assert Path(cfg.damsm_checkpoint).read_bytes() == b"damsm"
        assert Path(cfg.lpips_trunk).read_bytes() == b"trunk"
    with pytest.raises(gpu_kit.KitError, match="at most 3 runs"):
        gpu_kit.prepare([_config(tmp_path, f"c{i}", False) for i in range(4)], shared, kit)
    (tmp_path / "none").mkdir()
    with pytest.raises(gpu_kit.KitError, match="no images found"):
        gpu_kit._subset_source({"root": str(tmp_path / "none"), "caption": "builtin"}, kit, 9, {})


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_slim_sends_only_the_code_and_restore_gives_back_head(tmp_path: Path) -> None:
    repo = tmp_path / "r"
    for name, data in {"jpegtext/a.py": "a", "jpegtext/restore/weights/m.safetensors": "w" * 1000,
                       "examples/configs/c.yaml": "c", "examples/weights/big.safetensors": "w" * 5000,
                       "benchmarks/b.py": "b", "setup.cfg": "s", ".gitignore": "gpu_kit/\n"}.items():
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text(data)
    git = ["git", "-c", "user.email=t@t", "-c", "user.name=t"]
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    subprocess.run([*git, "add", "-A"], cwd=repo, check=True)
    subprocess.run([*git, "commit", "-qm", "x"], cwd=repo, check=True)
    before = gpu_kit.tree_bytes(repo)
    exclude = (repo / ".git" / "info" / "exclude").read_text()
    gpu_kit.slim(repo)
    sent = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"],
                          cwd=repo, capture_output=True, text=True, check=True).stdout.split()
    assert sorted(sent) == [".gitignore", "examples/configs/c.yaml", "jpegtext/a.py", "setup.cfg"]
    assert gpu_kit.tree_bytes(repo) < before - 5000
    assert (repo / "examples" / "weights" / "big.safetensors").is_file()  # nothing deleted
    with pytest.raises(gpu_kit.KitError, match="already slim"):
        gpu_kit.slim(repo)
    blocked = subprocess.run([*git, "commit", "-qm", "would delete the rest"], cwd=repo,
                             capture_output=True, text=True)
    assert blocked.returncode != 0 and "gpu_kit slim is active" in blocked.stderr
    gpu_kit.restore(repo)
    assert (repo / ".git" / "info" / "exclude").read_text() == exclude
    status = subprocess.run(["git", "status", "--porcelain"], cwd=repo, capture_output=True,
                            text=True, check=True).stdout
    assert status == "" and gpu_kit.tree_bytes(repo) == before
    assert not (repo / ".git" / "hooks" / "pre-commit").exists()
    (repo / "setup.cfg").write_text("changed")
    with pytest.raises(gpu_kit.KitError, match="uncommitted"):
        gpu_kit.slim(repo)


def test_train_brings_every_run_to_one_step_count(tmp_path: Path, monkeypatch) -> None:
    """The orchestration, with the runs faked: probe speeds 10 and 5 steps/s give one target
    that both reach; weights come back in parts that collect joins and checks."""
    kit, work, out = tmp_path / "kit", tmp_path / "work", tmp_path / "out"
    kit.mkdir()
    (kit / "kit.json").write_text(json.dumps({"runs": ["fast", "slow"]}))
    monkeypatch.setattr(gpu_kit, "FILE_LIMIT", 1000)
    calls = []

    def fake_launch(kit_, runs, work_, device, extra, phase):
        calls.append((phase, list(extra)))
        for name in runs:
            run = work_ / name
            run.mkdir(parents=True, exist_ok=True)
            if phase == "probe":  # 15 and 5 steps/s after a first row that carries the warm-up
                rows = [(5, 1.0), (20, 2.0)] if name == "fast" else [(5, 1.0), (10, 2.0)]
            else:
                rows = [(int(extra[1]), 9.0)]
            with open(run / "log.jsonl", "a") as fh:
                fh.writelines(json.dumps({"step": step, "time_s": secs}) + "\n" for step, secs in rows)
            (run / "model.safetensors").write_bytes(name.encode() * 900)
        return {name: 0 for name in runs}

    monkeypatch.setattr(gpu_kit, "_launch", fake_launch)
    monkeypatch.setattr(gpu_kit, "_model_steps",
                        lambda model: json.loads(
                            (model.parent / "log.jsonl").read_text().splitlines()[-1])["step"]
                        if (model.parent / "log.jsonl").exists() else 0)
    summary = gpu_kit.train(kit, out, device="cpu", minutes=1.0, probe_minutes=0.1, work=work)
    assert [c[0] for c in calls] == ["probe", "main"]
    target = summary["target_steps"]
    assert calls[1][1][:2] == ["--max-steps", str(target)]
    assert 20 <= target < 10 + 5 * 60  # the slow run's rate bounds it
    assert summary["equal_steps"] and {r["steps"] for r in summary["runs"].values()} == {target}
    assert summary["runs"]["fast"]["parts"] == [f"fast.safetensors.part{i}" for i in range(4)]
    got = gpu_kit.collect(out, tmp_path / "runs")
    assert (tmp_path / "runs" / "slow" / "model.safetensors").read_bytes() == b"slow" * 900
    assert json.loads((tmp_path / "runs" / "fast" / "log.jsonl").read_text().splitlines()[-1])[
        "step"] == target
    assert got["runs"]["fast"]["sha256"] == hashlib.sha256(b"fast" * 900).hexdigest()
    (out / "slow.safetensors.part1").write_bytes(b"x" * 1000)
    with pytest.raises(gpu_kit.KitError, match="sha256"):
        gpu_kit.collect(out, tmp_path / "runs2")


def test_train_on_a_warm_machine_counts_only_the_steps_the_probe_made(tmp_path: Path, monkeypatch) -> None:
    """A second call on a warm machine resumes runs that already made 1000 steps: the rate is the
    probe's own (its rows after step 1000), so the target is 1000 + what the time left buys, not
    a rate inflated by the earlier steps (which once planned 6,190 steps that no run reached)."""
    kit, work, out = tmp_path / "kit", tmp_path / "work", tmp_path / "out"
    kit.mkdir()
    (kit / "kit.json").write_text(json.dumps({"runs": ["a"]}))
    (work / "a").mkdir(parents=True)
    (work / "a" / "log.jsonl").write_text(json.dumps({"step": 1000, "time_s": 100.0}) + "\n")
    targets = []

    def fake_launch(kit_, runs, work_, device, extra, phase):
        rows = [(1010, 2.0), (1030, 4.0)] if phase == "probe" else [(int(extra[1]), 50.0)]
        if phase == "main":
            targets.append(int(extra[1]))
        with open(work_ / "a" / "log.jsonl", "a") as fh:
            fh.writelines(json.dumps({"step": s, "time_s": t}) + "\n" for s, t in rows)
        return {"a": 0}

    monkeypatch.setattr(gpu_kit, "_launch", fake_launch)
    monkeypatch.setattr(gpu_kit, "_model_steps", lambda model: 0)
    summary = gpu_kit.train(kit, out, device="cpu", minutes=1.0, probe_minutes=0.1, work=work)
    assert summary["probe"]["a"]["from"] == 1000 and summary["probe"]["a"]["steps_per_s"] == 10.0
    assert len(targets) == 1 and 1030 < targets[0] <= 1030 + 10 * 60  # 10 steps/s, under a minute


def test_speed_without_log_rows_falls_back_to_the_export(tmp_path: Path, monkeypatch) -> None:
    """A probe too short for two log rows still gives a rate: the steps its export records (past
    where the phase started) over the phase's wall time; nothing made gives rate 0."""
    run = tmp_path / "r"
    run.mkdir()
    monkeypatch.setattr(gpu_kit, "_model_steps", lambda model: 130)
    assert gpu_kit._speed(run, since=100, wall=10.0) == (3.0, 0.0)
    assert gpu_kit._speed(run, since=130, wall=10.0) == (0.0, 10.0)
    (run / "log.jsonl").write_text("".join(json.dumps({"step": s, "time_s": t}) + "\n"
                                           for s, t in [(90, 9.0), (110, 2.0), (130, 4.0)]))
    rate, fixed = gpu_kit._speed(run, since=100, wall=10.0)
    assert rate == 10.0 and fixed == 7.0  # 30 steps at 10/s take 3 s of the 10


def test_copy_half_stores_float32_as_float16_and_keeps_the_rest(tmp_path: Path) -> None:
    """`prepare --half KEY`: float32 tensors travel as float16 (within one rounding), other dtypes
    and the safetensors metadata unchanged; a float32 module loads the half copy."""
    torch = pytest.importorskip("torch")
    from safetensors import safe_open
    from safetensors.torch import save_file

    w = torch.randn(64, 32)
    save_file({"w": w, "ids": torch.arange(5), "h": torch.ones(3, dtype=torch.float16)},
              str(tmp_path / "m.safetensors"), metadata={"info": "{\"steps\": 7}"})
    gpu_kit._copy_half(tmp_path / "m.safetensors", tmp_path / "h.safetensors")
    with safe_open(str(tmp_path / "h.safetensors"), "pt") as fh:
        assert fh.metadata() == {"info": "{\"steps\": 7}"}
        got = {k: fh.get_tensor(k) for k in fh.keys()}
    assert got["w"].dtype == torch.float16 and got["ids"].dtype == torch.int64
    assert torch.allclose(got["w"].float(), w, rtol=2**-11, atol=1e-7)
    lin = torch.nn.Linear(32, 64, bias=False)
    torch.save(lin.state_dict(), tmp_path / "t.pth")
    gpu_kit._copy_half(tmp_path / "t.pth", tmp_path / "th.pth")
    back = torch.nn.Linear(32, 64, bias=False)
    back.load_state_dict(torch.load(tmp_path / "th.pth", weights_only=True))
    assert back.weight.dtype == torch.float32
    assert torch.allclose(back.weight, lin.weight, rtol=2**-11, atol=1e-7)
    assert (tmp_path / "th.pth").stat().st_size < (tmp_path / "t.pth").stat().st_size
