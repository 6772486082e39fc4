"""The command line's contract on bad input, across commands.

Bad input gets one ``Error: ...`` line and exit status 1 (usage errors exit 2), never a
traceback, a partly written output or a lost caption; in a batch the failing input is reported
and the rest are processed; names and text from files are printed safely.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from click.testing import CliRunner, Result
from PIL import Image
from tiny_model import save_tiny_model

import jpegtext
from jpegtext._io import atomic_write_bytes
from jpegtext.api import read_caption
from jpegtext.cli import main
from jpegtext.cli._text import printable, printable_json
from jpegtext.cli.info import format_info
from jpegtext.errors import InsufficientMemoryError, PayloadError

# a file name byte that is not UTF-8: Python hands it over as the lone surrogate U+DCE9
LATIN1_NAME = "lat\udce9.jpg"


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=True)


def _clean_failure(result: Result, code: int) -> None:
    assert result.exit_code == code, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    assert "Error" in result.output


def _png(path: Path, size: tuple[int, int] = (32, 24)) -> Path:
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path)
    return path


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def jpeg(tmp_path: Path) -> Path:
    path = tmp_path / "enc.jpg"
    path.write_bytes(jpegtext.encode(str(_png(tmp_path / "src.png")), 1, caption="a test"))
    return path


@pytest.fixture(scope="module")
def model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_model(tmp_path_factory.mktemp("model") / "tiny.safetensors")


def _no_model(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make loading a model fail loudly: the checks under test must come first."""
    import jpegtext.receiver

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the model was loaded before the input was checked")

    monkeypatch.setattr(jpegtext.receiver, "get_restorer", refuse)


# --- 1. caption: one bad image does not lose the lines of the others ------------------------


def test_caption_batch_reports_a_bad_image_and_captions_the_rest(tmp_path: Path) -> None:
    _png(tmp_path / "a.png")
    (tmp_path / "b.png").write_bytes(b"")
    _png(tmp_path / "c.png", (24, 32))
    res = run("caption", "--captioner", "builtin", "a.png", "b.png", "c.png")
    _clean_failure(res, 1)
    lines = res.stdout.splitlines()
    assert [line.split("\t")[0] for line in lines] == ["a.png", "c.png"]
    assert all(line.split("\t")[1] for line in lines)
    assert "Error: b.png: " in res.stderr and "1 of 3 images" in res.stderr


def test_caption_json_keeps_input_order_with_an_error_entry(tmp_path: Path) -> None:
    import json

    (tmp_path / "a.png").write_bytes(b"not an image")
    _png(tmp_path / "b.png")
    res = run("caption", "--captioner", "builtin", "--json", "a.png", "b.png")
    assert res.exit_code == 1, res.output
    entries = json.loads(res.stdout)
    assert [e["file"] for e in entries] == ["a.png", "b.png"]
    assert "error" in entries[0] and entries[1]["caption"]


def test_caption_batch_reports_an_oversized_image_and_captions_the_rest(tmp_path: Path) -> None:
    _png(tmp_path / "big.png", (64, 64))
    _png(tmp_path / "small.png")
    res = run("caption", "--captioner", "builtin", "--max-pixels", "1000", "big.png", "small.png")
    _clean_failure(res, 1)
    assert [line.split("\t")[0] for line in res.stdout.splitlines()] == ["small.png"]
    assert "Error: big.png: " in res.stderr
    # a single input is still refused before the captioner loads
    res = run("caption", "--captioner", "no-such-captioner", "--max-pixels", "1000", "big.png")
    _clean_failure(res, 1)
    assert "big.png" in res.output and "no-such-captioner" not in res.output


# --- 2. non-finite and absurd numbers are usage errors --------------------------------------


@pytest.mark.parametrize("value", ["nan", "inf", "1e308", "-inf"])
def test_max_bpp_must_be_a_finite_sensible_number(tmp_path: Path, value: str) -> None:
    _png(tmp_path / "a.png")
    res = run("encode", "a.png", "-o", "x.jpg", "--caption", "x", "--max-bpp", value)
    _clean_failure(res, 2)
    assert "--max-bpp" in res.output
    assert not (tmp_path / "x.jpg").exists()


def test_tiny_max_bpp_is_reported_in_its_own_terms(tmp_path: Path) -> None:
    _png(tmp_path / "a.png")
    res = run("encode", "a.png", "-o", "x.jpg", "--caption", "x", "--max-bpp", "1e-9")
    _clean_failure(res, 1)
    assert "--max-bpp 1e-09" in res.output and "32x24" in res.output
    assert 'budget "0"' not in res.output
    small = run("encode", "a.png", "-o", "x.jpg", "--caption", "x", "--max-bpp", "0.01")
    _clean_failure(small, 1)
    assert "--max-bpp 0.01 is 0 bytes" not in small.output and "--max-bpp 0.01" in small.output
    assert not (tmp_path / "x.jpg").exists()


def test_guidance_nan_is_a_usage_error_before_the_model(jpeg: Path, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    _no_model(monkeypatch)
    res = run("decode", str(jpeg), "-o", "d.png", "--guidance", "nan")
    _clean_failure(res, 2)
    assert "--guidance" in res.output and not (tmp_path / "d.png").exists()


# --- 3. a caption that is not UTF-8 is refused before the model runs ------------------------


def test_decode_refuses_a_caption_utf8_cannot_encode(jpeg: Path, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    _no_model(monkeypatch)
    res = run("decode", str(jpeg), "-o", "d.png", "--caption", "caf\udce9")
    _clean_failure(res, 1)
    assert res.output.count("Error:") == 1 and "cannot be stored" in res.output
    assert not (tmp_path / "d.png").exists()
    # the library refuses it the same way, before a model is named or loaded
    with pytest.raises(PayloadError, match="cannot be stored"):
        jpegtext.decode(jpeg, caption="caf\udce9", model="no-such-model")


# --- 4. file names that are not UTF-8 are printed escaped, never crash ----------------------


def test_non_utf8_file_names_are_printed_escaped(jpeg: Path, tmp_path: Path) -> None:
    (tmp_path / LATIN1_NAME).write_bytes(jpeg.read_bytes())
    shown = "lat\\xe9.jpg"
    res = run("info", LATIN1_NAME)
    assert res.exit_code == 0, res.exception
    assert res.stdout.splitlines()[0] == shown
    res = run("info", "--json", LATIN1_NAME)
    assert res.exit_code == 0, res.exception
    assert '"lat\\\\xe9.jpg"' in res.stdout
    res = run("caption", "--captioner", "builtin", LATIN1_NAME)
    assert res.exit_code == 0, res.exception
    assert res.stdout.startswith(shown + "\t")
    (tmp_path / "bad\udce9.jpg").write_bytes(b"\xff\xd8 not a jpeg")
    res = run("info", "--json", "bad\udce9.jpg", LATIN1_NAME)
    _clean_failure(res, 1)
    assert '"bad\\\\xe9.jpg"' in res.stdout and '"lat\\\\xe9.jpg"' in res.stdout


@pytest.mark.parametrize(
    "obj",
    [
        {"caption": "red\u009b2J barn\x7f\u0085 caf\u00e9 \u6f22\x1b\n", "n": [1, None]},
        ["lat\udce9.jpg", "\u009f\u00a0"],
    ],
)
def test_printable_json_escapes_del_c1_and_surrogates(obj: object) -> None:
    text = printable_json(obj)
    assert not any("\x7f" <= c <= "\x9f" or c < " " or "\ud800" <= c <= "\udfff" for c in text)
    assert json.loads(text) == obj  # valid JSON that gives back the same text
    assert "caf\u00e9" in printable_json("caf\u00e9")  # letters are not escaped
    assert printable_json("a\u009bb") == '"a\\u009bb"'
    assert printable_json({"a": "\x7f"}, indent=2) == '{\n  "a": "\\u007f"\n}'


def test_printable_escapes_controls_and_undecodable_bytes() -> None:
    assert printable("caf\u00e9 \u6f22") == "caf\u00e9 \u6f22"  # real letters are kept
    assert printable("lat\udce9.jpg") == "lat\\xe9.jpg"
    assert printable("a\x1b]0;x\x07\n\u009b\ud800") == "a\\x1b]0;x\\x07\\n\\x9b\\ud800"


# --- 5. an -o that names a folder is a usage error ------------------------------------------


def test_output_ending_in_a_separator_is_a_folder(tmp_path: Path, jpeg: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    _png(tmp_path / "a.png")
    res = run("encode", "a.png", "-o", "nd1/", "--caption", "x")
    _clean_failure(res, 2)
    assert "folder" in res.output and not (tmp_path / "nd1").exists()
    _no_model(monkeypatch)
    res = run("decode", str(jpeg), "-o", "new.png/")
    _clean_failure(res, 2)
    assert "folder" in res.output and not (tmp_path / "new.png").exists()


@pytest.mark.parametrize("command", [["set", "--text", "a"], ["strip"]])
@pytest.mark.parametrize("output", ["adir", "nd2/"])
def test_caption_rewrite_into_a_folder_is_a_usage_error(jpeg: Path, tmp_path: Path,
                                                        command: list[str], output: str) -> None:
    (tmp_path / "adir").mkdir()
    before = jpeg.read_bytes()
    res = run("caption", command[0], str(jpeg), *command[1:], "-o", output)
    _clean_failure(res, 2)
    assert "folder" in res.output
    assert not (tmp_path / "nd2").exists() and not any((tmp_path / "adir").iterdir())
    assert jpeg.read_bytes() == before


# --- 6. a tile larger than the image is one pass of the image -------------------------------


def test_tile_larger_than_the_image_is_checked_as_the_image(model_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch
                                                            ) -> None:
    from jpegtext.restore.runtime import inference
    from jpegtext.restore.runtime.modelfile import load_model_file

    r = inference.Restorer(load_model_file(model_path), device="cpu", tile=4096)
    bpp = r.bytes_per_pixel()
    monkeypatch.setattr(inference, "_available_memory", lambda device: int(bpp * 200 * 200))
    assert r._tile_for(96, 128) == 4096  # one 96x128 pass: fits
    assert r._tile_for(90, 130) == 4096  # padded to 96x136 on the 8-px grid: fits
    with pytest.raises(InsufficientMemoryError, match="smaller --tile"):
        r._tile_for(96, 4000)  # crops 96 x (4096 + 64): the halo counts where there is image
    monkeypatch.setattr(inference, "_available_memory", lambda device: int(bpp * 4160 ** 2))
    assert r._tile_for(6000, 8000) == 4096  # large images: the full crop, as before
    monkeypatch.setattr(inference, "_available_memory", lambda device: int(bpp * 4160 ** 2) - 1)
    with pytest.raises(InsufficientMemoryError, match=r"tile 4096 needs about"):
        r._tile_for(6000, 8000)


def test_decode_with_a_tile_larger_than_the_image(model_path: Path, jpeg: Path, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from jpegtext.restore.runtime import inference

    base = ["decode", str(jpeg), "--model", str(model_path), "--device", "cpu"]
    assert run(*base, "-o", "plain.png", "--tile", "0").exit_code == 0
    # the tile's own crop (4096 + 2 * 32)^2 would need gigabytes: only the image's size counts
    monkeypatch.setattr(inference, "_available_memory", lambda device: 64 << 20)
    res = run(*base, "-o", "big.png", "--tile", "4096")
    assert res.exit_code == 0, res.output
    assert np.array_equal(np.asarray(Image.open(tmp_path / "big.png")),
                          np.asarray(Image.open(tmp_path / "plain.png")))
    monkeypatch.setattr(inference, "_available_memory", lambda device: 1)
    res = run(*base, "-o", "none.png", "--tile", "4096")
    _clean_failure(res, 1)
    assert "smaller --tile" in res.output and not (tmp_path / "none.png").exists()


# --- 7. info escapes every field that comes from the file -----------------------------------


def test_info_escapes_the_captioner_name(jpeg: Path) -> None:
    evil = 'evil\x1b]0;pwned\x07\n  caption:    "FAKE"\u009b'
    assert run("caption", "set", str(jpeg), "--text", "hi",
               "--captioner-name", evil).exit_code == 0
    res = run("info", str(jpeg))
    assert res.exit_code == 0, res.output
    assert not any(c in res.stdout for c in "\x1b\x07\u009b")
    lines = res.stdout.splitlines()
    assert [line for line in lines if line.lstrip().startswith("caption:")] == \
        ['  caption:    "hi"']
    assert '  captioner:  "evil\\u001b]0;pwned\\u0007\\n' in res.stdout


def test_info_text_escapes_warnings_and_c1_controls() -> None:
    info = SimpleNamespace(
        caption="red\u009b2J barn\x7f", caption_source="com", captioner="builtin",
        caption_verified=True, payload_version=2, warnings=("mirror says \x1b[2Jhi\nforged",),
        quality_kind="exact", estimated_quality=1, payload_quality=1, quality_mismatch=False,
        subsampling="4:2:0", width=8, height=8, total_bytes=10, image_bytes=5, caption_bytes=5,
        caption_share=0.5,
    )
    text = format_info("f.jpg", info)
    assert not any(c in text for c in "\x1b\x7f\u009b")
    assert '  caption:    "red\\x9b2J barn\\x7f"' in text
    assert '  captioner:  "builtin"' in text
    assert "  warning:    mirror says \\x1b[2Jhi\\nforged" in text
    assert len(text.splitlines()) == 9  # no forged line


# --- 8. rewriting in place writes through links and keeps the permissions -------------------


@pytest.mark.parametrize("command", [["set", "--text", "via the link"], ["strip"]])
def test_in_place_rewrite_follows_a_symlink_and_keeps_the_mode(jpeg: Path, tmp_path: Path,
                                                               command: list[str]) -> None:
    os.chmod(jpeg, 0o600)
    link = tmp_path / "link.jpg"
    link.symlink_to(jpeg.name)
    res = run("caption", command[0], str(link), *command[1:])
    assert res.exit_code == 0, res.output
    assert link.is_symlink() and os.readlink(link) == jpeg.name
    expected = "via the link" if command[0] == "set" else None
    assert read_caption(jpeg.read_bytes()) == expected
    assert stat.S_IMODE(jpeg.stat().st_mode) == 0o600
    assert not [p.name for p in tmp_path.iterdir() if p.name.endswith(".part")]


def test_atomic_write_keeps_an_existing_mode_and_new_files_follow_the_umask(
        tmp_path: Path) -> None:
    old = tmp_path / "old.bin"
    old.write_bytes(b"old")
    os.chmod(old, 0o640)
    atomic_write_bytes(old, b"new", force=True)
    assert old.read_bytes() == b"new" and stat.S_IMODE(old.stat().st_mode) == 0o640
    mask = os.umask(0o022)
    os.umask(mask)
    atomic_write_bytes(tmp_path / "fresh.bin", b"x")
    assert stat.S_IMODE((tmp_path / "fresh.bin").stat().st_mode) == 0o666 & ~mask
    target = tmp_path / "sub" / "target.bin"
    target.parent.mkdir()
    target.write_bytes(b"t")
    (tmp_path / "ln.bin").symlink_to(target)
    with pytest.raises(FileExistsError):
        atomic_write_bytes(tmp_path / "ln.bin", b"x")  # a link to a file: that file exists
    atomic_write_bytes(tmp_path / "ln.bin", b"through", force=True)
    assert (tmp_path / "ln.bin").is_symlink() and target.read_bytes() == b"through"


def test_caption_output_escapes_control_characters_a_captioner_returns(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import jpegtext.captioner as captioner_pkg

    class Loud:
        name = "local:odd\x85name"

        def __call__(self, images: list[object]) -> list[str]:
            return ["red \x9b2J petals\x7f" for _ in images]

    monkeypatch.setattr(captioner_pkg, "get_captioner", lambda name: Loud())
    png = _png(tmp_path / "a.png")
    text = CliRunner().invoke(main, ["caption", "--captioner", "x", str(png)])
    assert text.exit_code == 0, text.output
    assert "\x9b" not in text.output and "\x7f" not in text.output
    assert "red \\x9b2J petals\\x7f" in text.output
    as_json = CliRunner().invoke(main, ["caption", "--captioner", "x", "--json", str(png)])
    assert as_json.exit_code == 0, as_json.output
    assert not any(c in as_json.output for c in "\x85\x9b\x7f")
    (row,) = json.loads(as_json.output)
    assert row["caption"] == "red \x9b2J petals\x7f" and row["captioner"] == "local:odd\x85name"


def test_sigterm_while_writing_leaves_no_partial_file(tmp_path: Path) -> None:
    """SIGTERM arrives while the output is being written: the temporary file is removed, no
    output appears, and the status is 143 (as for an unhandled SIGTERM)."""
    import subprocess
    import sys

    png = _png(tmp_path / "a.png")
    script = (
        "import os, signal, sys\n"
        "import jpegtext._io as io_mod\n"
        "real = io_mod.os.fsync\n"
        "def fsync(fd):\n"
        "    real(fd)\n"
        "    os.kill(os.getpid(), signal.SIGTERM)  # mid-write, the temporary file on disk\n"
        "io_mod.os.fsync = fsync\n"
        "from jpegtext.cli import main\n"
        "main(sys.argv[1:])\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script, "encode", str(png), "-o", str(tmp_path / "out.jpg"),
         "--caption", "x"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 143, proc.stderr[-2000:]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png"]  # no out.jpg, no .part
