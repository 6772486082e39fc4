"""``jpegtext serve``: the API in process, the real server on loopback, the page in Chromium."""

from __future__ import annotations

import asyncio
import io
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image
from tiny_model import save_tiny_model

import jpegtext
from jpegtext.receiver import decode_detailed
from jpegtext.sample import make_sample_image

pytest.importorskip("starlette", reason="the serve extra is not installed")
pytest.importorskip("httpx", reason="httpx (test extra) is not installed")

import httpx  # noqa: E402
from starlette.testclient import TestClient  # noqa: E402

from jpegtext.cli import main  # noqa: E402
from jpegtext.cli.serve import is_loopback  # noqa: E402
from jpegtext.serve import app as serve_app  # noqa: E402
from jpegtext.serve.app import ServeConfig, create_app  # noqa: E402
from jpegtext.serve.launch import launch_server  # noqa: E402

CAPTION = "a red barn and green trees"


@pytest.fixture(scope="module")
def model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_model(tmp_path_factory.mktemp("model") / "tiny.safetensors")


@pytest.fixture(scope="module")
def restorer(model_path: Path) -> Any:
    return jpegtext.load_restorer(str(model_path), device="cpu")


@pytest.fixture(scope="module")
def client(restorer: Any) -> Any:
    with TestClient(create_app(restorer)) as c:
        yield c


def _png(width: int = 96, height: int = 64, seed: int = 1, **save: Any) -> bytes:
    buf = io.BytesIO()
    make_sample_image(width, height, seed=seed).save(buf, format="PNG", **save)
    return buf.getvalue()


@pytest.fixture(scope="module")
def jpeg() -> bytes:
    return jpegtext.encode(make_sample_image(96, 64, seed=1), 1, caption=CAPTION)


def _open_png(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    assert image.format == "PNG"
    image.load()
    return image


# ------------------------------------------------------------------ restore
def test_restore_matches_the_library_and_keeps_the_caption(client: Any, restorer: Any,
                                                           jpeg: bytes) -> None:
    res = client.post("/v1/restore", content=jpeg, headers={"Content-Type": "image/jpeg"})
    assert res.status_code == 200, res.text
    assert res.headers["content-type"] == "image/png"
    assert res.headers["x-jpegtext-caption"] == CAPTION
    assert res.headers["x-jpegtext-caption-source"] == "payload"
    assert res.headers["x-jpegtext-quality"] == "1"
    assert res.headers["x-jpegtext-model"] == "tiny"
    assert float(res.headers["x-jpegtext-time-ms"]) >= 0
    png = _open_png(res.content)
    assert png.info["Description"] == CAPTION and png.size == (96, 64)
    expected = decode_detailed(jpeg, model=restorer).image
    assert np.array_equal(np.asarray(png.convert("RGB")), expected)


def test_caption_override_reaches_the_pixels_and_multipart_works(client: Any,
                                                                 jpeg: bytes) -> None:
    plain = client.post("/v1/restore", content=jpeg)
    caption = "ünïcode blue sky ✓"
    form = client.post("/v1/restore", files={"file": ("x.jpg", jpeg, "image/jpeg")},
                       data={"caption": caption})
    query = client.post("/v1/restore", params={"caption": caption}, content=jpeg)
    assert form.status_code == query.status_code == 200, form.text
    from urllib.parse import unquote

    assert unquote(form.headers["x-jpegtext-caption"]) == caption
    assert form.headers["x-jpegtext-caption-source"] == "override"
    assert _open_png(form.content).info["Description"] == caption
    a = np.asarray(_open_png(plain.content).convert("RGB"))
    b = np.asarray(_open_png(form.content).convert("RGB"))
    assert not np.array_equal(a, b)  # the text changes the restoration
    assert np.array_equal(b, np.asarray(_open_png(query.content).convert("RGB")))


def test_restore_keeps_icc_and_ensemble_is_checked(client: Any) -> None:
    icc = b"\x00" * 8 + b"fake-icc-profile"
    buf = io.BytesIO()
    make_sample_image(64, 64).save(buf, format="JPEG", quality=5, icc_profile=icc)
    res = client.post("/v1/restore", content=buf.getvalue(), params={"ensemble": "2"})
    assert res.status_code == 200 and res.headers["x-jpegtext-ensemble"] == "2"
    assert res.headers["x-jpegtext-caption-source"] == "none"
    assert _open_png(res.content).info["icc_profile"] == icc
    bad = client.post("/v1/restore", content=buf.getvalue(), params={"ensemble": "3"})
    assert bad.status_code == 400 and "ensemble" in bad.json()["message"]


def test_restore_consistency_auto_by_default_or_as_requested(client: Any) -> None:
    import math

    from jpegtext.codec.consistency import project_jpeg_file
    from jpegtext.codec.jpegfile import parse_file

    buf = io.BytesIO()
    make_sample_image(64, 64, seed=4).save(buf, format="JPEG", quality=2)
    file = parse_file(buf.getvalue())
    raw = client.post("/v1/restore", content=buf.getvalue(), params={"consistency": "off"})
    luma = client.post("/v1/restore", content=buf.getvalue(), params={"consistency": "luma"})
    full = client.post("/v1/restore", content=buf.getvalue(), params={"consistency": "full"})
    legacy = client.post("/v1/restore", content=buf.getvalue(), params={"consistent": "1"})
    auto = client.post("/v1/restore", content=buf.getvalue())  # the file's own (no) caption
    steered = client.post("/v1/restore", content=buf.getvalue(), params={"caption": "a red barn"})
    raw_steered = client.post("/v1/restore", content=buf.getvalue(),
                              params={"caption": "a red barn", "consistency": "off"})
    assert [r.headers["x-jpegtext-consistency"] for r in (raw, luma, full, legacy, auto, steered)
            ] == ["off", "luma", "full", "full", "full", "luma"]
    assert auto.content == full.content
    b = np.asarray(_open_png(raw_steered.content).convert("RGB"))
    assert np.array_equal(np.asarray(_open_png(steered.content).convert("RGB")),
                          project_jpeg_file(b, file, chroma_slack=math.inf))
    assert raw.headers["x-jpegtext-consistent"] == "0"
    assert luma.headers["x-jpegtext-consistent"] == full.headers["x-jpegtext-consistent"] == "1"
    a = np.asarray(_open_png(raw.content).convert("RGB"))
    assert np.array_equal(np.asarray(_open_png(luma.content).convert("RGB")),
                          project_jpeg_file(a, file, chroma_slack=math.inf))
    assert np.array_equal(np.asarray(_open_png(full.content).convert("RGB")),
                          project_jpeg_file(a, file))
    assert legacy.content == full.content
    strong = client.post("/v1/restore", content=buf.getvalue(),
                         params={"caption": "a red barn", "guidance": "2"})
    assert strong.status_code == 200 and strong.headers["x-jpegtext-guidance"] == "2"
    assert steered.headers["x-jpegtext-guidance"] == "1"
    assert strong.content != steered.content
    for params, word in (({"guidance": "strong"}, "guidance"), ({"guidance": "11"}, "guidance"),
                         ({"consistent": "yes"}, "consistent"),
                         ({"consistency": "chroma"}, "consistency"),
                         ({"consistency": "luma", "consistent": "1"}, "consistent=1")):
        bad = client.post("/v1/restore", content=buf.getvalue(), params=params)
        assert bad.status_code == 400 and word in bad.json()["message"]


# ------------------------------------------------------------------ encode / inspect
def test_encode_with_captioner_caption_and_quality(client: Any) -> None:
    photo = _png()
    res = client.post("/v1/encode", content=photo, params={"quality": "5"},
                      headers={"Content-Type": "image/png"})
    assert res.status_code == 200, res.text
    assert res.headers["content-type"] == "image/jpeg"
    info = jpegtext.inspect(res.content)
    assert info.quality == 5 and info.captioner == res.headers["x-jpegtext-captioner"]
    assert res.headers["x-jpegtext-caption"] == info.caption and info.caption
    assert int(res.headers["x-jpegtext-bytes"]) == len(res.content) == info.total_bytes
    assert int(res.headers["x-jpegtext-caption-bytes"]) == info.caption_bytes > 0
    assert float(res.headers["x-jpegtext-caption-share"]) == pytest.approx(info.caption_share,
                                                                           abs=1e-6)
    assert res.headers["x-jpegtext-size"] == "96x64"
    # the same photo with a given caption: same pixels, the caption stored as given
    given = client.post("/v1/encode", files={"file": ("p.png", photo, "image/png")},
                        data={"quality": "5", "caption": "grey sky"})
    assert given.status_code == 200 and jpegtext.read_caption(given.content) == "grey sky"
    assert "x-jpegtext-captioner" not in given.headers
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(given.content))),
                          np.asarray(Image.open(io.BytesIO(res.content))))
    builtin = client.post("/v1/encode", content=photo, params={"captioner": "builtin"})
    assert builtin.status_code == 200 and jpegtext.inspect(builtin.content).quality == 1


def test_encode_refuses_paths_and_unknown_captioners(client: Any, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    import jpegtext.captioner

    # an uncached BLIP would make the server wait on the hub: it is not offered
    monkeypatch.setattr(jpegtext.captioner, "is_cached", lambda *a, **k: False)
    for name in (str(tmp_path), "hf:some/model", "../../etc", "fixed", "blip-base"):
        res = client.post("/v1/encode", content=_png(), params={"captioner": name})
        assert res.status_code == 400 and "this service offers: builtin" in res.json()["message"]
    assert client.get("/healthz").json()["captioners"] == ["builtin"]
    bad_q = client.post("/v1/encode", content=_png(), params={"quality": "0"})
    assert bad_q.status_code == 400 and "quality" in bad_q.json()["message"].lower()
    not_int = client.post("/v1/encode", content=_png(), params={"quality": "high"})
    assert not_int.status_code == 400


def test_encode_max_bytes_is_forwarded(client: Any) -> None:
    if not serve_app.encode_supports_max_bytes():
        pytest.skip("this jpegtext.encode has no max_bytes (rate control, issue 16)")
    photo = _png(160, 120)
    res = client.post("/v1/encode", content=photo,
                      params={"max_bytes": "4000", "caption": "a red barn"})
    assert res.status_code == 200, res.text
    assert len(res.content) <= 4000 and jpegtext.read_caption(res.content) == "a red barn"
    impossible = client.post("/v1/encode", content=photo, params={"max_bytes": "10"})
    assert impossible.status_code in (400, 422), impossible.text


def test_encode_max_bytes_unsupported_is_422(client: Any, monkeypatch: pytest.MonkeyPatch
                                             ) -> None:
    monkeypatch.setattr(serve_app, "encode_supports_max_bytes", lambda: False)
    res = client.post("/v1/encode", content=_png(), params={"max_bytes": "4000"})
    assert res.status_code == 422 and "max_bytes" in res.json()["message"]


def test_inspect_models_health_and_page(client: Any, jpeg: bytes) -> None:
    res = client.post("/v1/inspect", content=jpeg)
    assert res.status_code == 200 and res.json() == json.loads(
        json.dumps(jpegtext.inspect(jpeg).to_dict()))
    models = client.get("/v1/models").json()
    assert models["loaded"]["model"] == "tiny" and models["loaded"]["device"] == "cpu"
    assert {m["name"] for m in models["models"]} >= {"tgjar-small-v4"}
    health = client.get("/healthz").json()
    assert health["status"] == "ok" and health["model"] == "tiny" and health["busy"] == 0
    page = client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["x-content-type-options"] == "nosniff"
    for path in ("/static/app.js", "/static/style.css"):
        asset = client.get(path)
        assert asset.status_code == 200 and len(asset.text) > 1000
    for text in (page.text, client.get("/static/app.js").text,
                 client.get("/static/style.css").text):  # no CDN: works offline
        for ref in ('src="http', 'href="http', "url(http", 'fetch("http', "//cdn"):
            assert ref not in text


# ------------------------------------------------------------------ errors and limits
def test_bad_inputs_answer_4xx_with_the_library_message(client: Any, jpeg: bytes) -> None:
    truncated = client.post("/v1/restore", content=jpeg[: len(jpeg) // 2])
    assert truncated.status_code == 422
    body = truncated.json()
    assert body["error"] == "InvalidJpegError" and "truncated" in body["message"].lower()
    for path in ("/v1/restore", "/v1/inspect", "/v1/encode"):
        garbage = client.post(path, content=b"not an image at all")
        assert garbage.status_code == 422, (path, garbage.text)
        assert garbage.json()["message"]
        empty = client.post(path, content=b"")
        assert empty.status_code == 400 and empty.json()["error"] == "EmptyBody"
    assert client.get("/v1/nothing").status_code == 404
    assert client.get("/v1/restore").status_code == 405
    assert client.post("/v1/restore", content=b"--x\r\n", headers={
        "Content-Type": "multipart/form-data; boundary=x"}).status_code == 400


def _damaged(jpeg: bytes) -> bytes:
    """``jpeg`` with one byte of its stored caption changed (the payload hash then fails)."""
    data = bytearray(jpeg)
    at = data.find(CAPTION.encode())
    assert at > 0
    data[at] ^= 0x01
    return bytes(data)


def test_a_caption_given_replaces_a_damaged_payload(client: Any, jpeg: bytes) -> None:
    damaged = _damaged(jpeg)
    refused = client.post("/v1/restore", content=damaged)
    assert refused.status_code == 422 and refused.json()["error"] == "PayloadError"
    # as `jpegtext decode --caption`: the caller's text replaces what the file cannot give
    res = client.post("/v1/restore", content=damaged, params={"caption": "a blue barn"})
    assert res.status_code == 200, res.text
    assert res.headers["x-jpegtext-caption-source"] == "override"
    assert _open_png(res.content).info["Description"] == "a blue barn"
    # encoding reads only the pixels of an input JPEG: its payload does not matter
    enc = client.post("/v1/encode", content=damaged, params={"caption": "new", "quality": "5"})
    assert enc.status_code == 200, enc.text
    assert jpegtext.read_caption(enc.content) == "new"


def test_a_long_caption_stays_in_the_body_not_the_headers(client: Any) -> None:
    caption = "é" * 1500  # 3,000 bytes of UTF-8, 9,000 percent-encoded
    enc = client.post("/v1/encode", content=_png(), params={"caption": caption})
    assert enc.status_code == 200, enc.text
    assert "x-jpegtext-caption" not in enc.headers
    assert enc.headers["x-jpegtext-caption-omitted"] == "3000"
    assert jpegtext.read_caption(enc.content) == caption
    res = client.post("/v1/restore", content=enc.content)
    assert res.status_code == 200 and "x-jpegtext-caption" not in res.headers
    assert res.headers["x-jpegtext-caption-omitted"] == "3000"
    assert _open_png(res.content).info["Description"] == caption
    short = client.post("/v1/restore", content=enc.content, params={"caption": "é" * 200})
    assert short.headers["x-jpegtext-caption"] == "%C3%A9" * 200  # 1,200 bytes: sent
    assert "x-jpegtext-caption-omitted" not in short.headers


def test_captions_with_spaces_at_the_ends_travel_in_a_valid_header(client: Any) -> None:
    from urllib.parse import unquote

    for caption in ("bright red sky ", "  two before", " ", "\ttab"):
        enc = client.post("/v1/encode", content=_png(), params={"caption": caption})
        assert enc.status_code == 200, (caption, enc.text)
        value = enc.headers["x-jpegtext-caption"]
        assert value == value.strip() and unquote(value) == caption
        assert jpegtext.read_caption(enc.content) == caption


def test_options_that_are_not_utf8_are_refused(client: Any, jpeg: bytes) -> None:
    query = client.post("/v1/restore?caption=caf%E9", content=jpeg)
    assert query.status_code == 400 and "UTF-8" in query.json()["message"]
    form = client.post("/v1/restore", files={"file": ("a.jpg", jpeg)},
                       data={"caption": "café".encode("latin-1")})
    assert form.status_code == 400 and "'caption'" in form.json()["message"]


def test_a_client_gone_mid_upload_is_not_an_internal_error(
        caplog: pytest.LogCaptureFixture) -> None:
    from starlette.requests import ClientDisconnect

    with caplog.at_level("INFO", logger="jpegtext.serve.app"):
        err = serve_app._error_for(ClientDisconnect())
    assert (err.status, err.error) == (400, "ClientDisconnect")
    assert not [r for r in caplog.records if r.levelname == "ERROR"]


def test_images_a_jpeg_cannot_hold_are_refused_before_queueing(restorer: Any,
                                                               jpeg: bytes) -> None:
    wide = io.BytesIO()
    Image.new("L", (65_501, 1)).save(wide, format="PNG")
    truncated = _png(64, 64)[:-40]
    gated = _GatedRestorer(restorer)
    app = create_app(gated, config=ServeConfig(workers=1, queue=0, timeout=30))
    service = app.state.service

    async def scenario() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            running = asyncio.create_task(c.post("/v1/restore", content=jpeg))
            while service.pool.active < 1:
                await asyncio.sleep(0.01)
            answers = [await c.post("/v1/encode", content=body, params={"caption": "x"})
                       for body in (wide.getvalue(), truncated)]
            gated.gate.set()
            await running
            return answers

    wide_res, truncated_res = asyncio.run(scenario())
    assert wide_res.status_code == 422, wide_res.text  # not 503: checked before the pool
    assert "65,500 pixels per side" in wide_res.json()["message"]
    assert truncated_res.status_code == 422, truncated_res.text
    assert truncated_res.json()["error"] == "InvalidImageError"


def test_limits_body_and_pixels(restorer: Any, jpeg: bytes) -> None:
    config = ServeConfig(max_request_bytes=len(jpeg) - 1, max_pixels=50 * 50)
    with TestClient(create_app(restorer, config=config)) as c:
        big = c.post("/v1/restore", content=jpeg)
        assert big.status_code == 413 and big.json()["error"] == "TooLarge"

        def chunks() -> Any:  # no Content-Length: the limit is counted while reading
            yield jpeg[:100]
            yield jpeg[100:]

        assert c.post("/v1/restore", content=chunks()).status_code == 413
    with TestClient(create_app(restorer, config=ServeConfig(max_pixels=50 * 50))) as c:
        res = c.post("/v1/restore", content=jpeg)
        assert res.status_code == 422 and "limit" in res.json()["message"]


def test_no_temporary_files(client: Any, jpeg: bytes, tmp_path: Path,
                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    noise = np.random.default_rng(0).integers(0, 256, (720, 720, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(noise).save(buf, format="PNG", compress_level=0)
    assert len(buf.getvalue()) > 1_500_000  # over the multipart parser's in-memory default
    res = client.post("/v1/encode", files={"file": ("big.png", buf.getvalue(), "image/png")},
                      data={"caption": "noise", "quality": "10"})
    assert res.status_code == 200 and jpegtext.read_caption(res.content) == "noise"
    assert client.post("/v1/restore", files={"file": ("a.jpg", jpeg)}).status_code == 200
    assert list(tmp_path.iterdir()) == []


def test_token(restorer: Any, jpeg: bytes) -> None:
    with TestClient(create_app(restorer, config=ServeConfig(token="s3cret"))) as c:
        res = c.post("/v1/inspect", content=jpeg)
        assert res.status_code == 401 and res.headers["www-authenticate"] == "Bearer"
        wrong = c.post("/v1/inspect", content=jpeg, headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401
        assert c.get("/v1/models").status_code == 401
        ok = c.post("/v1/inspect", content=jpeg, headers={"Authorization": "Bearer s3cret"})
        assert ok.status_code == 200
        assert c.get("/healthz").json()["token_required"] is True
        assert c.get("/").status_code == 200  # the page holds no secret: it asks for the token


class _GatedRestorer:
    """A restorer whose ``restore`` waits for a gate: makes busy and slow servers in tests."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.name, self.config = inner, inner.name, inner.config
        self.gate, self.entered = threading.Event(), threading.Event()

    calls = 0

    def restore(self, *args: Any, **kwargs: Any) -> Any:
        self.calls += 1
        self.entered.set()
        assert self.gate.wait(30)
        return self.inner.restore(*args, **kwargs)


def test_queue_full_503_then_timeout_504(restorer: Any, jpeg: bytes) -> None:
    gated = _GatedRestorer(restorer)
    app = create_app(gated, config=ServeConfig(workers=1, queue=1, timeout=30))
    service = app.state.service

    async def scenario() -> tuple[list[int], httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            first = asyncio.create_task(c.post("/v1/restore", content=jpeg))
            second = asyncio.create_task(c.post("/v1/restore", content=jpeg))
            while service.pool.active < 2:
                await asyncio.sleep(0.01)
            busy = await c.post("/v1/restore", content=jpeg)
            gated.gate.set()
            done = [r.status_code for r in await asyncio.gather(first, second)]
            return done, busy

    done, busy = asyncio.run(scenario())
    assert busy.status_code == 503 and int(busy.headers["retry-after"]) >= 1
    assert busy.json()["error"] == "Busy"
    assert done == [200, 200] and service.pool.active == 0

    slow = _GatedRestorer(restorer)
    app = create_app(slow, config=ServeConfig(workers=1, queue=1, timeout=0.5))

    async def timeouts() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            running = asyncio.create_task(c.post("/v1/restore", content=jpeg))
            while not slow.entered.is_set():
                await asyncio.sleep(0.01)
            queued = await c.post("/v1/restore", content=jpeg)  # waits behind it, times out
            first = await running
            slow.gate.set()
            again = await c.post("/v1/restore", content=jpeg)
            return [first, queued, again]

    first, queued, again = asyncio.run(timeouts())
    assert first.status_code == queued.status_code == 504
    assert queued.json()["error"] == "Timeout" and "0.5 s" in queued.json()["message"]
    assert again.status_code == 200
    assert slow.calls == 2  # the timed-out queued job was dropped, never run
    assert app.state.service.pool.active == 0


# ------------------------------------------------------------------ CLI
def test_cli_refuses_public_bind_without_token() -> None:
    res = CliRunner().invoke(main, ["serve", "--host", "0.0.0.0"])
    assert res.exit_code == 2 and "--token" in res.output and "--insecure" in res.output
    res = CliRunner().invoke(main, ["serve", "--token", " "])
    assert res.exit_code == 2
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.10")


def test_missing_dependency_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib

    import jpegtext.serve as serve_pkg

    real = importlib.import_module

    def fake(name: str, *args: Any) -> Any:
        if name == "uvicorn":
            raise ImportError("no uvicorn")
        return real(name, *args)

    monkeypatch.setattr(importlib, "import_module", fake)
    res = CliRunner().invoke(main, ["serve"])
    assert res.exit_code == 1 and "pip install 'jpegtext[serve]'" in res.output
    assert "Traceback" not in res.output
    with pytest.raises(jpegtext.errors.MissingDependencyError, match="uvicorn"):
        serve_pkg.require_serve_dependencies()


def test_import_jpegtext_does_not_import_the_service() -> None:
    code = ("import sys, jpegtext, jpegtext.cli, jpegtext.serve; "
            "bad = [m for m in ('starlette', 'uvicorn', 'torch') if m in sys.modules]; "
            "print(bad); sys.exit(1 if bad else 0)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr


# ------------------------------------------------------------------ real server
def test_real_server_on_loopback(model_path: Path) -> None:
    with launch_server(["--model", str(model_path), "--device", "cpu",
                        "--read-timeout", "1"]) as server:
        assert server.url.startswith("http://127.0.0.1:")
        photo = _png(80, 64)
        req = urllib.request.Request(server.url + "v1/encode?quality=10&caption=green+trees",
                                     data=photo, headers={"Content-Type": "image/png"})
        with urllib.request.urlopen(req, timeout=30) as res:
            data = res.read()
        assert jpegtext.read_caption(data) == "green trees"
        req = urllib.request.Request(server.url + "v1/restore", data=data,
                                     headers={"Content-Type": "image/jpeg"})
        with urllib.request.urlopen(req, timeout=30) as res:
            assert res.headers["X-Jpegtext-Quality"] == "10"
            png = _open_png(res.read())
        assert png.size == (80, 64) and png.info["Description"] == "green trees"
        # a caption ending in a space reaches the client (h11 refuses such a raw header)
        req = urllib.request.Request(server.url + "v1/restore?caption=green+trees+", data=data,
                                     headers={"Content-Type": "image/jpeg"})
        with urllib.request.urlopen(req, timeout=30) as res:
            assert res.headers["X-Jpegtext-Caption"] == "green trees%20"
        try:
            urllib.request.urlopen(urllib.request.Request(server.url + "v1/restore",
                                                          data=b"junk"), timeout=30)
            raise AssertionError("a bad body must fail")
        except urllib.error.HTTPError as exc:
            assert exc.code == 422 and json.loads(exc.read())["message"]
        # a stalled upload gets 408 after --read-timeout and its connection is closed
        host, port = server.url.split("//")[1].rstrip("/").rsplit(":", 1)
        with socket.create_connection((host, int(port)), timeout=30) as sock:
            sock.sendall(b"POST /v1/inspect HTTP/1.1\r\nHost: t\r\nContent-Length: 1000\r\n"
                         b"\r\nabc")
            reply = b""
            while chunk := sock.recv(65536):  # b"" once the server closes
                reply += chunk
        assert reply.startswith(b"HTTP/1.1 408 ") and b'"RequestTimeout"' in reply
        assert server.rss_bytes() is None or server.rss_bytes() > 0
    assert server.process.returncode == 0  # stopped gracefully


# ------------------------------------------------------------------ the page in Chromium
def _chrome() -> Any:
    selenium = pytest.importorskip("selenium", reason="selenium (test extra) is not installed")
    del selenium
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    driver_path = shutil.which("chromedriver")
    if not binary or not driver_path:
        pytest.skip("headless Chromium is absent (Debian: apt-get install chromium "
                    "chromium-driver)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1280,860"):
        options.add_argument(arg)
    options.binary_location = binary
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(options=options, service=Service(driver_path))


# Logs the page's requests (window.__calls) and answers those that window.__rules names, once
# each: {path, status, headers} gets a made-up error reply, {path, hold: true} waits until the
# test calls release() on its __calls entry (the real request is sent then, without the page's
# abort signal, so a stale answer can still arrive; release() resolves once it has). Timing-dependent page code becomes
# deterministic: the test decides when each answer comes.
_FETCH_LOG = """
window.__calls = []; window.__rules = window.__rules || [];
if (!window.__realFetch) window.__realFetch = window.fetch;
window.fetch = (u, o) => {
  const url = new URL(String(u), location.href);
  const call = {path: url.pathname, query: url.search, method: (o && o.method) || "GET",
                signal: o && o.signal};
  window.__calls.push(call);
  const i = window.__rules.findIndex((r) => r.path === url.pathname);
  if (i < 0) return window.__realFetch(u, o);
  const rule = window.__rules.splice(i, 1)[0];
  if (rule.hold) return new Promise((ok) => {
    call.release = () => window.__realFetch(u, Object.assign({}, o, {signal: undefined}))
      .then((res) => { ok(res); return res.clone().blob(); });  // resolves once it is read
  });
  return Promise.resolve(new Response(JSON.stringify({status: rule.status, error: "Stub",
    message: "made up by the test"}), {status: rule.status, headers: Object.assign(
    {"Content-Type": "application/json"}, rule.headers || {})}));
};
"""
# Holds the page's next createImageBitmap (reading a dropped photo) until the test calls
# window.__bitmaps[0](), which returns the bitmap's promise; later calls go through.
_HOLD_BITMAP = """
window.__bitmaps = [];
if (!window.__realBitmap) window.__realBitmap = window.createImageBitmap;
window.createImageBitmap = (...a) => window.__bitmaps.length ? window.__realBitmap(...a)
  : new Promise((ok) => window.__bitmaps.push(() => {
    const p = window.__realBitmap(...a); ok(p); return p; }));
"""
_CALLS = ("return window.__calls.map(c => ({path: c.path, query: c.query, method: c.method, "
          "aborted: !!(c.signal && c.signal.aborted)}))")


def test_page_in_headless_chromium(model_path: Path, tmp_path: Path) -> None:
    driver = _chrome()
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    photo = tmp_path / "photo.png"
    photo.write_bytes(_png(160, 96, seed=3))
    received = tmp_path / "received.jpg"
    received.write_bytes(jpegtext.encode(make_sample_image(128, 80, seed=4), 5,
                                         caption="olive trees under a blue sky"))
    try:
        with launch_server(["--model", str(model_path), "--device", "cpu"]) as server:
            driver.get(server.url)
            wait = WebDriverWait(driver, 60)
            wait.until(lambda d: "ready" in d.find_element(By.ID, "health-text").text)
            restored = driver.find_element(By.ID, "restored")

            def seq() -> int:
                return int(restored.get_attribute("data-seq") or 0)

            def pressed(button: str) -> str:
                return driver.find_element(By.ID, button).get_attribute("aria-pressed")

            # 1. upload a photo: the sender's caption appears, then a restoration
            driver.find_element(By.ID, "file").send_keys(str(photo))
            wait.until(lambda d: seq() >= 1)
            caption_box = driver.find_element(By.ID, "caption")
            stored = caption_box.get_attribute("value")
            assert stored and restored.get_attribute("data-caption") == stored
            assert driver.find_element(By.ID, "s-bytes").text.endswith("B")
            assert "%" in driver.find_element(By.ID, "s-share").text
            assert driver.find_element(By.ID, "s-qf").text == "QF 1"
            assert driver.find_element(By.ID, "s-consistency").text == "full"  # its own caption
            first_src = restored.get_attribute("src")
            natural = driver.execute_script(
                "return [arguments[0].naturalWidth, arguments[0].naturalHeight]", restored)
            assert natural == [160, 96]

            # 2. drag the before/after divider with the mouse
            knob = driver.find_element(By.ID, "knob")
            before = driver.find_element(By.ID, "divider").get_attribute("value")
            ActionChains(driver).click_and_hold(knob).move_by_offset(-120, 0).release().perform()
            after = driver.find_element(By.ID, "divider").get_attribute("value")
            assert float(after) < float(before) - 5
            clip = driver.find_element(By.ID, "layer-after").value_of_css_property("clip-path")
            assert "inset" in clip
            assert pressed("zoom-fit") == "true" and pressed("view-slider") == "true"
            driver.find_element(By.ID, "zoom-4").click()
            assert driver.find_element(By.ID, "zoom-level").text == "400 %"
            assert pressed("zoom-4") == "true" and pressed("zoom-fit") == "false"
            driver.find_element(By.ID, "view-side").click()
            assert driver.find_element(By.ID, "stage-side").is_displayed()
            assert pressed("view-side") == "true" and pressed("view-slider") == "false"
            driver.find_element(By.ID, "view-slider").click()
            assert pressed("view-slider") == "true" and pressed("view-side") == "false"
            # the arrow keys move the divider, except in a form control (a select's own keys)
            split = driver.find_element(By.ID, "divider").get_attribute("value")
            for target in ("consistency", "before-src", "caption"):
                driver.execute_script(
                    "document.getElementById(arguments[0]).dispatchEvent(new KeyboardEvent("
                    "'keydown', {key: 'ArrowRight', bubbles: true}))", target)
            assert driver.find_element(By.ID, "divider").get_attribute("value") == split
            driver.execute_script("document.body.dispatchEvent(new KeyboardEvent("
                                  "'keydown', {key: 'ArrowRight', bubbles: true}))")
            assert float(driver.find_element(By.ID, "divider").get_attribute("value")) \
                > float(split) + 4
            # the caption box and the token field have real labels
            labels = driver.execute_script(
                "return ['caption', 'token'].map(id => Array.from("
                "document.getElementById(id).labels).map(l => l.textContent.trim()).join())")
            assert labels == ["Caption in the JPEG", "Access token"]

            # 3. edit the caption: a new restoration, guided by the new text, appears
            caption_box.clear()
            caption_box.send_keys("bright red sky over dark blue water")
            wait.until(lambda d: seq() >= 2
                       and restored.get_attribute("data-caption")
                       == "bright red sky over dark blue water")
            assert restored.get_attribute("src") != first_src
            assert driver.find_element(By.ID, "caption-origin").text == "edited"

            # 4. another QF: compressed again with the edited caption, restored again
            driver.execute_script(
                "const q = document.getElementById('qf'); q.value = 10;"
                "q.dispatchEvent(new Event('input')); q.dispatchEvent(new Event('change'));")
            wait.until(lambda d: seq() >= 3)
            assert driver.find_element(By.ID, "s-qf").text == "QF 10"
            assert driver.find_element(By.ID, "qf-badge").text == "QF 10"
            assert restored.get_attribute("data-caption") == "bright red sky over dark blue water"
            # auto: an edited caption steers, so only the luma is bounded
            assert driver.find_element(By.ID, "s-consistency").text == "luma"

            # 4b. the receiver's options: bound the colour too, then self-ensemble x2
            from selenium.webdriver.support.ui import Select

            Select(driver.find_element(By.ID, "consistency")).select_by_value("full")
            wait.until(lambda d: seq() >= 4
                       and d.find_element(By.ID, "s-consistency").text == "full")
            Select(driver.find_element(By.ID, "ensemble")).select_by_value("2")
            wait.until(lambda d: seq() >= 5
                       and d.find_element(By.ID, "s-consistency").text == "full · ensemble x2")
            Select(driver.find_element(By.ID, "guidance")).select_by_value("2")
            wait.until(lambda d: seq() >= 6 and d.find_element(By.ID, "s-consistency").text
                       == "full · ensemble x2 · strength 2")
            # quick changes (12 key presses' worth): one restoration, with the last setting
            driver.execute_script(_FETCH_LOG)
            driver.execute_script(
                "const set = (id, v) => { const e = document.getElementById(id); e.value = v;"
                " e.dispatchEvent(new Event('change')); };"
                "set('consistency', 'auto'); set('ensemble', '1');"
                "for (const v of ['3', '1.5', '2', '1', '3', '1.5', '2', '1', '3', '1']) "
                "set('guidance', v);")
            wait.until(lambda d: seq() >= 7 and d.find_element(By.ID, "s-consistency").text
                       == "luma")
            calls = driver.execute_script("return window.__calls")
            assert [c["path"] for c in calls] == ["/v1/restore"], calls
            assert "guidance=1&" in calls[0]["query"] + "&" and seq() == 7

            # 5. a ready jpegtext JPEG is restored as received, with its stored caption
            n = seq()
            driver.find_element(By.ID, "file").send_keys(str(received))
            wait.until(lambda d: seq() > n
                       and restored.get_attribute("data-caption")
                       == "olive trees under a blue sky")
            assert caption_box.get_attribute("value") == "olive trees under a blue sky"
            assert driver.find_element(By.ID, "s-qf").text == "QF 5"
            assert driver.find_element(By.ID, "s-consistency").text == "full"
            assert "on" in driver.find_element(By.ID, "role-received").get_attribute("class")
            assert pressed("role-received") == "true" and pressed("role-photo") == "false"
            errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
            assert not errors, errors
    finally:
        driver.quit()


def test_page_recovers_from_failures_and_races(model_path: Path, tmp_path: Path) -> None:
    """Token, long captions, a bad file, a busy service, and actions that overlap."""
    driver = _chrome()
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    long_caption = ("olive trees under a blue sky " * 120)[:3000]  # > 2,048 bytes encoded
    received = tmp_path / "long.jpg"
    received.write_bytes(jpegtext.encode(make_sample_image(96, 64, seed=5), 5,
                                         caption=long_caption))
    photo_a = tmp_path / "a.png"
    photo_a.write_bytes(_png(128, 80, seed=6))
    photo_b = tmp_path / "b.png"
    photo_b.write_bytes(_png(96, 64, seed=7))
    photo_c = tmp_path / "c.png"
    photo_c.write_bytes(_png(80, 64, seed=8))
    fake = tmp_path / "fake.jpg"
    fake.write_bytes(b"not a JPEG at all")
    env = dict(os.environ, JPEGTEXT_SERVE_TOKEN="s3cret")
    try:
        with launch_server(["--model", str(model_path), "--device", "cpu"], env=env) as server:
            wait = WebDriverWait(driver, 60, poll_frequency=0.05)
            el = lambda i: driver.find_element(By.ID, i)  # noqa: E731

            def seq() -> int:  # looked up each time: a reload replaces the elements
                return int(el("restored").get_attribute("data-seq") or 0)

            def load(path: Path) -> None:
                el("file").send_keys(str(path))

            def reload() -> None:  # the token stays for the tab
                driver.execute_script("window.__old = 1")
                driver.refresh()
                wait.until(lambda d: d.execute_script(
                    "return !window.__old && document.getElementById('health-text')"
                    ".textContent.includes('ready')"))
                driver.execute_script(_FETCH_LOG)

            # a token fetch() cannot send (not Latin-1), stored by an earlier page: asked again
            driver.get(server.url)
            wait.until(lambda d: "ready" in el("health-text").text)
            driver.execute_script("sessionStorage.setItem('jpegtext-token', 's3cret\u2019')")
            reload()
            assert el("token-card").is_displayed() and "Latin-1" in el("token-msg").text

            # 1 + 6. a file dropped before the token waits for it; Enter gives it; the whole
            # load is done again, and a caption too long for the headers is still shown
            load(received)
            wait.until(lambda d: "token" in el("drop-hint").text)
            assert el("token-card").is_displayed() and not el("restore-btn").is_enabled()
            el("token").send_keys("s3cret\u2019" + Keys.ENTER)  # refused, with a reason
            assert "Latin-1" in el("token-msg").text and el("token-card").is_displayed()
            assert driver.execute_script("return sessionStorage.getItem('jpegtext-token')") \
                is None
            el("token").clear()
            el("token").send_keys("s3cret" + Keys.ENTER)
            wait.until(lambda d: seq() == 1)
            assert not el("token-card").is_displayed()
            assert el("restored").get_attribute("data-caption") == long_caption
            assert el("caption").get_attribute("value") == long_caption
            methods = {(c["method"], c["path"]) for c in driver.execute_script(_CALLS)}
            assert ("GET", "/v1/restore") not in methods and ("POST", "/v1/inspect") in methods

            # 5. two role switches in a row: the first one, still reading the photo, gives way
            driver.execute_script(_FETCH_LOG + _HOLD_BITMAP)
            el("role-photo").click()
            el("role-received").click()
            wait.until(lambda d: seq() == 2)
            driver.set_script_timeout(30)
            driver.execute_async_script(
                "const done = arguments[0]; window.__bitmaps[0]()"
                ".then(() => setTimeout(done, 0))")
            assert el("caption").get_attribute("value") == long_caption
            assert el("role-received").get_attribute("aria-pressed") == "true"
            assert [c["path"] for c in driver.execute_script(_CALLS)] == ["/v1/restore"]

            # 1. a photo's caption typed too long for the headers: shown as sent
            reload()
            load(photo_a)
            wait.until(lambda d: seq() == 1)
            driver.execute_script(
                "const c = document.getElementById('caption'); c.value = arguments[0];"
                "c.dispatchEvent(new Event('input'));", long_caption + " at dusk")
            wait.until(lambda d: seq() == 2)
            assert el("restored").get_attribute("data-caption") == long_caption + " at dusk"

            # 4. a new file while a restoration of the previous one is running: that request
            # is aborted, and its answer, if it comes anyway, is dropped
            driver.execute_script(_FETCH_LOG + "window.__rules.push({path: '/v1/restore',"
                                  " hold: true})")
            driver.execute_script(
                "document.getElementById('qf').value = 4;"
                "document.getElementById('qf').dispatchEvent(new Event('change'))")
            wait.until(lambda d: [c["path"] for c in d.execute_script(_CALLS)]
                       == ["/v1/encode", "/v1/restore"])
            driver.execute_script(_HOLD_BITMAP)
            load(photo_b)  # and held while it is read
            wait.until(lambda d: d.execute_script("return window.__bitmaps.length") == 1)
            assert driver.execute_script(_CALLS)[1]["aborted"]
            driver.execute_async_script(  # the old answer arrives while b.png is read
                "const done = arguments[0];"
                "window.__calls[1].release().then(() => setTimeout(done, 100))")
            assert seq() == 2 and el("empty").is_displayed()
            assert el("dl-png").get_attribute("href") is None
            driver.execute_script("window.__bitmaps[0]()")
            wait.until(lambda d: seq() == 3)
            size = "return [arguments[0].naturalWidth, arguments[0].naturalHeight]"
            assert driver.execute_script(size, el("restored")) == [96, 64]
            assert "b.png" in el("drop-title").text

            # 5. a photo still being read when the next one is dropped: the next one wins
            driver.execute_script(_FETCH_LOG + _HOLD_BITMAP)
            load(photo_a)
            wait.until(lambda d: d.execute_script("return window.__bitmaps.length") == 1)
            load(photo_c)
            wait.until(lambda d: seq() == 4)
            driver.execute_async_script(
                "const done = arguments[0]; window.__bitmaps[0]().then(() => setTimeout(done, 0))")
            assert [c["path"] for c in driver.execute_script(_CALLS)] \
                == ["/v1/encode", "/v1/restore"]
            assert "c.png" in el("drop-title").text
            assert driver.execute_script(size, el("restored")) == [80, 64]

            # 7. a full service (503 with Retry-After): the latest request is sent once more
            driver.execute_script(_FETCH_LOG + "window.__rules.push({path: '/v1/restore',"
                                  " status: 503, headers: {'Retry-After': '0.3'}})")
            driver.execute_script(
                "const g = document.getElementById('guidance');"
                "for (const v of ['2', '3', '1.5']) { g.value = v;"
                " g.dispatchEvent(new Event('change')); }")
            wait.until(lambda d: seq() == 5)
            calls = driver.execute_script(_CALLS)
            assert [c["path"] for c in calls] == ["/v1/restore", "/v1/restore"], calls
            assert "strength 1.5" in el("s-consistency").text

            # 2. captioning refused (busy, no Retry-After): "Restore again" captions again
            driver.execute_script(_FETCH_LOG + "window.__rules.push({path: '/v1/encode',"
                                  " status: 503})")
            load(photo_a)
            wait.until(lambda d: "made up" in el("toast").text and el("restore-btn").is_enabled())
            assert seq() == 5 and el("caption").get_attribute("value") == ""
            el("restore-btn").click()
            wait.until(lambda d: seq() == 6)
            calls = driver.execute_script(_CALLS)
            assert [c["path"] for c in calls] == ["/v1/encode", "/v1/encode", "/v1/restore"]
            assert "caption=" not in calls[1]["query"]  # the server's captioner, not ""
            assert el("caption").get_attribute("value")
            assert el("restored").get_attribute("data-caption") == el("caption").get_attribute("value")

            # 3. a file that cannot be used: nothing of the previous one stays usable
            load(fake)
            wait.until(lambda d: "could not be used" in el("drop-hint").text)
            assert el("drop-title").text == "fake.jpg"
            assert not el("restore-btn").is_enabled() and not el("role").is_displayed()
            for link in ("dl-jpeg", "dl-png"):
                assert el(link).get_attribute("href") is None
                assert el(link).get_attribute("aria-disabled") == "true"
            assert el("toast").is_displayed() and seq() == 6
            driver.execute_script(_FETCH_LOG + "document.getElementById('caption').dispatchEvent("
                                  "new KeyboardEvent('keydown', {key: 'Enter', ctrlKey: true}))")
            assert driver.execute_script(_CALLS) == []  # Ctrl+Enter: nothing left to restore
            errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"
                      and "Failed to load resource" not in e["message"]]  # the 401s and 422
            assert not errors, errors
    finally:
        driver.quit()
