"""``jpegtext models``: empty registry, installed/missing/tampered weights, JSON, no torch."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from jpegtext.cli import main
from jpegtext.restore.runtime import zoo

WEIGHTS = b"not really safetensors, only hashed here" * 100  # 4,000 bytes


def run(*args: str) -> Result:
    return CliRunner().invoke(main, ["models", *args])


def _entry(name: str, data: bytes, **changes: object) -> zoo.ModelEntry:
    fields = {
        "name": name,
        "filename": f"{name}.safetensors",
        "sha256": hashlib.sha256(data).hexdigest(),
        "description": f"{name} model",
        "config": "small",
        "qualities": tuple(range(1, 11)),
        "text_encoder": "bilstm",
        "training_data": "synthetic",
        "metrics": {},
    }
    fields.update(changes)
    return zoo.ModelEntry(**fields)  # type: ignore[arg-type]


@pytest.fixture
def registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty registry and an empty cache folder for the test."""
    monkeypatch.setattr(zoo, "_REGISTRY", {})
    monkeypatch.setattr(zoo, "PACKAGE_WEIGHTS", tmp_path / "package")
    cache = tmp_path / "cache"
    monkeypatch.setenv("JPEGTEXT_HOME", str(cache))
    monkeypatch.delenv(zoo.MODEL_PATH_ENV, raising=False)
    return cache


def test_empty_registry(registry: Path) -> None:
    res = run()
    assert res.exit_code == 0, res.output
    assert res.output.startswith("No models are registered in this build of jpegtext")
    assert "--model FILE.safetensors" in res.output
    res = run("--json")
    assert res.exit_code == 0
    doc = json.loads(res.output)
    assert doc["models"] == [] and doc["default"] == zoo.DEFAULT_MODEL
    assert doc["cache_dir"] == str(registry)


def test_table_with_installed_missing_and_tampered(registry: Path, tmp_path: Path) -> None:
    registry.mkdir()
    (registry / f"{zoo.DEFAULT_MODEL}.safetensors").write_bytes(WEIGHTS)
    zoo.register_model(
        _entry(
            zoo.DEFAULT_MODEL,
            WEIGHTS,
            metrics={
                "live1/qf1": {"psnr": 27.123456, "lpips": 0.2345},
                "kodak/qf1": {"psnr": 28.5},
                "live1/qf5": {"psnr": 30.0},
            },
        )
    )
    zoo.register_model(
        _entry(
            "tgjar-base",
            b"other",
            config="base",
            qualities=(1, 5, 10),
            text_encoder="minilm",
            url="https://example.invalid/b",
        )
    )
    (tmp_path / "package").mkdir()
    (tmp_path / "package" / "tgjar-tampered.safetensors").write_bytes(WEIGHTS + b"!")
    zoo.register_model(_entry("tgjar-tampered", WEIGHTS))

    res = run()
    assert res.exit_code == 0, res.output
    lines = res.output.splitlines()
    assert lines[0].split() == [
        "NAME",
        "CONFIG",
        "QF",
        "TEXT",
        "SIZE",
        "SHA256",
        "INSTALLED",
        "METRICS",
    ]
    rows = {
        line.split()[1] if line.startswith("*") else line.split()[0]: line for line in lines[1:4]
    }
    assert list(rows) == sorted(["tgjar-base", zoo.DEFAULT_MODEL, "tgjar-tampered"])  # by name
    default = rows[zoo.DEFAULT_MODEL]
    assert default.startswith(f"* {zoo.DEFAULT_MODEL} ")
    assert default.split()[2:7] == ["small", "1-10", "bilstm", "4.0", "kB"]
    assert hashlib.sha256(WEIGHTS).hexdigest()[:12] in default
    assert " JPEGTEXT_HOME " in default
    assert default.endswith("live1/qf1: psnr 27.12, lpips 0.2345; kodak/qf1: psnr 28.5 (+1 more)")
    base = rows["tgjar-base"]
    assert base.split()[1:4] == ["base", "1,5,10", "minilm"]
    assert "not installed (downloadable)" in base and base.endswith(" -")
    assert " package " in rows["tgjar-tampered"]
    assert "* default model (jpegtext decode without --model)" in res.output
    assert f"cache folder: {registry}" in res.output
    assert "to get tgjar-base: it is downloaded from https://example.invalid/b" in res.output

    res = run("--verify")
    assert res.exit_code == 1  # a mismatch is never silent
    assert "1 model file(s) do not match their registered sha256: tgjar-tampered" in res.output
    assert "JPEGTEXT_HOME (sha256 ok)" in res.output
    assert "package (SHA256 MISMATCH: refused)" in res.output

    res = run("--json", "--verify")
    assert res.exit_code == 1
    doc = json.loads(res.stdout)
    by_name = {m["name"]: m for m in doc["models"]}
    d = by_name[zoo.DEFAULT_MODEL]
    assert d["default"] is True and d["installed"] == "cache" and d["sha256_ok"] is True
    assert d["size_bytes"] == len(WEIGHTS) and d["path"] == str(registry / d["filename"])
    assert d["metrics"]["live1/qf1"]["psnr"] == 27.123456 and d["qualities"] == list(range(1, 11))
    b = by_name["tgjar-base"]
    assert (b["installed"], b["path"], b["sha256_ok"], b["default"]) == (
        "missing",
        None,
        None,
        False,
    )
    assert by_name["tgjar-tampered"]["sha256_ok"] is False


def test_models_does_not_import_torch(tmp_path: Path) -> None:
    (tmp_path / "w.safetensors").write_bytes(WEIGHTS)
    digest = hashlib.sha256(WEIGHTS).hexdigest()
    code = (
        "import sys\n"
        "from jpegtext.restore.runtime import zoo\n"
        "from jpegtext.cli import main\n"
        f"zoo.register_model(zoo.ModelEntry(name='m', filename='w.safetensors', sha256='{digest}',"
        " description='d', config='small', qualities=(1,), text_encoder='bilstm',"
        " training_data='t'))\n"
        "for args in (['models', '--verify'], ['models', '--json']):\n"
        "    try:\n"
        "        main(args)\n"
        "    except SystemExit as exc:\n"
        "        assert exc.code == 0, exc.code\n"
        "print('torch' in sys.modules, 'transformers' in sys.modules)\n"
    )
    # PYTHONPATH: this checkout's jpegtext, whatever the environment has installed
    env = {"JPEGTEXT_HOME": str(tmp_path), "PATH": "/usr/bin:/bin",
           "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        check=True,
    )
    assert "JPEGTEXT_HOME (sha256 ok)" in out.stdout
    assert '"installed": "cache"' in out.stdout
    assert out.stdout.strip().splitlines()[-1] == "False False"
