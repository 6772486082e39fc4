"""``jpegtext serve``: run the receiver as an HTTP service with its comparison page.

Starlette, uvicorn and the model are imported inside the command, so ``jpegtext --help`` stays
instant and works without the ``serve`` extra.
"""

from __future__ import annotations

import ipaddress
import signal
import socket

import click

__all__ = ["is_loopback", "serve"]


def is_loopback(host: str) -> bool:
    """Whether ``host`` (an address or a name) only ever binds the loopback interface."""
    if host.lower() in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None)
    except OSError:
        return False
    return bool(infos) and all(ipaddress.ip_address(i[4][0]).is_loopback for i in infos)


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to bind; a non-loopback one needs --token (or --insecure).")
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True,
              help="TCP port (0 = any free port, printed at start).")
@click.option("--model", default=None,
              help="Zoo name (see `jpegtext models`) or a .safetensors file; default: the "
                   "best shipped model.")
@click.option("--device", default=None, help="cpu, cuda, cuda:N (default: cuda if available).")
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True,
              help="Restorations running at the same time (threads sharing one model).")
@click.option("--queue", type=click.IntRange(min=0), default=8, show_default=True,
              help="Jobs that may wait for a worker; beyond that requests get 503.")
@click.option("--max-request-bytes", type=click.IntRange(min=1), default=20_000_000,
              show_default=True, help="Largest request body (413 beyond).")
@click.option("--max-pixels", type=click.IntRange(min=1), default=16_000_000,
              show_default=True, help="Largest image in pixels (decompression-bomb guard).")
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True), default=120.0,
              show_default=True, help="Seconds a job may take, queue included (504 beyond).")
@click.option("--read-timeout", type=click.FloatRange(min=0, min_open=True), default=30.0,
              show_default=True,
              help="Seconds a client may take to send its request body (408 beyond).")
@click.option("--token", envvar="JPEGTEXT_SERVE_TOKEN", default=None,
              help="Require 'Authorization: Bearer TOKEN' on /v1/* (or set "
                   "JPEGTEXT_SERVE_TOKEN, which keeps it out of the process list).")
@click.option("--captioner", default=None,
              help="Captioner for /v1/encode when the client names none (default: BLIP base "
                   "when cached, else builtin).")
@click.option("--insecure", is_flag=True,
              help="Allow a non-loopback --host without --token (anyone who can reach it can "
                   "use it).")
def serve(host: str, port: int, model: str | None, device: str | None, workers: int,
          queue: int, max_request_bytes: int, max_pixels: int, timeout: float,
          read_timeout: float, token: str | None, captioner: str | None, insecure: bool) -> None:
    """Serve restorations over HTTP, with a comparison page at http://HOST:PORT/.

    Endpoints: POST /v1/restore (JPEG -> PNG), POST /v1/encode (image -> jpegtext JPEG),
    POST /v1/inspect (JPEG -> JSON), GET /v1/models, GET /healthz. The model is loaded once at
    start; restorations run in a bounded pool (--workers running, --queue waiting; a full
    queue answers 503 with Retry-After). Binds to 127.0.0.1 by default.
    """
    if token is not None and not token.strip():
        raise click.BadParameter("the token must not be empty", param_hint="--token")
    if not is_loopback(host) and token is None and not insecure:
        raise click.UsageError(
            f"refusing to serve on {host} (not loopback) without --token: anyone who can reach "
            "it could use it; give --token (or JPEGTEXT_SERVE_TOKEN), or --insecure to accept "
            "that")

    from jpegtext.serve import require_serve_dependencies

    require_serve_dependencies()
    import uvicorn

    from jpegtext.errors import ConfigError
    from jpegtext.serve.app import ServeConfig, create_app

    try:
        config = ServeConfig(workers=workers, queue=queue, max_request_bytes=max_request_bytes,
                             max_pixels=max_pixels, timeout=timeout,
                             read_timeout=read_timeout, token=token,
                             captioner=captioner)
        app = create_app(model, device=device, config=config)
    except ConfigError as exc:
        raise click.BadParameter(str(exc)) from None
    service = app.state.service
    restorer = service.restorer
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host.strip("[]"), port))
    except OSError as exc:
        sock.close()
        raise click.ClickException(f"cannot bind {host}:{port}: {exc.strerror or exc}") from None
    bound = sock.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    click.echo(f"jpegtext serve: model {restorer.name} on {restorer.device}, {workers} worker(s)"
               f", queue {queue}, {'token required' if token else 'no token'}; "
               f"http://{shown}:{bound}/ (Ctrl+C stops)", err=True)
    server = uvicorn.Server(uvicorn.Config(
        app, log_level="warning", access_log=False, server_header=False,
        limit_concurrency=max(64, 4 * service.pool.capacity), timeout_keep_alive=5))

    def stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    # uvicorn shuts down gracefully on SIGINT/SIGTERM, then re-raises the signal: make both end
    # here, with status 0 (a stopped service is not an error)
    signal.signal(signal.SIGTERM, stop)
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:
        pass
    finally:
        sock.close()
    click.echo("jpegtext serve: stopped", err=True)
