"""Seeded fuzzing of the readers: truncations, random mutations, single-byte payload edits.

Shared by ``tests/test_fuzz.py`` (fast tier) and ``benchmarks/fuzz.py`` (the longer run). Every
case goes through :func:`jpegtext.inspect`, :func:`jpegtext.read_caption` and
:func:`jpegtext.codec.decode_jpeg`; a case's outcome is one of

- ``error``: a documented error was raised (``InvalidJpegError``, ``InvalidImageError``,
  ``PayloadError``), by every reader that did not succeed;
- ``same``: the payload read back (caption, captioner, quality) is the one written;
- ``lost``: the file reads as holding no caption (only possible when a mutation removes or
  rewrites whole segments: never for a single-byte edit);
- ``changed``: a different payload was returned: a failure;
- ``undocumented``: another exception: a failure;
- ``slow``: a reader took longer than the time bound: a failure (a hang).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np

import jpegtext
from jpegtext.codec import MAGIC, decode_jpeg, walk_segments
from jpegtext.codec.markers import COM
from jpegtext.codec.xmp import is_xmp_segment
from jpegtext.errors import InvalidImageError, PayloadError

__all__ = [
    "DOCUMENTED",
    "FuzzReport",
    "check_case",
    "expected_payload",
    "make_file",
    "mutations",
    "payload_edits",
    "payload_span",
    "run_cases",
    "truncations",
]

#: The errors the readers document for bad input (InvalidJpegError is an InvalidImageError).
DOCUMENTED = (InvalidImageError, PayloadError)
#: Longest a reader may take on one case of these small files before it counts as a hang.
TIME_BOUND_S = 2.0


def make_file(*, xmp: bool = False, com: bool = True, width: int = 384, height: int = 256) -> bytes:
    """A real jpegtext file: the synthetic sample, QF 1, captioned by the built-in captioner.

    Args:
        xmp: also write the XMP mirror.
        com: keep the COM payload (False with ``xmp``: a file whose only caption is the mirror).
    """
    from jpegtext.sample import make_sample_image

    data = jpegtext.encode(make_sample_image(width, height), 1, captioner="builtin", xmp=xmp)
    if not com:
        segs = walk_segments(data)
        ours = [s for s in segs if s.marker == COM and s.data.startswith(MAGIC)]
        for seg in reversed(ours):
            data = data[: seg.offset] + data[seg.end :]
    return data


def payload_span(data: bytes, *, xmp: bool = False) -> tuple[int, int]:
    """Byte range [start, end) of the payload segment (marker, length and data) in ``data``."""
    for seg in walk_segments(data):
        if xmp and is_xmp_segment(seg):
            return seg.offset, seg.end
        if not xmp and seg.marker == COM and seg.data.startswith(MAGIC):
            return seg.offset, seg.end
    raise ValueError("no payload segment")


@dataclass
class FuzzReport:
    """Counts of outcomes, and the first few failures with their case names."""

    counts: Counter = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)
    cases: int = 0
    slowest_s: float = 0.0

    def add(self, name: str, outcome: str, detail: str) -> None:
        self.cases += 1
        self.counts[outcome] += 1
        if outcome in ("changed", "undocumented", "slow") and len(self.failures) < 20:
            self.failures.append(f"{name}: {outcome}: {detail}")

    @property
    def failed(self) -> int:
        return sum(self.counts[k] for k in ("changed", "undocumented", "slow"))


def _payload_of(info: jpegtext.JpegInfo) -> tuple[object, ...] | None:
    if info.caption is None:
        return None
    return (info.caption, info.captioner, info.payload_quality)


def check_case(data: bytes, expected: tuple[object, ...], *, decode: bool = True,
               time_bound_s: float = TIME_BOUND_S) -> tuple[str, str, float]:
    """Run the readers on ``data``; returns (outcome, detail, seconds of the slowest reader)."""
    outcomes: list[str] = []
    details: list[str] = []
    slowest = 0.0
    readers: list[tuple[str, Callable[[bytes], object]]] = [
        ("inspect", jpegtext.inspect), ("read_caption", jpegtext.read_caption)]
    if decode:
        readers.append(("decode_jpeg", decode_jpeg))
    for name, reader in readers:
        t0 = time.perf_counter()
        try:
            result = reader(data)
        except DOCUMENTED as exc:
            outcomes.append("error")
            details.append(f"{name}: {type(exc).__name__}: {str(exc)[:80]}")
        except Exception as exc:  # noqa: BLE001 - what the fuzzer looks for
            outcomes.append("undocumented")
            details.append(f"{name}: {type(exc).__name__}: {exc}")
        else:
            if name == "inspect":
                got = _payload_of(result)  # type: ignore[arg-type]
                outcomes.append("lost" if got is None else "same" if got == expected else
                                "changed")
                details.append(f"inspect: {got!r:.120}")
            elif name == "read_caption":
                outcomes.append("lost" if result is None else "same" if result == expected[0]
                                else "changed")
                details.append(f"read_caption: {result!r:.120}")
            else:
                assert isinstance(result, np.ndarray) and result.dtype == np.uint8
        seconds = time.perf_counter() - t0
        slowest = max(slowest, seconds)
        if seconds > time_bound_s:
            outcomes.append("slow")
            details.append(f"{name} took {seconds:.1f} s")
    for worst in ("undocumented", "slow", "changed", "lost", "same", "error"):
        if worst in outcomes:
            return worst, "; ".join(details), slowest
    raise AssertionError("no reader ran")


def truncations(data: bytes) -> Iterator[tuple[str, bytes]]:
    """Every proper prefix of ``data`` (offsets 0 .. len - 1)."""
    for n in range(len(data)):
        yield f"truncate@{n}", data[:n]


def mutations(data: bytes, count: int, seed: int) -> Iterator[tuple[str, bytes]]:
    """``count`` seeded random mutations of ``data``, each different from it: byte sets, bit
    flips, deletions, insertions, duplicated ranges and injected 0xFF bytes; half of them aimed
    at the headers (everything before the scan data, where the payload lives)."""
    rng = np.random.default_rng(seed)
    header_end = walk_segments(data)[-1].end
    kinds = ("set", "flip", "delete", "insert", "duplicate", "marker")
    made = i = 0
    while made < count:
        i += 1
        kind = kinds[int(rng.integers(len(kinds)))]
        limit = header_end if rng.random() < 0.5 else len(data)
        pos = int(rng.integers(limit))
        buf = bytearray(data)
        if kind == "set":
            n = int(rng.integers(1, 5))
            buf[pos : pos + n] = rng.integers(0, 256, n, dtype=np.uint8).tobytes()
        elif kind == "flip":
            buf[pos] ^= 1 << int(rng.integers(8))
        elif kind == "delete":
            del buf[pos : pos + int(rng.integers(1, 17))]
        elif kind == "insert":
            buf[pos:pos] = rng.integers(0, 256, int(rng.integers(1, 17)), dtype=np.uint8).tobytes()
        elif kind == "duplicate":
            n = int(rng.integers(1, 65))
            buf[pos:pos] = data[pos : pos + n]
        else:
            buf[pos] = 0xFF
        out = bytes(buf)
        if out != data:  # a no-op (e.g. a byte set to its own value) is drawn again
            made += 1
            yield f"mutation#{i}:{kind}@{pos}", out


def payload_edits(data: bytes, *, values: int = 255, seed: int = 0,
                  xmp: bool = False) -> Iterator[tuple[str, bytes]]:
    """Single-byte changes at every offset of the payload segment (marker, length and data).

    Args:
        values: how many other byte values to try per offset: 255 = all of them, fewer = the 8
            single-bit flips plus seeded random values.
        xmp: edit the XMP mirror segment instead of the COM payload.
    """
    rng = np.random.default_rng(seed)
    start, end = payload_span(data, xmp=xmp)
    for pos in range(start, end):
        old = data[pos]
        if values >= 255:
            news = [v for v in range(256) if v != old]
        else:
            flips = [old ^ (1 << b) for b in range(8)]
            rest = [v for v in rng.permutation(256).tolist() if v != old and v not in flips]
            news = (flips + rest)[:values]
        for new in news:
            yield f"edit@{pos}:{old:02x}->{new:02x}", data[:pos] + bytes([new]) + data[pos + 1 :]


def run_cases(cases: Iterator[tuple[str, bytes]], expected: tuple[object, ...], *,
              decode: bool = True, report: FuzzReport | None = None) -> FuzzReport:
    """Check every case; returns the counts."""
    report = report if report is not None else FuzzReport()
    for name, data in cases:
        outcome, detail, seconds = check_case(data, expected, decode=decode)
        report.slowest_s = max(report.slowest_s, seconds)
        report.add(name, outcome, detail)
    return report


def expected_payload(data: bytes) -> tuple[object, ...]:
    """(caption, captioner, quality) of an intact file."""
    payload = _payload_of(jpegtext.inspect(data))
    assert payload is not None
    return payload

