"""The ASGI application behind ``jpegtext serve``: a thin HTTP layer over the library API.

Requests carry the image as the raw body (``Content-Type: image/jpeg`` / ``image/png``) or as
the ``file`` field of a ``multipart/form-data`` form; options come as query parameters or form
fields. Everything stays in memory: no temporary files, and no client ever names a path on the
server (models and captioners are fixed at start or picked from the registries by name).

Work that costs CPU (restoration, captioning) runs in a bounded pool of ``workers`` threads
with room for ``queue`` waiting jobs; beyond that the service answers 503 with ``Retry-After``
instead of piling up, and a job that takes longer than ``timeout`` seconds answers 504 (a job
still queued at that moment is dropped; a running one finishes and frees its slot).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import hmac
import inspect as pyinspect
import json
import logging
import math
import re
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from importlib import resources
from typing import Any
from urllib.parse import parse_qsl, quote

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

import jpegtext
from jpegtext.errors import (
    ConfigError,
    InsufficientMemoryError,
    InvalidImageError,
    JpegTextError,
    MissingDependencyError,
    PayloadError,
)

__all__ = ["ServeConfig", "ServiceError", "create_app", "encode_supports_max_bytes",
           "offered_captioners"]

log = logging.getLogger(__name__)

#: headers on every response (the page is same-origin only, nothing from other hosts)
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' blob: data:; script-src 'self'; style-src 'self'; "
        "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
        "form-action 'none'"),
}
_PAGE_FILES = {"/": ("index.html", "text/html; charset=utf-8"),
               "/static/app.js": ("app.js", "text/javascript; charset=utf-8"),
               "/static/style.css": ("style.css", "text/css; charset=utf-8")}
_ENSEMBLES = (1, 2, 8)


@dataclass(frozen=True)
class ServeConfig:
    """Limits and defaults of the service.

    Attributes:
        workers: threads running restorations / encodings at the same time.
        queue: jobs that may wait for a worker; more answer 503.
        max_request_bytes: largest request body; more answer 413.
        max_pixels: largest image (decompression-bomb guard for every endpoint).
        timeout: seconds a job may take (queue wait included) before the reply is 504.
        read_timeout: seconds a client may take to send its whole request body before the
            reply is 408 and the connection closes (a stalled upload must not hold a slot).
        token: when set, ``/v1/*`` needs ``Authorization: Bearer <token>``.
        captioner: the captioner ``/v1/encode`` uses when the client names none (None = the
            library's default: BLIP base when cached, else the built-in one).
    """

    workers: int = 1
    queue: int = 8
    max_request_bytes: int = 20_000_000
    max_pixels: int = 16_000_000
    timeout: float = 120.0
    read_timeout: float = 30.0
    token: str | None = None
    captioner: str | None = None

    def __post_init__(self) -> None:
        for name in ("workers", "max_request_bytes", "max_pixels"):
            if int(getattr(self, name)) < 1:
                raise ConfigError(f'Invalid {name} "{getattr(self, name)}", should be >= 1')
        if self.queue < 0:
            raise ConfigError(f'Invalid queue "{self.queue}", should be >= 0')
        for name in ("timeout", "read_timeout"):
            if not getattr(self, name) > 0:
                raise ConfigError(f'Invalid {name} "{getattr(self, name)}", should be > 0 '
                                  "seconds")
        if self.token is not None and not self.token.strip():
            raise ConfigError("the token must not be empty")


class ServiceError(Exception):
    """An HTTP error answered as JSON ``{"status", "error", "message"}``."""

    def __init__(self, status: int, message: str, error: str = "BadRequest",
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.error = error
        self.headers = headers or {}


@functools.cache
def encode_supports_max_bytes() -> bool:
    """Whether the installed ``jpegtext.encode`` takes ``max_bytes=`` (rate control)."""
    return "max_bytes" in pyinspect.signature(jpegtext.encode).parameters


def offered_captioners() -> list[str]:
    """The captioners a client may name: those that run here without a download or arguments
    (``builtin``, and ``blip-base`` when its weights are in the local cache)."""
    from jpegtext.captioner import BLIP_BASE_ID, BLIP_BASE_REVISION, is_cached

    names = ["builtin"]
    if is_cached(BLIP_BASE_ID, BLIP_BASE_REVISION):
        names.append("blip-base")
    return names


def _error_for(exc: BaseException) -> ServiceError:
    """The HTTP answer for a library error (its message is passed on, one line)."""
    message = " ".join(str(exc).split()) or type(exc).__name__
    kind = type(exc).__name__
    if isinstance(exc, ServiceError):
        return exc
    if isinstance(exc, ClientDisconnect):  # nobody reads the answer: no error worth logging
        log.info("the client disconnected before its request was read")
        return ServiceError(400, "the client disconnected", "ClientDisconnect")
    if isinstance(exc, (InsufficientMemoryError, MemoryError)):
        return ServiceError(413, message, kind)
    if isinstance(exc, (InvalidImageError, PayloadError)):
        return ServiceError(422, message, kind)
    if isinstance(exc, (ConfigError, MissingDependencyError)):
        return ServiceError(400, message, kind)
    if isinstance(exc, (JpegTextError, ValueError)):  # e.g. rate control that cannot be met
        return ServiceError(422, message, kind)
    log.exception("internal error", exc_info=exc)
    return ServiceError(500, "internal error (see the server log)", "InternalError")


def _json_error(err: ServiceError) -> JSONResponse:
    return JSONResponse({"status": err.status, "error": err.error, "message": err.message},
                        status_code=err.status, headers=err.headers)


class _BoundedPool:
    """A thread pool that refuses work beyond ``workers + queue`` jobs instead of queueing it."""

    def __init__(self, workers: int, queue: int) -> None:
        self.workers = workers
        self.capacity = workers + queue
        self._executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=workers, thread_name_prefix="jpegtext-serve")
        self._lock = threading.Lock()
        self.active = 0
        self._mean_s = 1.0  # running mean of job times, for Retry-After

    def submit(self, fn: Callable[..., Any], *args: Any) -> concurrent.futures.Future | None:
        """The job's future, or None when the pool is full."""
        with self._lock:
            if self.active >= self.capacity:
                return None
            self.active += 1
        try:
            fut = self._executor.submit(self._timed, fn, *args)
        except BaseException:
            self._release(None)
            raise
        fut.add_done_callback(self._release)  # also runs when a queued job is cancelled
        return fut

    def _timed(self, fn: Callable[..., Any], *args: Any) -> Any:
        start = time.perf_counter()
        try:
            return fn(*args)
        finally:
            with self._lock:
                self._mean_s = 0.8 * self._mean_s + 0.2 * (time.perf_counter() - start)

    def _release(self, _fut: object) -> None:
        with self._lock:
            self.active -= 1

    def retry_after(self) -> int:
        """Seconds after which a slot is likely free."""
        with self._lock:
            return max(1, math.ceil(self._mean_s * self.active / self.workers))

    def shutdown(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


class _Service:
    """The state behind the routes: the loaded restorer, the pool, the captioners."""

    def __init__(self, restorer: Any, config: ServeConfig) -> None:
        self.restorer = restorer
        self.config = config
        self.pool = _BoundedPool(config.workers, config.queue)
        self._captioners: dict[str | None, Any] = {}
        self._captioner_lock = threading.Lock()
        self.started = time.time()
        self.pages = {route: (resources.files("jpegtext.serve").joinpath("static", name)
                              .read_bytes(), media)
                      for route, (name, media) in _PAGE_FILES.items()}

    # ---------------------------------------------------------------- helpers
    def check_captioner(self, name: str | None) -> None:
        """Clients may only name the captioners in :func:`offered_captioners`: never a path or a
        hub id, which would let them read the server's disk or make it wait on the hub."""
        offered = offered_captioners()
        if name is not None and name not in offered:
            raise ServiceError(400, f'unknown captioner "{name}"; this service offers: '
                                    f'{", ".join(offered)}', "ConfigError")

    def captioner(self, name: str | None) -> tuple[Any, threading.Lock]:
        """A built captioner (cached; built on first use, in a worker thread) and a lock
        serialising its calls."""
        key = name if name is not None else self.config.captioner
        with self._captioner_lock:
            entry = self._captioners.get(key)
            if entry is None:
                from jpegtext.api import resolve_captioner

                entry = (resolve_captioner(key), threading.Lock())
                self._captioners[key] = entry
        return entry

    async def run(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run ``fn(*args)`` in the pool; 503 when full, 504 past the timeout."""
        fut = self.pool.submit(fn, *args)
        if fut is None:
            raise ServiceError(503, f"the service is busy ({self.pool.capacity} jobs running "
                                    "or queued); retry later", "Busy",
                               {"Retry-After": str(self.pool.retry_after())})
        try:
            return await asyncio.wait_for(asyncio.wrap_future(fut), self.config.timeout)
        except asyncio.TimeoutError:
            raise ServiceError(504, f"the job took longer than {self.config.timeout:g} s",
                               "Timeout") from None

    def check_token(self, request: Request) -> None:
        token = self.config.token
        if token is None:
            return
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(),
                                                                 token.encode()):
            raise ServiceError(401, "missing or wrong token: send Authorization: Bearer <token>",
                               "Unauthorized", {"WWW-Authenticate": "Bearer"})

    async def read_request(self, request: Request) -> tuple[bytes, dict[str, str]]:
        """The image bytes and the options (query parameters, then form fields)."""
        limit = self.config.max_request_bytes
        declared = request.headers.get("content-length")
        if declared is not None:
            if not declared.isdigit():
                raise ServiceError(400, f"bad Content-Length {declared!r}")
            if int(declared) > limit:
                raise ServiceError(413, f"the request is {int(declared):,} bytes, over the "
                                        f"limit of {limit:,}", "TooLarge")
        options = _query_options(request.scope.get("query_string", b""))
        try:
            body = await asyncio.wait_for(_read_body(request, limit), self.config.read_timeout)
        except asyncio.TimeoutError:
            raise ServiceError(408, "the request body did not arrive within "
                                    f"{self.config.read_timeout:g} s", "RequestTimeout",
                               {"Connection": "close"}) from None
        ctype = request.headers.get("content-type", "")
        if ctype.lower().startswith("multipart/form-data"):
            body, fields = _parse_multipart(ctype, body, limit)
            options.update(fields)
        if not body:
            raise ServiceError(400, "empty request: send the image as the body (or as the "
                                    "'file' field of a multipart form)", "EmptyBody")
        return body, options


async def _read_body(request: Request, limit: int) -> bytes:
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ServiceError(413, f"the request is over the limit of {limit:,} bytes",
                               "TooLarge")
        chunks.append(chunk)
    return b"".join(chunks)


def _query_options(query: bytes) -> dict[str, str]:
    """The query parameters, refused when they are not UTF-8 (never silently replaced: a
    caption would be stored with U+FFFD in place of what the client sent)."""
    try:
        return dict(parse_qsl(query.decode("utf-8"), keep_blank_values=True,
                              errors="strict"))
    except UnicodeDecodeError:
        raise ServiceError(400, "the query string is not UTF-8 (percent-encode UTF-8 bytes)",
                           "ConfigError") from None


def _parse_multipart(ctype: str, body: bytes, limit: int) -> tuple[bytes, dict[str, str]]:
    """The ``file`` part and the text fields of a multipart form, parsed in memory."""
    from python_multipart import create_form_parser
    from python_multipart.exceptions import FormParserError

    fields: dict[str, str] = {}
    files: list[bytes] = []

    def on_field(field: Any) -> None:
        name = (field.field_name or b"").decode("utf-8", "replace")
        value = (field.value or b"")
        if name == "file":
            files.append(value)
            return
        try:
            fields[name] = value.decode("utf-8")
        except UnicodeDecodeError:
            raise ServiceError(400, f"form field {name!r} is not UTF-8", "ConfigError") from None

    def on_file(part: Any) -> None:
        if (part.field_name or b"") != b"file":
            raise ServiceError(400, f"unexpected file field {part.field_name!r}: send the "
                                    "image as 'file'")
        part.file_object.seek(0)
        files.append(part.file_object.read())
        part.close()

    # files stay in memory (limit + 1 > any part), so nothing is ever written to disk
    config = {"MAX_MEMORY_FILE_SIZE": limit + 1, "MAX_FIELDS": 32, "MAX_FIELD_SIZE": 1 << 20}
    try:
        parser = create_form_parser({"Content-Type": ctype.encode("latin-1")}, on_field,
                                    on_file, config=config)
        parser.write(body)
        parser.finalize()
    except (FormParserError, ValueError) as exc:
        raise ServiceError(400, f"malformed multipart form: {exc}") from None
    if len(files) > 1:
        raise ServiceError(400, "send one image per request")
    return (files[0] if files else b""), fields


def _probe_restore(data: bytes, max_pixels: int, caption: str | None) -> Any:
    """The receiver's own input check (stream, size, payload), before a job takes a pool slot,
    so that a bad input gets its 4xx at once, even while the service is busy. A damaged payload
    is an error only when no ``caption`` replaces it, as in ``jpegtext decode --caption``.

    Returns:
        The parsed :class:`~jpegtext.codec.jpegfile.JpegFile`: what the restorer then reads.
    """
    from jpegtext.receiver import check_input

    return check_input(data, caption=caption, max_pixels=max_pixels, log_warnings=False)[0]


def _probe_encode(data: bytes, max_pixels: int) -> None:
    """What ``jpegtext.encode`` would refuse, found without decoding pixels (an input JPEG's
    payload does not matter: the image is encoded anew)."""
    from jpegtext.codec.image import probe_image

    probe_image(data, max_pixels=max_pixels)


def _option_int(options: dict[str, str], name: str, default: int | None = None,
                choices: tuple[int, ...] | None = None) -> int | None:
    text = options.get(name)
    if text is None or text.strip() == "":
        return default
    try:
        value = int(text)
    except ValueError:
        raise ServiceError(400, f'Invalid {name} "{text}", should be an integer',
                           "ConfigError") from None
    if choices is not None and value not in choices:
        raise ServiceError(400, f'Invalid {name} "{text}", should be one of {list(choices)}',
                           "ConfigError")
    return value


def _consistency(options: dict[str, str]) -> str:
    """``consistency=auto|full|luma|off`` (default auto); ``consistent=1`` / ``0`` say full /
    off."""
    from jpegtext.receiver import CONSISTENCY, DEFAULT_CONSISTENCY

    text = (options.get("consistency") or "").strip().lower()
    if text and text not in CONSISTENCY:
        raise ServiceError(400, f'Invalid consistency "{options["consistency"]}", should be one '
                           f"of {list(CONSISTENCY)}", "ConfigError")
    legacy = _option_int(options, "consistent", None, (0, 1))
    if legacy is not None:
        implied = "full" if legacy else "off"
        if text and text != implied:
            raise ServiceError(400, f"consistent={legacy} means consistency={implied}, not "
                               f"{text}", "ConfigError")
        text = implied
    return text or DEFAULT_CONSISTENCY


def _guidance(options: dict[str, str]) -> float:
    """``guidance=S`` (caption strength, 0-10; default 1)."""
    from jpegtext.restore.runtime.inference import check_guidance

    text = (options.get("guidance") or "").strip()
    if not text:
        return 1.0
    try:
        return check_guidance(text)
    except ConfigError as exc:
        raise ServiceError(400, str(exc), "ConfigError") from None


#: The longest ``X-Jpegtext-Caption`` value sent (percent-encoded bytes): proxies and clients
#: refuse long header blocks (nginx's default buffer for a reply's headers is 4 KiB, Python's
#: http.client stops at 64 KiB per line), and the body always carries the caption.
MAX_CAPTION_HEADER = 2048


def _add_caption(headers: dict[str, str], caption: str) -> None:
    """``X-Jpegtext-Caption``: the caption percent-encoded (HTTP headers are Latin-1; the page
    reads it with ``decodeURIComponent``), or, when that is over :data:`MAX_CAPTION_HEADER`,
    ``X-Jpegtext-Caption-Omitted`` with the caption's UTF-8 byte count: read it from the body
    (the JPEG's payload, the PNG's ``Description`` text)."""
    value = quote(caption, safe=" ,.;:!?'()-_/")
    # a header value may not begin or end with whitespace (h11 refuses to send it): the
    # spaces at the ends travel encoded like everything else outside the safe set
    value = re.sub(r"^ +| +$", lambda m: "%20" * len(m.group()), value)
    if len(value) <= MAX_CAPTION_HEADER:
        headers["X-Jpegtext-Caption"] = value
    else:
        headers["X-Jpegtext-Caption-Omitted"] = str(len(caption.encode("utf-8")))


def _caption_headers(prefix: dict[str, str], info: Any) -> dict[str, str]:
    out = dict(prefix)
    out["X-Jpegtext-Bytes"] = str(info.total_bytes)
    out["X-Jpegtext-Caption-Bytes"] = str(info.caption_bytes)
    out["X-Jpegtext-Caption-Share"] = f"{info.caption_share:.6f}"
    if info.caption is not None:
        _add_caption(out, info.caption)
    if info.quality is not None:
        out["X-Jpegtext-Quality"] = str(info.quality)
    out["X-Jpegtext-Size"] = f"{info.width}x{info.height}"
    return out


Handler = Callable[[_Service, Request], Awaitable[Response]]


def _endpoint(service: _Service, handler: Handler, *, auth: bool = True
              ) -> Callable[[Request], Awaitable[Response]]:
    """A route: token check, and every error answered as JSON, never a traceback."""

    async def route(request: Request) -> Response:
        try:
            if auth:
                service.check_token(request)
            return await handler(service, request)
        except Exception as exc:  # noqa: BLE001 - each error becomes an HTTP answer
            return _json_error(_error_for(exc))

    return route


# -------------------------------------------------------------------- routes
async def _restore(service: _Service, request: Request) -> Response:
    from jpegtext.receiver import decode_detailed, encode_png

    data, options = await service.read_request(request)
    caption = options.get("caption")  # present (even empty) = the caller's text wins
    ensemble = _option_int(options, "ensemble", 1, _ENSEMBLES)
    consistency = _consistency(options)
    guidance = _guidance(options)
    max_pixels = service.config.max_pixels
    file = await run_in_threadpool(_probe_restore, data, max_pixels, caption)

    def job() -> tuple[Any, bytes, float]:
        start = time.perf_counter()
        result = decode_detailed(file, model=service.restorer, caption=caption,
                                 max_pixels=max_pixels, ensemble=ensemble,
                                 consistent=consistency, guidance=guidance)
        return result, encode_png(result), time.perf_counter() - start

    queued = time.perf_counter()
    result, png, seconds = await service.run(job)
    total = time.perf_counter() - queued
    headers = {
        "X-Jpegtext-Caption-Source": result.caption_source,
        "X-Jpegtext-Model": result.model,
        "X-Jpegtext-Ensemble": str(ensemble),
        "X-Jpegtext-Consistency": result.consistency,
        "X-Jpegtext-Guidance": f"{guidance:g}",
        "X-Jpegtext-Consistent": str(int(result.consistent)),
        "X-Jpegtext-Time-Ms": f"{seconds * 1000:.0f}",
        "Server-Timing": f"restore;dur={seconds * 1000:.1f}, total;dur={total * 1000:.1f}",
        "Cache-Control": "no-store",
    }
    _add_caption(headers, result.caption)
    if result.quality is not None:
        headers["X-Jpegtext-Quality"] = str(result.quality)
    return Response(png, media_type="image/png", headers=headers)


async def _encode(service: _Service, request: Request) -> Response:
    data, options = await service.read_request(request)
    quality = _option_int(options, "quality")
    max_bytes = _option_int(options, "max_bytes")
    caption = options.get("caption")
    kwargs: dict[str, Any] = {"max_pixels": service.config.max_pixels}
    if quality is not None:
        kwargs["quality"] = quality
    if max_bytes is not None:
        if not encode_supports_max_bytes():
            raise ServiceError(422, "max_bytes (rate control) is not available in this "
                                    "jpegtext version: give quality instead", "Unsupported")
        kwargs["max_bytes"] = max_bytes
    if quality is None and max_bytes is None:
        kwargs["quality"] = 1
    subsampling = options.get("subsampling")
    if subsampling:
        kwargs["subsampling"] = subsampling
    if caption is not None:
        kwargs["caption"] = caption
    captioner_name = options.get("captioner") or None
    service.check_captioner(captioner_name)
    await run_in_threadpool(_probe_encode, data, service.config.max_pixels)

    def job() -> tuple[bytes, Any, float]:
        start = time.perf_counter()
        if caption is not None:
            out = jpegtext.encode(data, **kwargs)
        else:
            captioner, lock = service.captioner(captioner_name)
            with lock:
                out = jpegtext.encode(data, captioner=captioner, **kwargs)
        return out, jpegtext.inspect(out), time.perf_counter() - start

    out, info, seconds = await service.run(job)
    headers = _caption_headers({"X-Jpegtext-Time-Ms": f"{seconds * 1000:.0f}",
                                "Cache-Control": "no-store"}, info)
    if info.captioner:
        headers["X-Jpegtext-Captioner"] = info.captioner
    return Response(out, media_type="image/jpeg", headers=headers)


async def _inspect(service: _Service, request: Request) -> Response:
    data, _ = await service.read_request(request)
    info = await run_in_threadpool(jpegtext.inspect, data, max_pixels=service.config.max_pixels)
    return JSONResponse(info.to_dict())


async def _models(service: _Service, request: Request) -> Response:
    describe = getattr(service.restorer, "describe", None)
    loaded = describe() if callable(describe) else {"model": service.restorer.name}
    return JSONResponse(json.loads(json.dumps(
        {"loaded": loaded, "models": [e.to_dict() for e in jpegtext.list_models()]},
        default=str)))


async def _health(service: _Service, request: Request) -> Response:
    return JSONResponse({
        "status": "ok", "version": jpegtext.__version__, "model": service.restorer.name,
        "busy": service.pool.active, "capacity": service.pool.capacity,
        "workers": service.pool.workers, "uptime_s": round(time.time() - service.started, 1),
        "token_required": service.config.token is not None,
        "max_request_bytes": service.config.max_request_bytes,
        "max_pixels": service.config.max_pixels, "timeout_s": service.config.timeout,
        "captioners": offered_captioners(), "max_bytes": encode_supports_max_bytes(),
    })


def _page(service: _Service, path: str) -> Callable[[Request], Awaitable[Response]]:
    body, media = service.pages[path]

    async def page(request: Request) -> Response:
        return Response(body, media_type=media, headers={"Cache-Control": "no-cache"})

    return page


class _SecurityHeaders:
    """Pure ASGI middleware adding :data:`SECURITY_HEADERS` to every response."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.raw = [(k.lower().encode(), v.encode()) for k, v in SECURITY_HEADERS.items()]

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Any) -> None:
            if message["type"] == "http.response.start":
                message = dict(message)
                message["headers"] = list(message.get("headers", [])) + self.raw
            await send(message)

        await self.app(scope, receive, send_with_headers)


def create_app(model: Any = None, *, device: str | None = None,
               config: ServeConfig | None = None) -> Starlette:
    """The service as an ASGI app, with the model loaded now (once).

    Args:
        model: a zoo name, a ``.safetensors`` path, or a loaded ``Restorer``; None = the
            default shipped model.
        device: ``cpu``, ``cuda``, ``cuda:N``; None = CUDA when available.
        config: limits and defaults; None = :class:`ServeConfig` ().

    Raises:
        ConfigError: an unknown model name or bad limits.
        WeightsError: the model file is missing, damaged or does not match its hash.
    """
    config = config or ServeConfig()
    if hasattr(model, "restore") and hasattr(model, "name"):
        restorer = model
    else:
        restorer = jpegtext.load_restorer(model, device=device)
    service = _Service(restorer, config)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        return _json_error(ServiceError(exc.status_code, str(exc.detail), "HTTPError",
                                        dict(exc.headers or {})))

    def ep(handler: Handler, auth: bool = True) -> Callable[[Request], Awaitable[Response]]:
        return _endpoint(service, handler, auth=auth)

    routes = [
        Route("/v1/restore", ep(_restore), methods=["POST"]),
        Route("/v1/encode", ep(_encode), methods=["POST"]),
        Route("/v1/inspect", ep(_inspect), methods=["POST"]),
        Route("/v1/models", ep(_models), methods=["GET"]),
        Route("/healthz", ep(_health, auth=False), methods=["GET"]),
    ] + [Route(path, _page(service, path), methods=["GET"]) for path in _PAGE_FILES]

    app = Starlette(routes=routes, exception_handlers={HTTPException: http_error},
                    lifespan=_lifespan(service))
    app.state.service = service
    app.add_middleware(_SecurityHeaders)
    return app


def _lifespan(service: _Service) -> Callable[[Any], Any]:
    @contextlib.asynccontextmanager
    async def lifespan(app: Any) -> Any:
        yield
        service.pool.shutdown()

    return lifespan
