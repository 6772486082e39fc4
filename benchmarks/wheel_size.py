"""Size of jpegtext's wheel: ``pip wheel . --no-deps``, its biggest members, the 15 MB target.

    python benchmarks/wheel_size.py [--out benchmarks/results/wheel_size.json]

Builds the wheel from this checkout into a temporary folder (pip's build isolation fetches
setuptools and wheel from the package index), prints its size and the members over 100 kB and
writes them as JSON. Exit status 1 when the wheel is over the target.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TARGET_BYTES = 15 * 10**6


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "wheel_size.json")
    args = ap.parse_args()
    # setuptools builds in build/ and keeps what an earlier build left there (old weights
    # included): build from a clean state and remove what this build made
    made = [REPO / "build", REPO / "jpegtext.egg-info"]
    stale = [p for p in made if p.exists()]
    if stale:
        print(f"note: {', '.join(str(p) for p in stale)} left by an earlier build may add files "
              "to the wheel; delete them for a clean measurement", file=sys.stderr)
    made = [p for p in made if p not in stale]
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "pip", "wheel", ".", "--no-deps", "-q", "-w", tmp]
        t0 = time.perf_counter()
        try:
            subprocess.run(cmd, cwd=REPO, check=True)
        finally:
            for p in made:
                shutil.rmtree(p, ignore_errors=True)
        seconds = time.perf_counter() - t0
        (wheel,) = Path(tmp).glob("jpegtext-*.whl")
        size = wheel.stat().st_size
        with zipfile.ZipFile(wheel) as zf:
            infos = zf.infolist()
            big = sorted(((i.filename, i.file_size, i.compress_size) for i in infos
                          if i.file_size > 100_000), key=lambda t: -t[1])
            weights = sorted(i.filename for i in infos if i.filename.endswith(".safetensors"))
    doc = {
        "command": "pip wheel . --no-deps -w DIR",
        "wheel": wheel.name,
        "bytes": size,
        "mb": round(size / 1e6, 2),
        "target_bytes": TARGET_BYTES,
        "within_target": size <= TARGET_BYTES,
        "members": len(infos),
        "safetensors_in_wheel": weights,
        "members_over_100kB": [{"name": n, "bytes": b, "compressed": c} for n, b, c in big],
        "build_seconds": round(seconds, 1),
    }
    print(f"{wheel.name}: {size:,} bytes ({size / 1e6:.2f} MB; target <= {TARGET_BYTES / 1e6:.0f}"
          f" MB: {'met' if doc['within_target'] else 'MISSED'}), {len(infos)} members, built in "
          f"{seconds:.1f} s")
    for n, b, c in big:
        print(f"  {n}: {b:,} bytes ({c:,} compressed)")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc, indent=2) + "\n")
    return 0 if doc["within_target"] else 1


if __name__ == "__main__":
    sys.exit(main())
