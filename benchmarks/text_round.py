"""Judge a text-model round by the pre-declared selection rule (flowers256 *val* only).

The six conditions of ``benchmarks/results/selection_text_rule_r46.md`` (rounds 46 on), against
v9 (``tgjar-text-wordpiece-r35-cpu``, whose val numbers are committed) and, for text control,
paired against v11 (round 42)::

    1. true human caption < empty caption, LPIPS at QF 1;
    2. human captions, QF 1 / 5 / 10: LPIPS at most +0.002 and PSNR at least -0.05 dB against v9;
    3. built-in captions, QF 1 / 5 / 10: LPIPS at most +0.005 against v9;
    4. text control on val, paired with v11 over the same (image, from, to) rows: mean
       difference at least 2 standard errors above zero;
    5. flickr8k_sub val, built-in captions, QF 1: caption < empty caption (LPIPS);
    6. human captions, QF 1: PSNR at least -0.025 dB against v9.

It first makes the val data (unless ``--judge-only``): ``benchmarks/select_text_model.sh``,
``benchmarks/text_control_flowers.py --split val`` and the flickr8k_sub val evaluation, all under
``TAG``; then prints each condition and writes ``benchmarks/results/text_round{TAG}.json``::

    python benchmarks/text_round.py examples/weights/tgjar-text-gpu-r48-text.safetensors --tag _r48text
    python benchmarks/text_round.py examples/weights/tgjar-text-wordpiece-r46-cpu.safetensors --tag _r46 --judge-only

A pass here is not a ship: the rule's held-out check comes after (see the rule files).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"
REFERENCE = "tgjar-text-wordpiece-r35-cpu"  # v9
TC_REFERENCE = "text_control_flowers_val_r42.json"  # v11
QUALITIES = ("1", "5", "10")
LPIPS_MARGIN, PSNR_MARGIN, BUILTIN_MARGIN, PSNR_MARGIN_QF1, TC_SE = 0.002, -0.05, 0.005, -0.025, 2.0


def _load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def _shifts(tc: dict[str, Any]) -> dict[tuple[str, str, str], float]:
    rows = tc["results"][0]["rows"]
    return {(r["file"], r["from"], r["to"]): float(r["shift_region"]) for r in rows}


def judge(name: str, human: dict[str, Any], builtin: dict[str, Any], tc: dict[str, Any],
          tc_ref: dict[str, Any], flickr: dict[str, Any], ref_human: dict[str, Any],
          ref_builtin: dict[str, Any], reference: str = REFERENCE) -> dict[str, Any]:
    """The conditions for model ``name`` from the summaries of its val runs (``results[qf][method]``
    rows of ``jpegtext evaluate``) and its text-control rows; returns numbers and verdicts."""
    h, b, rh, rb = (x["results"] for x in (human, builtin, ref_human, ref_builtin))
    out: dict[str, Any] = {"model": name, "reference": reference, "qf": {}}
    for q in QUALITIES:
        t, e = h[q][name], h[q][f"{name}:nocap"]
        out["qf"][q] = {
            "lpips": t["lpips"], "psnr": t["psnr_rgb"], "lpips_empty": e["lpips"],
            "lpips_builtin": b[q][name]["lpips"],
            "d_lpips": t["lpips"] - rh[q][reference]["lpips"],
            "d_psnr": t["psnr_rgb"] - rh[q][reference]["psnr_rgb"],
            "d_lpips_builtin": b[q][name]["lpips"] - rb[q][reference]["lpips"],
        }
    qf = out["qf"]
    a, r = _shifts(tc), _shifts(tc_ref)
    common = sorted(set(a) & set(r))
    diffs = [a[k] - r[k] for k in common]
    se = statistics.stdev(diffs) / math.sqrt(len(diffs)) if len(diffs) > 1 else math.inf
    mean = statistics.fmean(diffs) if diffs else -math.inf
    f = flickr["results"]["1"]
    out["text_control"] = {"mean": tc["results"][0]["mean_shift_region"], "paired": mean,
                           "se": se, "pairs": len(common)}
    out["flickr"] = {"caption": f[name]["lpips"], "empty": f[f"{name}:nocap"]["lpips"]}
    out["conditions"] = {
        "1": qf["1"]["lpips"] < qf["1"]["lpips_empty"],
        "2": all(qf[q]["d_lpips"] <= LPIPS_MARGIN and qf[q]["d_psnr"] >= PSNR_MARGIN
                 for q in QUALITIES),
        "3": all(qf[q]["d_lpips_builtin"] <= BUILTIN_MARGIN for q in QUALITIES),
        "4": bool(diffs) and mean >= TC_SE * se,
        "5": out["flickr"]["caption"] < out["flickr"]["empty"],
        "6": qf["1"]["d_psnr"] >= PSNR_MARGIN_QF1,
    }
    out["passes"] = all(out["conditions"].values())
    return out


def _make_val_data(model: Path, tag: str, shared: Path) -> None:
    env = {**os.environ, "TEXT": str(model), "TAG": tag, "PYTHON": sys.executable,
           "JPEGTEXT_SHARED": str(shared)}
    subprocess.run(["bash", str(REPO / "benchmarks" / "select_text_model.sh")], cwd=REPO,
                   env=env, check=True)
    subprocess.run([sys.executable, "benchmarks/text_control_flowers.py", "--split", "val",
                    "--root", str(shared / "data" / "flowers256"), "--model", str(model),
                    "--consistency", "off",
                    "--out", str(RESULTS / f"text_control_flowers_val{tag}.json")],
                   cwd=REPO, env=env, check=True, stdout=subprocess.DEVNULL)
    work = REPO / "runs" / f"flickr_val_builtin{tag}"
    subprocess.run([sys.executable, "-m", "jpegtext", "evaluate", str(shared / "data" / "flickr8k_sub"),
                    "--manifest", "captions.jsonl", "--split", "val", "--captioner", "builtin",
                    "--qualities", "1", "--metrics", "psnr", "lpips", "--consistency", "off",
                    "--weights-dir", str(shared / "weights"),
                    "--methods", str(model), f"{model}:nocap", "--out", str(work)],
                   cwd=REPO, env=env, check=True, stdout=subprocess.DEVNULL)
    shutil.copyfile(work / "summary.json", RESULTS / f"flickr_val_builtin{tag}.json")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model", type=Path, help="the round's .safetensors (its stem names it)")
    ap.add_argument("--tag", required=True, help="suffix of the result files, e.g. _r48text")
    ap.add_argument("--judge-only", action="store_true", help="use the result files already there")
    ap.add_argument("--shared", type=Path, default=REPO.parent / "shared")
    args = ap.parse_args(argv)
    if not args.judge_only:
        _make_val_data(args.model, args.tag, args.shared)
    tag = args.tag
    try:
        res = judge(args.model.stem,
                    _load(RESULTS / f"selection_text_val_human{tag}.json"),
                    _load(RESULTS / f"selection_text_val_builtin{tag}.json"),
                    _load(RESULTS / f"text_control_flowers_val{tag}.json"),
                    _load(RESULTS / TC_REFERENCE),
                    _load(RESULTS / f"flickr_val_builtin{tag}.json"),
                    _load(RESULTS / "selection_text_val_human_r35.json"),
                    _load(RESULTS / "selection_text_val_builtin_r35.json"))
    except (OSError, KeyError) as exc:
        print(f"text_round: missing result ({exc}); run without --judge-only", file=sys.stderr)
        return 2
    for q, v in res["qf"].items():
        print(f"QF {q:>2}: human {v['lpips']:.5f} ({v['psnr']:.4f} dB), empty {v['lpips_empty']:.5f}, "
              f"built-in {v['lpips_builtin']:.5f} | vs v9: LPIPS {v['d_lpips']:+.4f}, "
              f"PSNR {v['d_psnr']:+.3f} dB, built-in {v['d_lpips_builtin']:+.4f}")
    t = res["text_control"]
    print(f"text control {t['mean']:+.2f}; paired vs v11 {t['paired']:+.2f} (SE {t['se']:.2f}, "
          f"{t['pairs']} pairs); flickr8k_sub {res['flickr']['caption']:.5f} vs empty "
          f"{res['flickr']['empty']:.5f}")
    print("conditions: " + ", ".join(f"{k} {'holds' if v else 'FAILS'}"
                                     for k, v in res["conditions"].items())
          + f" -> {'passes' if res['passes'] else 'fails'}")
    (RESULTS / f"text_round{tag}.json").write_text(json.dumps(res, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
