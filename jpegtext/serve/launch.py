"""Start ``jpegtext serve`` in a child process on a free loopback port (tests, benchmarks, demos).

::

    with launch_server(["--model", "tgjar-text-v15"]) as server:
        urllib.request.urlopen(server.url + "healthz")

Uses only the standard library, so a client script needs nothing else.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

__all__ = ["ServerProcess", "launch_server"]

_URL = re.compile(r"http://(\S+?):(\d+)/")


@dataclass
class ServerProcess:
    """A running ``jpegtext serve`` child.

    Attributes:
        process: the child process.
        url: its base URL, ending in ``/``.
        log: the lines it wrote to stderr so far.
    """

    process: subprocess.Popen
    url: str
    log: list[str] = field(default_factory=list)

    @property
    def pid(self) -> int:
        return self.process.pid

    def rss_bytes(self) -> int | None:
        """The child's resident memory (Linux ``/proc``), or None where unavailable."""
        try:
            with open(f"/proc/{self.pid}/status", encoding="ascii") as fh:
                for line in fh:
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1]) * 1024
        except OSError:
            return None
        return None


@contextlib.contextmanager
def launch_server(args: Sequence[str] = (), *, python: str | None = None,
                  start_timeout: float = 120.0, env: dict[str, str] | None = None
                  ) -> Iterator[ServerProcess]:
    """Run ``python -m jpegtext serve --host 127.0.0.1 --port 0 ARGS`` until the block ends.

    Args:
        args: more ``jpegtext serve`` options (``--model``, ``--workers`` ...).
        python: the interpreter (default: this one).
        start_timeout: seconds to wait for ``/healthz`` to answer.
        env: the child's environment (default: this one's).

    Raises:
        RuntimeError: the server exited or did not become healthy in time (its log is quoted).
    """
    cmd = [python or sys.executable, "-m", "jpegtext", "serve", "--host", "127.0.0.1",
           "--port", "0", *args]
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, env=env or dict(os.environ))
    log: list[str] = []
    found = threading.Event()
    url: list[str] = []

    def pump() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            log.append(line.rstrip("\n"))
            match = _URL.search(line)
            if match and not url:
                url.append(f"http://{match.group(1)}:{match.group(2)}/")
                found.set()
        found.set()

    threading.Thread(target=pump, daemon=True).start()
    try:
        deadline = time.monotonic() + start_timeout
        if not found.wait(start_timeout) or not url:
            raise RuntimeError("jpegtext serve did not start:\n" + "\n".join(log[-20:]))
        server = ServerProcess(proc, url[0], log)
        while True:
            try:
                with urllib.request.urlopen(server.url + "healthz", timeout=5) as res:
                    if res.status == 200:
                        break
            except (urllib.error.URLError, OSError):
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("jpegtext serve is not healthy:\n" + "\n".join(log[-20:]))
            time.sleep(0.1)
        yield server
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)  # uvicorn's graceful shutdown
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
