"""``jpegtext caption`` with the built-in captioner (in-process through CliRunner)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from jpegtext.captioner import BuiltinCaptioner
from jpegtext.cli import main

COLOURS = {"blue": (70, 120, 200), "green": (60, 140, 50), "red": (190, 40, 35)}


@pytest.fixture
def photos(tmp_path: Path) -> Path:
    """A folder with three images of known colours (and a text file that is not an image)."""
    folder = tmp_path / "photos"
    folder.mkdir()
    for i, (name, rgb) in enumerate(COLOURS.items()):
        arr = np.zeros((60, 90, 3), np.uint8)
        arr[:] = rgb
        arr[40:] = (245, 245, 245)
        Image.fromarray(arr).save(folder / f"{i}_{name}.png")
    (folder / "notes.txt").write_text("not an image")
    return folder


def expected(path: Path) -> str:
    return BuiltinCaptioner().caption(Image.open(path).convert("RGB"))


def run(*args: str, stdin: bytes | None = None):  # noqa: ANN201
    return CliRunner().invoke(main, ["caption", *args], input=stdin)


def test_files_print_tab_separated_lines(photos: Path) -> None:
    files = sorted(photos.glob("*.png"))
    result = run("--captioner", "builtin", *map(str, files))
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines == [f"{f}\t{expected(f)}" for f in files]
    assert "blue" in lines[0].split("\t")[1] and "red" in lines[2].split("\t")[1]


def test_folder_and_glob_inputs(photos: Path) -> None:
    by_folder = run("-c", "builtin", str(photos))
    by_glob = run("-c", "builtin", str(photos / "*_*.png"))
    assert by_folder.exit_code == 0 and by_glob.exit_code == 0, by_folder.output + by_glob.output
    assert by_folder.stdout == by_glob.stdout
    assert [line.split("\t")[0] for line in by_folder.stdout.splitlines()] == [
        str(p) for p in sorted(photos.glob("*.png"))
    ]


def test_json_output(photos: Path) -> None:
    result = run("--json", "--captioner", "builtin", str(photos))
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert [set(r) for r in rows] == [{"file", "caption", "captioner"}] * 3
    assert {r["captioner"] for r in rows} == {"builtin"}
    assert [r["caption"] for r in rows] == [expected(Path(r["file"])) for r in rows]


def test_standard_input(photos: Path) -> None:
    path = sorted(photos.glob("*.png"))[1]
    result = run("-c", "builtin", "-", stdin=path.read_bytes())
    assert result.exit_code == 0, result.output
    assert result.stdout == f"<stdin>\t{expected(path)}\n"


def test_exif_orientation_is_applied(tmp_path: Path) -> None:
    arr = np.zeros((60, 90, 3), np.uint8)
    arr[:, :45] = COLOURS["red"]
    arr[:, 45:] = COLOURS["blue"]
    exif = Image.Exif()
    exif[0x0112] = 3  # rotated 180 degrees: red is on the right once displayed
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, "JPEG", quality=95, exif=exif.tobytes())
    (tmp_path / "rot.jpg").write_bytes(buf.getvalue())
    result = run("-c", "builtin", str(tmp_path / "rot.jpg"))
    assert result.exit_code == 0, result.output
    caption = result.stdout.split("\t")[1]
    assert caption.index("blue") < caption.index("red") and "blue on the left" in caption


def test_default_captioner_is_builtin_without_cached_blip(
    photos: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-hub"))
    result = run("--json", str(photos))
    assert result.exit_code == 0, result.output
    assert {r["captioner"] for r in json.loads(result.stdout)} == {"builtin"}


def test_errors(photos: Path, tmp_path: Path) -> None:
    missing = run("-c", "builtin", str(tmp_path / "nothing-here.png"))
    assert missing.exit_code == 2 and "no such file" in missing.output
    unknown = run("-c", "no-such-captioner", str(photos))
    assert unknown.exit_code == 2 and "known: blip-base, builtin" in unknown.output
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    broken = run("-c", "builtin", str(tmp_path / "broken.png"))
    assert broken.exit_code == 1
    assert broken.output.startswith("Error: ") and "broken.png" in broken.output
    assert "Traceback" not in broken.output
    assert run().exit_code == 2  # IMAGE is required


def test_help() -> None:
    result = CliRunner().invoke(main, ["caption", "--help"])
    assert result.exit_code == 0
    for option in ("--captioner", "--json", "--recursive", "IMAGE..."):
        assert option in result.output
