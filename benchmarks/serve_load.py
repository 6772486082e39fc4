"""Load test of ``jpegtext serve``: N concurrent clients on loopback, good and bad requests.

Starts the service (the default shipped model unless ``--model``) on a free 127.0.0.1 port,
runs ``--clients`` threads for ``--duration`` seconds (and at most ``--max-requests`` requests
in all), each sending a seeded mix of

- good: ``/v1/restore`` of jpegtext files at QF 1/5/10 (stored caption, or a caption override)
  and ``/v1/encode`` of a PNG with a given caption;
- bad: truncated and non-image bodies, an empty body, a body over the limit, a bad ``ensemble``,
  a path as captioner, an unknown route.

Every good reply is checked (a PNG of the right size whose iTXt caption is the expected one; a
JPEG whose stored caption and QF are the requested ones); a 503 (queue full, by design) is
counted apart and must carry ``Retry-After``; every bad request must get a 4xx. Reports the
throughput, latency percentiles, the 503 share, the errors, the server's RSS before/after and
``/healthz`` afterwards; prints a summary and writes JSON::

    python benchmarks/serve_load.py                      # 8 clients x 60 s, default model
    python benchmarks/serve_load.py --clients 2 --duration 10 --out /tmp/load.json
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import random
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from PIL import Image

import jpegtext
from jpegtext.sample import make_sample_image
from jpegtext.serve.launch import launch_server

RESULTS = Path(__file__).resolve().parent / "results"
MAX_BODY = 1_000_000  # the server's --max-request-bytes here; the "too large" case sends more


@dataclass
class Case:
    """One kind of request and what its reply must be."""

    name: str
    good: bool
    method: str
    path: str
    body: bytes | None = None
    params: dict[str, str] = field(default_factory=dict)
    content_type: str = "image/jpeg"
    expect: dict[str, Any] = field(default_factory=dict)  # for good replies


def build_cases(side: tuple[int, int]) -> tuple[list[Case], list[Case]]:
    """The good and bad requests (all inputs synthetic and deterministic)."""
    width, height = side
    good: list[Case] = []
    for seed, quality in ((1, 1), (2, 5), (3, 10)):
        caption = f"sample scene {seed}: blue sky at the top, green hills, red flowers"
        data = jpegtext.encode(make_sample_image(width, height, seed=seed), quality,
                               caption=caption)
        good.append(Case(f"restore_q{quality}", True, "POST", "/v1/restore", data,
                         expect={"kind": "png", "caption": caption, "size": (width, height),
                                 "quality": quality}))
    override = "grey sky over dark water"
    good.append(Case("restore_caption_override", True, "POST", "/v1/restore", good[0].body,
                     {"caption": override},
                     expect={"kind": "png", "caption": override, "size": (width, height),
                             "quality": 1}))
    buf = io.BytesIO()
    make_sample_image(width, height, seed=7).save(buf, format="PNG")
    good.append(Case("encode_q5", True, "POST", "/v1/encode", buf.getvalue(),
                     {"quality": "5", "caption": "a sample photo"}, "image/png",
                     expect={"kind": "jpeg", "caption": "a sample photo", "quality": 5}))
    jpeg = good[0].body
    assert jpeg is not None
    bad = [
        Case("truncated_jpeg", False, "POST", "/v1/restore", jpeg[: len(jpeg) // 2]),
        Case("not_an_image", False, "POST", "/v1/restore", b"GIF89a this is not a JPEG" * 20),
        Case("empty_body", False, "POST", "/v1/restore", b""),
        Case("too_large", False, "POST", "/v1/restore", jpeg + b"\0" * (MAX_BODY + 1)),
        Case("bad_ensemble", False, "POST", "/v1/restore", jpeg, {"ensemble": "3"}),
        Case("path_captioner", False, "POST", "/v1/encode", jpeg, {"captioner": "/etc"}),
        Case("garbage_encode", False, "POST", "/v1/encode", b"\x89PNG\r\n\x1a\nbroken"),
        Case("unknown_route", False, "GET", "/v1/nothing"),
    ]
    return good, bad


def check_reply(case: Case, res: httpx.Response) -> str | None:
    """None when the reply is what ``case`` must get, else what is wrong."""
    if not case.good:
        return None if 400 <= res.status_code < 500 else f"status {res.status_code}, not 4xx"
    if res.status_code == 503:
        return None if res.headers.get("retry-after") else "503 without Retry-After"
    if res.status_code != 200:
        return f"status {res.status_code}: {res.text[:200]}"
    exp = case.expect
    if exp["kind"] == "png":
        try:
            img = Image.open(io.BytesIO(res.content))
            img.load()
        except Exception as exc:  # noqa: BLE001 - any decode failure is a wrong reply
            return f"not a PNG: {exc}"
        if img.format != "PNG" or img.size != exp["size"] or img.mode != "RGB":
            return f"wrong PNG: {img.format} {img.size} {img.mode}"
        if img.info.get("Description") != exp["caption"]:
            return f"wrong caption {img.info.get('Description')!r}"
        if res.headers.get("x-jpegtext-quality") != str(exp["quality"]):
            return f"wrong quality header {res.headers.get('x-jpegtext-quality')}"
        return None
    try:
        info = jpegtext.inspect(res.content)
    except Exception as exc:  # noqa: BLE001
        return f"not a jpegtext JPEG: {exc}"
    if info.caption != exp["caption"] or info.quality != exp["quality"]:
        return f"wrong JPEG: caption {info.caption!r}, QF {info.quality}"
    return None


@dataclass
class Record:
    case: str
    good: bool
    status: int | None
    seconds: float
    problem: str | None
    server_ms: float | None = None  # X-Jpegtext-Time-Ms: the job itself, without queueing


def client_loop(url: str, cases_good: list[Case], cases_bad: list[Case], bad_share: float,
                seed: int, deadline: float, budget: list[int], lock: threading.Lock,
                out: list[Record], backoff: bool) -> None:
    rng = random.Random(seed)
    records: list[Record] = []
    with httpx.Client(base_url=url, timeout=120) as client:
        while time.monotonic() < deadline:
            with lock:
                if budget[0] <= 0:
                    break
                budget[0] -= 1
            case = rng.choice(cases_bad if rng.random() < bad_share else cases_good)
            start = time.perf_counter()
            try:
                if case.method == "GET":
                    res = client.get(case.path)
                else:
                    res = client.post(case.path, content=case.body, params=case.params,
                                      headers={"Content-Type": case.content_type})
                seconds = time.perf_counter() - start
                problem = check_reply(case, res)
                status: int | None = res.status_code
                job_ms = res.headers.get("x-jpegtext-time-ms")
            except httpx.HTTPError as exc:
                seconds, status, job_ms = time.perf_counter() - start, None, None
                problem = f"{type(exc).__name__}: {exc}"
            records.append(Record(case.name, case.good, status, seconds, problem,
                                  float(job_ms) if job_ms else None))
            if backoff and status == 503 and not problem:  # a polite client waits as told
                wait = float(res.headers["retry-after"])
                time.sleep(max(0.0, min(wait, deadline - time.monotonic())))
    with lock:
        out.extend(records)


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    s = sorted(values)
    k = (len(s) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--duration", type=float, default=60.0, help="seconds of load")
    ap.add_argument("--max-requests", type=int, default=20_000, help="bound on all requests")
    ap.add_argument("--bad-share", type=float, default=0.3)
    ap.add_argument("--size", default="384x256", help="good images, WxH")
    ap.add_argument("--model", default=None, help="default: the shipped default model")
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--queue", type=int, default=4)
    ap.add_argument("--no-backoff", action="store_true",
                    help="retry at once after a 503 instead of waiting Retry-After (stress)")
    ap.add_argument("--out", type=Path, default=RESULTS / "serve_load.json")
    args = ap.parse_args()
    if not 1 <= args.clients <= 64 or not 0 < args.duration <= 600:
        ap.error("--clients 1..64 and --duration up to 600 s (a bounded test)")
    load_before = _loadavg()
    side = tuple(int(v) for v in args.size.split("x"))
    good, bad = build_cases(side)  # type: ignore[arg-type]
    server_args = ["--workers", str(args.workers), "--queue", str(args.queue),
                   "--max-request-bytes", str(MAX_BODY), "--device", "cpu"]
    if args.model:
        server_args += ["--model", args.model]
    with launch_server(server_args) as server:
        rss_start = server.rss_bytes()
        with httpx.Client(base_url=server.url, timeout=120) as c:  # warm-up, one per case
            for case in good:
                res = c.post(case.path, content=case.body, params=case.params,
                             headers={"Content-Type": case.content_type})
                problem = check_reply(case, res)
                if problem:
                    sys.exit(f"warm-up {case.name}: {problem}")
            model = c.get("/healthz").json()["model"]
        rss_before = server.rss_bytes()
        records: list[Record] = []
        lock = threading.Lock()
        budget = [args.max_requests]
        start = time.monotonic()
        deadline = start + args.duration
        threads = [threading.Thread(target=client_loop, args=(
            server.url, good, bad, args.bad_share, 1000 + i, deadline, budget, lock, records,
            not args.no_backoff))
            for i in range(args.clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.monotonic() - start
        rss_after = server.rss_bytes()
        with httpx.Client(base_url=server.url, timeout=30) as c:
            health = c.get("/healthz")
            health_ok = health.status_code == 200 and health.json().get("status") == "ok"
            busy_after = health.json().get("busy")

    good_recs = [r for r in records if r.good]
    bad_recs = [r for r in records if not r.good]
    served = [r for r in good_recs if r.status == 200 and r.problem is None]
    rejected = [r for r in good_recs if r.status == 503]
    good_failed = [r for r in good_recs if r.problem is not None]
    bad_failed = [r for r in bad_recs if r.problem is not None]
    restore_lat = [r.seconds for r in served if r.case.startswith("restore")]
    mb = 1024 * 1024

    def ms(v: float | None) -> float | None:
        return None if v is None else round(v * 1000, 1)

    by_case: dict[str, dict[str, int]] = {}
    for r in records:
        by_case.setdefault(r.case, {})
        key = str(r.status)
        by_case[r.case][key] = by_case[r.case].get(key, 0) + 1
    growth = (rss_after - rss_before) / mb if rss_after and rss_before else None
    result = {
        "command": "python " + " ".join(sys.argv),
        "model": model, "clients": args.clients, "duration_s": round(elapsed, 1),
        "server": {"workers": args.workers, "queue": args.queue,
                   "max_request_bytes": MAX_BODY},
        "image_size": list(side), "bad_share": args.bad_share,
        "clients_wait_retry_after": not args.no_backoff,
        "requests": len(records), "good_requests": len(good_recs), "bad_requests": len(bad_recs),
        "throughput_rps": round(len(records) / elapsed, 2),
        "good_served_rps": round(len(served) / elapsed, 2),
        "latency_ms_good_200": {"p50": ms(percentile([r.seconds for r in served], 0.5)),
                                "p95": ms(percentile([r.seconds for r in served], 0.95)),
                                "p99": ms(percentile([r.seconds for r in served], 0.99))},
        "latency_ms_restore_200": {"p50": ms(percentile(restore_lat, 0.5)),
                                   "p95": ms(percentile(restore_lat, 0.95)),
                                   "p99": ms(percentile(restore_lat, 0.99))},
        "server_job_ms_restore": {"p50": percentile(
            [r.server_ms for r in served if r.case.startswith("restore") and r.server_ms], 0.5)},
        "latency_ms_bad": {"p50": ms(percentile([r.seconds for r in bad_recs], 0.5)),
                           "p99": ms(percentile([r.seconds for r in bad_recs], 0.99))},
        "share_503_of_good": round(len(rejected) / len(good_recs), 4) if good_recs else None,
        "good_failed": len(good_failed), "bad_not_4xx": len(bad_failed),
        "errors": [f"{r.case}: {r.problem}" for r in good_failed + bad_failed][:20],
        "by_case_status": by_case,
        "rss_mb": {"start": round(rss_start / mb, 1) if rss_start else None,
                   "before_load": round(rss_before / mb, 1) if rss_before else None,
                   "after_load": round(rss_after / mb, 1) if rss_after else None,
                   "growth": round(growth, 1) if growth is not None else None},
        "healthz_after": health_ok, "busy_after": busy_after,
        "machine": {"python": platform.python_version(), "cpu_count": _cpus(),
                    "platform": platform.platform(),
                    "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"),
                    "loadavg_before": load_before, "loadavg_after": _loadavg()},
    }
    result["targets"] = {
        "no_failed_good_request": not good_failed,
        "every_bad_input_4xx": not bad_failed,
        "rss_growth_below_100_mb": growth is not None and growth < 100,
        "healthz_ok_after": health_ok,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    _print(result)
    print(f"wrote {args.out}")


def _loadavg() -> list[float] | None:
    return [round(v, 2) for v in os.getloadavg()] if hasattr(os, "getloadavg") else None


def _cpus() -> int | None:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


def _print(r: dict[str, Any]) -> None:
    lat, rl = r["latency_ms_good_200"], r["latency_ms_restore_200"]
    print(f"jpegtext serve load test: {r['model']}, {r['clients']} clients x "
          f"{r['duration_s']} s, workers {r['server']['workers']}, queue {r['server']['queue']}, "
          f"{'clients wait Retry-After' if r['clients_wait_retry_after'] else 'no backoff'}")
    print(f"  requests {r['requests']} ({r['good_requests']} good, {r['bad_requests']} bad), "
          f"{r['throughput_rps']} req/s, good served {r['good_served_rps']} req/s")
    print(f"  good 200 latency p50/p95/p99: {lat['p50']} / {lat['p95']} / {lat['p99']} ms; "
          f"restore only: {rl['p50']} / {rl['p95']} / {rl['p99']} ms "
          f"(server job p50 {r['server_job_ms_restore']['p50']} ms)")
    print(f"  503 share of good: {r['share_503_of_good']}; good failed: {r['good_failed']}; "
          f"bad not 4xx: {r['bad_not_4xx']}")
    print(f"  server RSS MB: start {r['rss_mb']['start']}, before {r['rss_mb']['before_load']},"
          f" after {r['rss_mb']['after_load']} (growth {r['rss_mb']['growth']}); "
          f"/healthz after: {'ok' if r['healthz_after'] else 'FAILED'}")
    for name, ok in r["targets"].items():
        print(f"  {'met   ' if ok else 'MISSED'} {name}")
    for line in r["errors"]:
        print(f"  error: {line}")


if __name__ == "__main__":
    main()
