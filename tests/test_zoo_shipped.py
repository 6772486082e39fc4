"""The registered models: the default shipped in the package, the others in the repository.

Guards a release against a registry entry whose file, hash, QFs or model card do not match what
is committed (the sha256 is checked before every load, so a mismatch would break `decode`), and
against a fat wheel: the package holds the default model's file and nothing else. The models
that are not in the package are found through ``$JPEGTEXT_MODEL_PATH`` pointed at the
repository's ``examples/weights/`` (what ``zoo.use_checkout_weights`` does for the scripts).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from jpegtext.cli import main
from jpegtext.errors import MissingWeightsError, WeightsError
from jpegtext.restore.runtime import zoo
from jpegtext.restore.runtime.modelfile import load_model_file

REPO = Path(__file__).resolve().parents[1]
REPO_WEIGHTS = REPO / "examples" / "weights"
# the models whose file holds everything they need (no MiniLM backbone)
SELF_CONTAINED = [e for e in zoo.REGISTERED_MODELS if e.text_encoder in ("bilstm", "wordpiece")]


@pytest.fixture
def repo_models(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty $JPEGTEXT_HOME and the repository's examples/weights as JPEGTEXT_MODEL_PATH."""
    monkeypatch.setenv("JPEGTEXT_HOME", str(tmp_path / "home"))
    monkeypatch.setenv(zoo.MODEL_PATH_ENV, str(REPO_WEIGHTS))
    return tmp_path / "home"


def test_package_ships_the_default_model_only() -> None:
    files = sorted(p.name for p in zoo.PACKAGE_WEIGHTS.glob("*.safetensors"))
    assert files == [zoo.get_model_entry(zoo.DEFAULT_MODEL).filename]
    # every file of the package: an upper bound of the wheel's size before compression
    total = sum(p.stat().st_size for p in (REPO / "jpegtext").rglob("*") if p.is_file()
                and "__pycache__" not in p.parts)
    assert total <= 15 * 10**6, total


@pytest.mark.parametrize("entry", zoo.REGISTERED_MODELS, ids=lambda e: e.name)
def test_registered_model_file_matches_its_entry(entry: zoo.ModelEntry, repo_models: Path) -> None:
    path = zoo.resolve_model_file(entry.name)
    assert path == REPO / entry.repo_path
    expected = zoo.PACKAGE_WEIGHTS if entry.name == zoo.DEFAULT_MODEL else REPO_WEIGHTS
    assert path.parent == expected
    assert path.stat().st_size <= 25 * 2**20
    assert zoo.file_sha256(path) == entry.sha256
    assert (REPO / entry.card).is_file()
    if entry in SELF_CONTAINED:  # the MiniLM ones need the 90 MB backbone: header only
        loaded = load_model_file(path)
        assert tuple(loaded.config.qualities) == entry.qualities
        assert loaded.config.text.kind == entry.text_encoder
    else:
        import json

        from safetensors import safe_open

        with safe_open(str(path), "np") as fh:
            config = json.loads(fh.metadata()["config"])
        assert tuple(config["qualities"]) == entry.qualities
        assert config["text"]["kind"] == entry.text_encoder


@pytest.mark.parametrize("entry", SELF_CONTAINED, ids=lambda e: e.name)
def test_registered_model_restores_a_jpeg(entry: zoo.ModelEntry, repo_models: Path) -> None:
    from PIL import Image

    from jpegtext.codec import decode_jpeg, encode_jpeg

    rng = np.random.default_rng(0)
    clean = np.kron(rng.integers(0, 256, (5, 7, 3)), np.ones((8, 8, 1))).astype(np.uint8)
    jpeg = np.asarray(decode_jpeg(encode_jpeg(Image.fromarray(clean), 1)))
    out = zoo.load_restorer(entry.name, device="cpu").restore(jpeg, "red at the top", 1)
    assert out.shape == jpeg.shape and out.dtype == np.uint8
    assert not np.array_equal(out, jpeg)


def test_missing_model_by_name_says_where_and_how(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JPEGTEXT_HOME", str(tmp_path / "home"))
    monkeypatch.delenv(zoo.MODEL_PATH_ENV, raising=False)
    with pytest.raises(MissingWeightsError) as err:
        zoo.resolve_model_file("tgjar-small-v3")
    msg = str(err.value)
    assert str(zoo.PACKAGE_WEIGHTS) in msg and str(tmp_path / "home") in msg
    assert "jpegtext models --install examples/weights/tgjar-small-v3.safetensors" in msg
    # the CLI: one line, exit 1, no output file
    src = tmp_path / "in.jpg"
    from PIL import Image

    import jpegtext

    src.write_bytes(jpegtext.encode(Image.new("RGB", (32, 32), (200, 40, 40)), 1, caption="red"))
    out = tmp_path / "out.png"
    res = CliRunner().invoke(main, ["decode", str(src), "-o", str(out), "--model",
                                    "tgjar-small-v3"])
    assert res.exit_code == 1, res.output
    assert 'Error: model "tgjar-small-v3" is not installed' in res.output
    assert "Traceback" not in res.output and not out.exists()
    # the default model is never missing: it is in the package
    assert zoo.resolve_model_file(zoo.DEFAULT_MODEL).parent == zoo.PACKAGE_WEIGHTS


def test_install_copies_checked_files_into_home(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "home"
    monkeypatch.setenv("JPEGTEXT_HOME", str(home))
    monkeypatch.delenv(zoo.MODEL_PATH_ENV, raising=False)
    src = REPO_WEIGHTS / "tgjar-small.safetensors"
    renamed = tmp_path / "downloaded copy.safetensors"  # recognised by its hash, not its name
    renamed.write_bytes(src.read_bytes())
    res = CliRunner().invoke(main, ["models", "--install", str(renamed)])
    assert res.exit_code == 0, res.output
    assert res.output == f"tgjar-small: installed ({home / 'tgjar-small.safetensors'})\n"
    assert zoo.resolve_model_file("tgjar-small") == home / "tgjar-small.safetensors"
    res = CliRunner().invoke(main, ["models", "--install", str(renamed)])
    assert res.exit_code == 0 and "tgjar-small: already installed" in res.output
    res = CliRunner().invoke(main, ["models", "--json"])
    rows = {m["name"]: m for m in __import__("json").loads(res.output)["models"]}
    assert rows["tgjar-small"]["installed"] == "cache" and rows["tgjar-small"]["get"] is None
    assert rows["tgjar-small-v2"]["installed"] == "missing"
    assert "--install examples/weights/tgjar-small-v2.safetensors" in rows["tgjar-small-v2"]["get"]
    assert rows[zoo.DEFAULT_MODEL]["installed"] == "package"

    # a file that is no registered model, a damaged one, a folder without models
    other = tmp_path / "mine.safetensors"
    other.write_bytes(b"x" * 100)
    res = CliRunner().invoke(main, ["models", "--install", str(other)])
    assert res.exit_code == 1 and "is not a registered model" in res.output
    assert "Traceback" not in res.output and not (home / "mine.safetensors").exists()
    bad = tmp_path / "bad"
    bad.mkdir()
    data = bytearray((REPO_WEIGHTS / "tgjar-small-v2.safetensors").read_bytes())
    data[len(data) // 2] ^= 1
    (bad / "tgjar-small-v2.safetensors").write_bytes(bytes(data))
    res = CliRunner().invoke(main, ["models", "--install", str(bad)])
    assert res.exit_code == 1 and "does not match" in res.output
    assert not (home / "tgjar-small-v2.safetensors").exists()
    assert not list(home.glob("*.part"))
    with pytest.raises(MissingWeightsError, match="holds no registered model"):
        zoo.install_model(tmp_path / "home" / "..")  # tmp_path: no registered file names
    # a damaged installed file is refused at load and replaced only with --force
    (home / "tgjar-small.safetensors").write_bytes(b"damaged")
    with pytest.raises(WeightsError, match="does not match"):
        zoo.resolve_model_file("tgjar-small")
    res = CliRunner().invoke(main, ["models", "--install", str(src)])
    assert res.exit_code == 1 and "--force" in res.output
    res = CliRunner().invoke(main, ["models", "--install", str(src), "--force"])
    assert res.exit_code == 0 and "tgjar-small: installed" in res.output
    assert zoo.file_sha256(home / "tgjar-small.safetensors") == zoo.get_model_entry(
        "tgjar-small").sha256
    res = CliRunner().invoke(main, ["models", "--force"])
    assert res.exit_code == 2


def test_checkout_weights_are_an_extra_search_folder(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(zoo.MODEL_PATH_ENV, "/nonexistent")
    assert zoo.use_checkout_weights() == REPO_WEIGHTS
    assert zoo.use_checkout_weights() == REPO_WEIGHTS  # added once
    import os

    assert os.environ[zoo.MODEL_PATH_ENV] == os.pathsep.join(["/nonexistent", str(REPO_WEIGHTS)])
    assert [k for k, _ in zoo.search_dirs()] == ["package", "cache", "path", "path"]
    kind, path = zoo.find_model_file(zoo.get_model_entry("tgjar-small-v2"))
    assert (kind, path) == ("path", REPO_WEIGHTS / "tgjar-small-v2.safetensors")


def test_install_writes_files_with_the_umask_permissions(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    import os
    import stat

    home = tmp_path / "home"
    monkeypatch.setenv("JPEGTEXT_HOME", str(home))
    monkeypatch.delenv(zoo.MODEL_PATH_ENV, raising=False)
    mask = os.umask(0o022)
    os.umask(mask)
    src = tmp_path / "weights"
    src.mkdir()
    for name in ("tgjar-small.safetensors", "tgjar-small-v2.safetensors"):
        (src / name).write_bytes((REPO_WEIGHTS / name).read_bytes())
    res = CliRunner().invoke(main, ["models", "--install", str(src)])
    assert res.exit_code == 0, res.output
    installed = sorted(home.iterdir())
    assert [p.name for p in installed] == ["tgjar-small-v2.safetensors", "tgjar-small.safetensors"]
    for p in installed:  # as every other output (0644 under the usual umask), never mkstemp's 0600
        assert stat.S_IMODE(p.stat().st_mode) == 0o666 & ~mask, p
        assert zoo.file_sha256(p) == zoo.get_model_entry(p.name[: -len(".safetensors")]).sha256
