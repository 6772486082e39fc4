"""Text control with its standard error, for one model of a ``text_control_flowers.py`` file.

    python benchmarks/text_control_stats.py benchmarks/results/text_control_flowers_test_all.json \\
        --model tgjar-text-v15 --against tgjar-text-v14 --bound 15 \\
        --out benchmarks/results/text_control_flowers_test_all_stats.json

The mean region shift over the file's colour pairs, with the image-cluster bootstrap interval of
``goal_uncertainty.py`` (10,000 draws, seed 0: the pairs of one image move together); with
``--against`` another model of the same file (or ``--against-file`` another file), the paired
difference on the same (image, from, to) pairs; with ``--bound``, the goal's verdict as
``goal_uncertainty.py`` gives it (met on the mean; clear when the 95 % interval excludes the bound).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import goal_uncertainty  # noqa: E402


def stats(path: Path, model: str | None, against: str | None = None,
          against_file: Path | None = None, bound: float | None = None) -> dict:
    out = {"file": str(path), "model": model, "control": goal_uncertainty.control(path, model=model)}
    if bound is not None:  # the verdict as goal_uncertainty gives it (met on the mean, clear)
        out["goal"] = goal_uncertainty._goal(f"text control of {model or 'the first model'}, levels",
                                             out["control"], bound, upper=False)
    if against is not None or against_file is not None:
        out["against"] = {"file": str(against_file or path), "model": against}
        out["paired"] = goal_uncertainty.control(path, against_file or path, model=model,
                                                 reference_model=against)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("file", type=Path, help="text_control_flowers.py's JSON")
    ap.add_argument("--model", help="which model of the file (its --model entry or file stem)")
    ap.add_argument("--against", help="another model of the same file, paired on the same pairs")
    ap.add_argument("--against-file", type=Path, help="another text control file to pair with")
    ap.add_argument("--bound", type=float, help="a goal on the mean, e.g. 15")
    ap.add_argument("--out", type=Path, help="write the result as JSON")
    args = ap.parse_args()
    res = stats(args.file, args.model, args.against, args.against_file, args.bound)
    c = res["control"]
    print(f"{args.model or 'first model'}: {c['mean']:+.2f} levels (SE {c['se']:.2f}, 95 % "
          f"[{c['ci95'][0]:+.2f}, {c['ci95'][1]:+.2f}], {c['n_images']} images, {c['n_pairs']} pairs)")
    if "paired" in res:
        p = res["paired"]
        print(f"  against {args.against or args.against_file}: {p['mean']:+.2f} levels (SE "
              f"{p['se']:.2f}, 95 % [{p['ci95'][0]:+.2f}, {p['ci95'][1]:+.2f}], {p['n_pairs']} pairs)")
    if args.out:
        args.out.write_text(json.dumps(res, indent=1) + "\n")
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
