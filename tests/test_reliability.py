"""Issue 15: no caption silently changed, no silently wrong output, one set of limits.

Each test is one numbered case of the issue ("What does not"); each failed before the change.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import socket
import threading
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image
from tiny_model import save_tiny_model

import jpegtext
from jpegtext.cli import main
from jpegtext.codec import MAGIC, embed_caption, walk_segments
from jpegtext.codec.markers import COM, segment_bytes
from jpegtext.errors import ConfigError, MissingWeightsError, PayloadError
from jpegtext.sample import make_sample_image

README = Path(__file__).resolve().parents[1] / "README.md"
CAPTION = "a red barn beside a pond"


def run(*args: str, **kwargs: object):
    return CliRunner().invoke(main, list(args), **kwargs)


@pytest.fixture(scope="module")
def model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_model(tmp_path_factory.mktemp("model") / "tiny.safetensors")


@pytest.fixture(scope="module")
def photo() -> Image.Image:
    return make_sample_image(96, 64, seed=3)


def _payload(data: bytes):
    return next(s for s in walk_segments(data) if s.marker == COM and s.data.startswith(MAGIC))


def _replace_in_segment(data: bytes, old: bytes, new: bytes) -> bytes:
    seg = _payload(data)
    body = seg.data.replace(old, new, 1)
    assert body != seg.data and len(body) == len(seg.data)
    return data[: seg.offset] + segment_bytes(COM, body) + data[seg.end :]


# 1. A single-segment caption came back altered with no error.


def test_1_a_changed_caption_byte_in_one_segment_is_an_error(photo: Image.Image) -> None:
    data = jpegtext.encode(photo, 1, caption=CAPTION)
    with pytest.raises(PayloadError, match="integrity hash"):
        jpegtext.read_caption(_replace_in_segment(data, b"red", b"rod"))


def test_1_an_edited_captioner_field_is_an_error(photo: Image.Image) -> None:
    data = jpegtext.encode(photo, 1, captioner="builtin")
    with pytest.raises(PayloadError, match="integrity hash"):
        jpegtext.inspect(_replace_in_segment(data, b'"builtin"', b'"blip-ba"'))


def test_1_an_edited_xmp_only_caption_is_an_error(photo: Image.Image) -> None:
    data = jpegtext.encode(photo, 1, caption=CAPTION, xmp=True)
    seg = _payload(data)
    xmp_only = data[: seg.offset] + data[seg.end :]
    assert jpegtext.read_caption(xmp_only) == CAPTION
    edited = xmp_only.replace(b"a red barn", b"a rod barn", 1)
    with pytest.raises(PayloadError, match="integrity hash"):
        jpegtext.read_caption(edited)


def test_1_com_and_xmp_disagreeing_is_a_visible_warning(
    photo: Image.Image, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    data = jpegtext.encode(photo, 1, caption=CAPTION, xmp=True)
    # A tool rewrote the description (and its hash attribute stays): COM wins, with a warning.
    edited = data.replace(b">a red barn", b">a big barn", 1)
    assert edited != data
    with caplog.at_level(logging.WARNING):
        info = jpegtext.inspect(edited)
    assert info.caption == CAPTION and info.caption_verified is True
    assert any("differs" in w for w in info.warnings)
    assert "differs from the COM payload" in caplog.text
    (tmp_path / "e.jpg").write_bytes(edited)
    res = run("info", str(tmp_path / "e.jpg"))
    assert res.exit_code == 0 and "warning:    the XMP mirror's caption differs" in res.output


def test_1_version_1_files_still_read_and_are_flagged(photo: Image.Image, tmp_path: Path) -> None:
    bare = jpegtext.encode(photo, 1, caption="x")
    seg = _payload(bare)
    v1 = b'JPEGTEXT\x00{"v":1,"caption":"an old caption","captioner":null,"q":1}'
    data = bare[: seg.offset] + segment_bytes(COM, v1) + bare[seg.end :]
    info = jpegtext.inspect(data)
    assert (info.caption, info.payload_version, info.caption_verified) == ("an old caption", 1,
                                                                           False)
    v2 = jpegtext.inspect(bare)
    assert (v2.payload_version, v2.caption_verified) == (2, True)
    (tmp_path / "v1.jpg").write_bytes(data)
    assert "NOT VERIFIABLE" in run("info", str(tmp_path / "v1.jpg")).output
    assert json.loads(run("info", "--json", str(tmp_path / "v1.jpg")).stdout)[
        "caption_verified"] is False
    # A v2 payload whose version digit was changed to 1 is not read as v1.
    with pytest.raises(PayloadError):
        jpegtext.read_caption(_replace_in_segment(bare, b'{"v":2', b'{"v":1'))


# 2. Limits: --max-pixels honoured before writing, on every command, in jpegtext's words.


@pytest.fixture
def low_limit(monkeypatch: pytest.MonkeyPatch) -> int:
    """Pillow's limit lowered so that a small image plays the 100 MP one (same code path)."""
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 10_000)
    return 10_000


def test_2_encode_over_the_default_limit_with_max_pixels(low_limit: int, tmp_path: Path) -> None:
    big = tmp_path / "big.png"
    make_sample_image(160, 100).save(big)  # 16,000 pixels > 10,000
    out = tmp_path / "big.jpg"
    res = run("encode", str(big), "-o", str(out), "--caption", "x", "--max-pixels", "100000")
    assert res.exit_code == 0, res.output
    assert jpegtext.read_caption(out.read_bytes()) == "x"
    # Over the limit: refused before anything is written, without Pillow's warning text.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = run("encode", str(big), "-o", str(tmp_path / "no.jpg"), "--caption", "x")
    assert res.exit_code == 1 and "over the limit of 10,000" in res.output
    assert "--max-pixels" in res.output
    assert not (tmp_path / "no.jpg").exists()
    assert not [w for w in caught if issubclass(w.category, Image.DecompressionBombWarning)]
    assert "DecompressionBomb" not in res.output


def test_2_png_bomb_message_is_in_jpegtexts_words(low_limit: int, tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.png"
    Image.new("RGB", (300, 100)).save(bomb)  # 30,000 > 2 x 10,000: Pillow's hard limit
    res = run("encode", str(bomb), "-o", str(tmp_path / "b.jpg"), "--caption", "x")
    assert res.exit_code == 1
    assert "PIL.Image.MAX_IMAGE_PIXELS" not in res.output
    assert "30,000 pixels, over the limit of 10,000" in res.output and "--max-pixels" in res.output
    # And --max-pixels lifts it.
    res = run("encode", str(bomb), "-o", str(tmp_path / "b.jpg"), "--caption", "x",
              "--max-pixels", "50000")
    assert res.exit_code == 0, res.output
    assert Image.MAX_IMAGE_PIXELS == low_limit  # restored after the command


def test_2_decode_info_caption_have_max_pixels(low_limit: int, tmp_path: Path,
                                               model_path: Path) -> None:
    Image.MAX_IMAGE_PIXELS = 1_000_000
    data = jpegtext.encode(make_sample_image(160, 100), 1, caption="x")
    Image.MAX_IMAGE_PIXELS = low_limit
    src = tmp_path / "big.jpg"
    src.write_bytes(data)
    res = run("decode", str(src), "-o", str(tmp_path / "out.png"), "--model", str(model_path),
              "--device", "cpu")
    assert res.exit_code == 1 and "--max-pixels" in res.output
    assert not (tmp_path / "out.png").exists()
    res = run("decode", str(src), "-o", str(tmp_path / "out.png"), "--model", str(model_path),
              "--device", "cpu", "--max-pixels", "20000")
    assert res.exit_code == 0, res.output
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # the lowered limit
        with Image.open(tmp_path / "out.png") as out:
            assert out.size == (160, 100)
    assert run("info", str(src)).exit_code == 1
    assert run("info", str(src), "--max-pixels", "20000").exit_code == 0
    png = tmp_path / "big.png"
    make_sample_image(160, 100).save(png)
    assert run("caption", "--captioner", "builtin", str(png)).exit_code == 1
    res = run("caption", "--captioner", "builtin", str(png), "--max-pixels", "20000")
    assert res.exit_code == 0 and res.output.startswith(str(png))


# 3. models --verify printed "SHA256 MISMATCH" and exited 0: see tests/test_cli_models.py
# (test_table_with_installed_missing_and_tampered now requires exit status 1).


def test_3_models_verify_exits_1_on_mismatch(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    from jpegtext.restore.runtime import zoo

    monkeypatch.setattr(zoo, "_REGISTRY", {})
    monkeypatch.setattr(zoo, "PACKAGE_WEIGHTS", tmp_path / "package")
    monkeypatch.setenv("JPEGTEXT_HOME", str(tmp_path / "cache"))
    (tmp_path / "package").mkdir()
    (tmp_path / "package" / "m.safetensors").write_bytes(b"tampered")
    entry = next(iter(zoo.REGISTERED_MODELS))
    fields = {**entry.to_dict(), "name": "m", "filename": "m.safetensors",
              "sha256": hashlib.sha256(b"original").hexdigest()}
    zoo.register_model(zoo.ModelEntry(**fields))
    assert run("models").exit_code == 0
    res = run("models", "--verify")
    assert res.exit_code == 1 and "SHA256 MISMATCH" in res.output


# 4. A model with NaN weights restored to an all-black PNG with exit 0.


def test_4_nan_weights_are_refused(tmp_path: Path, photo: Image.Image, model_path: Path) -> None:
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    with safe_open(str(model_path), "pt") as fh:
        meta = fh.metadata()
    tensors = load_file(str(model_path))
    name = next(k for k in tensors if k.startswith("generator.") and tensors[k].ndim == 4)
    tensors[name] = torch.full_like(tensors[name], float("nan"))
    nan_model = tmp_path / "nan.safetensors"
    save_file(tensors, str(nan_model), metadata=meta)
    src = tmp_path / "in.jpg"
    src.write_bytes(jpegtext.encode(photo, 1, caption="x"))
    res = run("decode", str(src), "-o", str(tmp_path / "out.png"), "--model", str(nan_model),
              "--device", "cpu")
    assert res.exit_code == 1 and "NaN" in res.output
    assert not (tmp_path / "out.png").exists()


def test_4_constant_output_is_an_error(photo: Image.Image, model_path: Path) -> None:
    from jpegtext.errors import WeightsError
    from jpegtext.receiver import get_restorer

    restorer = get_restorer(str(model_path), device="cpu")

    class Flat:
        name, config = "flat", restorer.config

        def restore(self, image, *args, **kwargs):
            return np.zeros_like(image)

    with pytest.raises(WeightsError, match="constant image"):
        jpegtext.decode(jpegtext.encode(photo, 1, caption="x"), model=Flat())


# 5. A grayscale JPEG came back colour-tinted.


def test_5_grayscale_in_grayscale_out(tmp_path: Path, photo: Image.Image,
                                      model_path: Path) -> None:
    gray = embed_caption(_gray_jpeg(photo), "a grey barn")
    assert jpegtext.inspect(gray).subsampling == "gray"
    out = np.asarray(jpegtext.decode(gray, model=str(model_path), device="cpu"))
    assert out.shape[2] == 3 and np.array_equal(out[..., 0], out[..., 2])
    assert np.array_equal(out[..., 0], out[..., 1])
    src = tmp_path / "g.jpg"
    src.write_bytes(gray)
    res = run("decode", str(src), "-o", str(tmp_path / "g.png"), "--model", str(model_path),
              "--device", "cpu")
    assert res.exit_code == 0, res.output
    assert Image.open(tmp_path / "g.png").mode == "L"
    # --no-gray keeps the model's colour output.
    res = run("decode", str(src), "-o", str(tmp_path / "c.png"), "--model", str(model_path),
              "--device", "cpu", "--no-gray")
    assert res.exit_code == 0 and Image.open(tmp_path / "c.png").mode == "RGB"


def _gray_jpeg(photo: Image.Image) -> bytes:
    import io

    buf = io.BytesIO()
    photo.convert("L").save(buf, format="JPEG", quality=1)
    return buf.getvalue()


def test_5_unknown_quality_is_warned_about(photo: Image.Image, model_path: Path,
                                           caplog: pytest.LogCaptureFixture) -> None:
    import io

    buf = io.BytesIO()
    # CMYK: libjpeg's tables say nothing of it, and the payload records no quality
    photo.convert("CMYK").save(buf, format="JPEG", quality=5)
    data = embed_caption(buf.getvalue(), "x", quality=None)
    from jpegtext.receiver import decode_detailed

    with caplog.at_level(logging.WARNING):
        res = decode_detailed(data, model=str(model_path), device="cpu")
    assert res.quality is None and any("quality is unknown" in w for w in res.warnings)
    assert res.quality_source == "default" and "CMYK" in res.warnings[0]
    assert "quality is unknown" in caplog.text
    # other tables than IJG's are no longer unknown: the nearest IJG quality, estimated
    buf = io.BytesIO()
    photo.save(buf, format="JPEG", qtables=[[7] * 64, [9] * 64])
    res = decode_detailed(embed_caption(buf.getvalue(), "x", quality=None),
                          model=str(model_path), device="cpu")
    assert (res.quality_source, res.quality_kind) == ("tables", "estimated")
    assert res.quality is not None and not res.warnings


# 6. A damaged payload could not be restored even with --caption; no repair command.


def _two_payloads(photo: Image.Image) -> bytes:
    one = jpegtext.encode(photo, 1, caption="first")
    extra = segment_bytes(COM, _payload(jpegtext.encode(photo, 1, caption="second")).data)
    sos = walk_segments(one)[-1]
    return one[: sos.offset] + extra + one[sos.offset :]


def test_6_decode_caption_and_ignore_payload_on_a_damaged_file(
    tmp_path: Path, photo: Image.Image, model_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    src = tmp_path / "two.jpg"
    src.write_bytes(_two_payloads(photo))
    common = ["--model", str(model_path), "--device", "cpu"]
    res = run("decode", str(src), "-o", str(tmp_path / "a.png"), *common)
    assert res.exit_code == 1 and "--ignore-payload" in res.output
    with caplog.at_level(logging.WARNING):
        res = run("decode", str(src), "-o", str(tmp_path / "b.png"), "--caption", "a barn",
                  *common)
    assert res.exit_code == 0, res.output
    assert "ignoring the damaged caption payload" in caplog.text
    assert Image.open(tmp_path / "b.png").info["Description"] == "a barn"
    res = run("decode", str(src), "-o", str(tmp_path / "c.png"), "--ignore-payload", *common)
    assert res.exit_code == 0, res.output
    assert Image.open(tmp_path / "c.png").info["Description"] == ""


def test_6_caption_set_and_strip_rewrite_only_the_segments(tmp_path: Path,
                                                           photo: Image.Image) -> None:
    damaged = _two_payloads(photo)
    src = tmp_path / "d.jpg"
    src.write_bytes(damaged)
    scan = damaged[walk_segments(damaged)[-1].end :]
    res = run("caption", "set", str(src), "--text", "a repaired caption")
    assert res.exit_code == 0, res.output
    fixed = src.read_bytes()
    assert jpegtext.read_caption(fixed) == "a repaired caption"
    assert fixed.endswith(scan)  # the entropy-coded data is untouched
    res = run("caption", "strip", str(src), "-o", str(tmp_path / "s.jpg"))
    assert res.exit_code == 0, res.output
    stripped = (tmp_path / "s.jpg").read_bytes()
    assert jpegtext.read_caption(stripped) is None and stripped.endswith(scan)
    assert run("caption", "strip", str(src), "-o", str(tmp_path / "s.jpg")).exit_code == 1
    # `jpegtext caption IMAGE` still captions.
    png = tmp_path / "p.png"
    photo.save(png)
    res = run("caption", "--captioner", "builtin", str(png))
    assert res.exit_code == 0 and res.output.startswith(f"{png}\t")


# 7. Fail fast: bad inputs before the model loads; hub captioners fail within seconds.


def test_7_bad_input_is_reported_before_the_model_loads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, model_path: Path
) -> None:
    import jpegtext.receiver as receiver

    loads: list[object] = []
    monkeypatch.setattr(receiver, "get_restorer", lambda *a, **k: loads.append(a) or 1 / 0)
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 not a jpeg")
    res = run("decode", str(bad), "-o", str(tmp_path / "o.png"), "--model", str(model_path))
    assert res.exit_code == 1 and "bad.jpg" in res.output
    assert loads == []
    other = tmp_path / "bad2.jpg"
    other.write_bytes(b"nothing")
    res = run("decode", str(bad), str(other), "--out-dir", str(tmp_path / "o"))
    assert res.exit_code == 1 and "2 of 2 inputs failed" in res.output and loads == []


def test_7_oversized_input_is_refused_before_the_captioner_loads(
    low_limit: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import jpegtext.api as api

    loads: list[object] = []
    monkeypatch.setattr(api, "resolve_captioner", lambda *a: loads.append(a) or 1 / 0)
    big = tmp_path / "big.png"
    make_sample_image(160, 100).save(big)
    res = run("encode", str(big), "-o", str(tmp_path / "o.jpg"), "--captioner", "builtin")
    assert res.exit_code == 1 and "over the limit" in res.output and loads == []
    res = run("caption", "--captioner", "hf:nobody/model", str(big))
    assert res.exit_code == 1 and "over the limit" in res.output


@pytest.fixture
def silent_hub() -> str:
    """A local endpoint that accepts connections and never answers (an unreachable hub)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    stop = threading.Event()
    conns: list[socket.socket] = []

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                conns.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}"
    stop.set()
    thread.join(2)
    for c in conns:
        c.close()
    server.close()


def test_7_hub_captioner_fails_within_seconds(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                              silent_hub: str) -> None:
    from jpegtext.captioner.hf import HFCaptioner

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    monkeypatch.setenv("HF_ENDPOINT", silent_hub)
    t0 = time.perf_counter()
    with pytest.raises(MissingWeightsError, match="cannot be reached|did not answer"):
        HFCaptioner("nobody/no-such-captioner", cache_dir=tmp_path)
    assert time.perf_counter() - t0 < 8


# 8. Output paths and input types.


def test_8_output_path_messages(tmp_path: Path, photo: Image.Image,
                                monkeypatch: pytest.MonkeyPatch) -> None:
    src = tmp_path / "p.png"
    photo.save(src)
    (tmp_path / "adir.png").mkdir()
    res = run("encode", str(src), "-o", str(tmp_path / "adir.png"), "--caption", "x")
    assert res.exit_code == 2 and "is a folder" in res.output and "exists" not in res.output
    (tmp_path / "afile").write_text("x")
    res = run("encode", str(src), "-o", str(tmp_path / "afile" / "o.jpg"), "--caption", "x")
    assert res.exit_code == 1 and "afile is a file, not a folder" in res.output
    assert "File exists" not in res.output
    # Missing folders are created (documented).
    res = run("encode", str(src), "-o", str(tmp_path / "new" / "o.jpg"), "--caption", "x")
    assert res.exit_code == 0 and (tmp_path / "new" / "o.jpg").is_file()
    # An unwritable folder names the destination, not the temporary .part file.
    import tempfile

    def denied(*args: object, **kwargs: object):
        raise PermissionError(13, "Permission denied", str(tmp_path / ".o2.jpg.x.part"))

    monkeypatch.setattr(tempfile, "mkstemp", denied)
    res = run("encode", str(src), "-o", str(tmp_path / "o2.jpg"), "--caption", "x")
    assert res.exit_code == 1 and "o2.jpg: cannot write: Permission denied" in res.output
    assert ".part" not in res.output


def test_8_readers_refuse_decoded_images_with_a_typed_error(photo: Image.Image) -> None:
    for source in (photo, np.asarray(photo)):
        for reader in (jpegtext.inspect, jpegtext.read_caption, jpegtext.decode):
            with pytest.raises(ConfigError, match="bytes or a path"):
                reader(source)


# 9. README claims.


def test_9_readme_claims() -> None:
    text = README.read_text(encoding="utf-8")
    export = text[text.index("## Export") :]
    assert "jpegtext[export]" in export[: export.index("```bash") + 400]
    cli = text[text.index("## Command line") : text.index("### Encoding")]
    # No example writes a file that another example reads as a different thing.
    assert not re.search(r"-o photo\.png", cli)
    assert re.search(r"usage errors.*exit\s+with\s+status\s+2", cli, re.S)
    assert "tiny" not in text[text.index("Large images are restored") :][:900]
