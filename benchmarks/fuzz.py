"""The longer fuzz run: truncations, >= 20,000 seeded mutations and every single-byte payload edit.

Runs the same harness as ``tests/test_fuzz.py`` (``tests/fuzzing.py``) with more cases: every
truncation offset, N seeded mutations (default 20,000) through inspect / read_caption /
decode_jpeg, and all 255 other values at every byte of the COM payload segment (and of the XMP
mirror, with and without the COM payload). Prints the counts and writes
``benchmarks/results/fuzz.json``.

    python benchmarks/fuzz.py                    # ~2-4 minutes on one core
    python benchmarks/fuzz.py --mutations 50000 --seed 7
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mutations", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "fuzz.json")
    args = parser.parse_args(argv)
    logging.disable(logging.WARNING)  # the damaged-mirror warnings are expected, by thousands

    import PIL
    from fuzzing import (
        TIME_BOUND_S,
        expected_payload,
        make_file,
        mutations,
        payload_edits,
        run_cases,
        truncations,
    )

    import jpegtext

    data = make_file()
    expected = expected_payload(data)
    runs = {}
    plan = [
        ("truncations", lambda: run_cases(truncations(data), expected)),
        ("mutations", lambda: run_cases(mutations(data, args.mutations, args.seed), expected)),
        ("payload_single_byte_edits",
         lambda: run_cases(payload_edits(data, values=255), expected, decode=False)),
    ]
    with_xmp = make_file(xmp=True)
    xmp_only = make_file(xmp=True, com=False)
    plan.append(("xmp_mirror_edits_with_com",
                 lambda: run_cases(payload_edits(with_xmp, values=255, xmp=True),
                                   expected_payload(with_xmp), decode=False)))
    plan.append(("xmp_only_mirror_edits",
                 lambda: run_cases(payload_edits(xmp_only, values=255, xmp=True),
                                   (expected_payload(xmp_only)[0], None, None), decode=False)))
    failed = 0
    for name, job in plan:
        t0 = time.perf_counter()
        report = job()
        seconds = time.perf_counter() - t0
        failed += report.failed
        runs[name] = {"cases": report.cases, **{k: report.counts.get(k, 0) for k in
                      ("error", "same", "lost", "changed", "undocumented", "slow")},
                      "slowest_case_s": round(report.slowest_s, 4), "seconds": round(seconds, 1),
                      "failures": report.failures}
        r = runs[name]
        print(f"{name:28s} {r['cases']:7,d} cases: {r['error']:7,d} documented errors, "
              f"{r['same']:6,d} same payload, {r['lost']:4d} lost, {r['changed']} changed, "
              f"{r['undocumented']} undocumented, {r['slow']} slow "
              f"(slowest {r['slowest_case_s'] * 1000:.1f} ms, {seconds:.0f} s)", flush=True)
    doc = {
        "file": {"bytes": len(data), "what": "jpegtext.sample 384x256, QF 1, builtin caption",
                 "caption": expected[0]},
        "seed": args.seed, "mutations": args.mutations, "time_bound_s": TIME_BOUND_S,
        "jpegtext": jpegtext.__version__, "pillow": PIL.__version__,
        "python": platform.python_version(),
        "command": " ".join(["python", "benchmarks/fuzz.py", *(argv or sys.argv[1:])]),
        "runs": runs,
        "total": {k: sum(r[k] for r in runs.values())
                  for k in ("cases", "changed", "undocumented", "slow", "lost")},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
