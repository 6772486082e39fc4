"""The held-out half of a text round's shipping rule (rounds 49 on), from committed result files.

    python benchmarks/held_out_check.py benchmarks/results/text_r50 --tag _r50
    python benchmarks/held_out_check.py benchmarks/results/text_r51 --tag _r51 --default v12
    python benchmarks/held_out_check.py benchmarks/results/text_r55_auto --tag _r55 \
        --default v13-auto --v9-from benchmarks/results/text_r55_auto/v9_auto

After a round passes its six val conditions (``benchmarks/text_round.py``), its rule asks, on the
held-out sets of its Table 3 (``RESULTS_DIR`` of ``benchmarks/run_text_ablation.sh``, the text
model's true-caption column):

    a. no worse than v9 by the margins of val conditions 2 and 3: human captions (flowers test,
       coco_mini val) LPIPS at most +0.002 and PSNR at least -0.05 dB, built-in captions (Kodak,
       LIVE1) LPIPS at most +0.005, at QF 1, 5 and 10;
    b. text control on flowers test (``RESULTS_DIR/text_control_flowers_test.json``) above the
       default's it would replace (``--default``: v11 +9.13 for rounds 49-50, v12 +12.99 for
       51-52, v13 +14.52 for 53; as received, v13-auto +14.49 for 55, v14-auto +17.37 for 56-57,
       v15-auto +18.84 after);
    c. no regression against v4 on Kodak and LIVE1 (issue 13): PSNR at least -0.1 dB, LPIPS at
       most +0.005, at QF 1, 5 and 10;
    d. flowers test, QF 1: no worse than that default by LPIPS +0.002 / PSNR -0.05 dB.

v9's numbers (``tgjar-text-wordpiece-r35-cpu``) come from ``text_r35/`` (QF 1 and Kodak/LIVE1 at
QF 5/10 in ``text_r35_q510/``) and, for flowers test and coco_mini val at QF 5/10 on the full sets,
``v9_v11_full_q510/`` (the earlier ``_q510`` runs used a draw of 120 / 80 images); the defaults'
flowers test QF 1 and text control from their rounds' committed files (v11: ``text_r42/``, v12:
``text_r50/``, v13: ``text_r52/``, as received ``text_r52_auto/``, v14 as received
``text_r55_auto/``, v15 as received ``text_r57_auto/``); v4's from ``eval_{kodak,live1}.json``.
Prints every comparison and writes ``benchmarks/results/held_out_check{TAG}.json``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
V9, V4 = "tgjar-text-wordpiece-r35-cpu", "tgjar-small-v4"
SETS = {"flowers256-test": "human", "coco_mini-val": "human", "kodak": "builtin", "live1": "builtin"}
# the default a round would replace: its Table-3 folder and its text control file on flowers test
DEFAULTS = {
    "v11": ("text_r42", "text_control_flowers_r42.json"),
    "v12": ("text_r50", "text_r50/text_control_flowers_test.json"),
    "v13": ("text_r52", "text_r52/text_control_flowers_test.json"),
    # v13 as a receiver gets it (decode's auto bound; text control with the luma bound a
    # receiver's caption gets): for rounds judged as received (round 55 on)
    "v13-auto": ("text_r52_auto", "text_r52_luma/text_control_flowers_test.json"),
    # v14 (round 54a) as received: for rounds after round 55
    "v14-auto": ("text_r55_auto", "text_r55_auto/text_control_flowers_test.json"),
    # v15 (round 57) as received: for rounds after round 57
    "v15-auto": ("text_r57_auto", "text_r57_auto/text_control_flowers_test.json"),
}


def _results(path: Path) -> dict:
    return json.loads(path.read_text())["results"]


def _table(path: Path) -> tuple[str, dict]:
    """A Table-3 file's text model (its true-caption method, not the twin, JPEG or v4) and results."""
    table = json.loads(path.read_text())
    model = next(n for n in table["method_names"] if ":" not in n and n not in ("jpeg", V4))
    return model, table["results"]


def _v9(name: str, qf: str, folder: Path | None = None) -> dict:
    if folder is not None:  # v9 measured beside the round, e.g. as received
        return _results(folder / f"{name}.json")[qf][V9]
    if qf == "1":
        return _results(RESULTS / "text_r35" / f"ablation_{name}.json")[qf][V9]
    if SETS[name] == "builtin":
        return _results(RESULTS / "text_r35_q510" / f"ablation_{name}.json")[qf][V9]
    return _results(RESULTS / "v9_v11_full_q510" / f"{name}.json")[qf]["tgjar-text-v9"]


def _row(what: str, got: dict, ref: dict, lpips_margin: float, psnr_margin: float | None) -> dict:
    d_lpips = got["lpips"] - ref["lpips"]
    d_psnr = got["psnr_rgb"] - ref["psnr_rgb"]
    ok = d_lpips <= lpips_margin and (psnr_margin is None or d_psnr >= psnr_margin)
    limit = f"<= +{lpips_margin}" + ("" if psnr_margin is None else f", >= {psnr_margin} dB")
    print(f"  {what:34s} LPIPS {d_lpips:+.4f}  PSNR {d_psnr:+.3f} dB  ({limit}): "
          f"{'holds' if ok else 'FAILS'}")
    return {"what": what, "d_lpips": d_lpips, "d_psnr": d_psnr, "holds": ok}


def judge(results_dir: Path, default: str = "v11",
          v9_from: Path | None = None) -> tuple[dict[str, list[dict]], bool]:
    """Every check of a/b/c/d against ``default`` (printed as it goes) and whether all hold.

    ``v9_from``: a folder of ``jpegtext evaluate`` summaries (``<set>.json``) holding v9 beside
    the round (round 55: as received), instead of v9's committed own-output numbers."""
    table_dir, control_file = DEFAULTS[default]
    ref_control = json.loads((RESULTS / control_file).read_text())["results"][0]["mean_shift_region"]
    checks: dict[str, list[dict]] = {"a": [], "b": [], "c": [], "d": []}
    print("a. against v9 (human: +0.002 / -0.05 dB; built-in: +0.005)")
    for name, captions in SETS.items():
        model, res = _table(results_dir / f"ablation_{name}.json")
        for qf in ("1", "5", "10"):
            human = captions == "human"
            checks["a"].append(_row(f"{name} QF {qf}", res[qf][model], _v9(name, qf, v9_from),
                                    0.002 if human else 0.005, -0.05 if human else None))
    control = json.loads((results_dir / "text_control_flowers_test.json").read_text())
    shift = control["results"][0]["mean_shift_region"]
    print(f"b. text control on flowers test {shift:+.2f} levels (above {default}'s "
          f"{ref_control:+.2f}): {'holds' if shift > ref_control else 'FAILS'}")
    checks["b"].append({"what": "text control", "value": shift, "holds": shift > ref_control})
    print("c. against v4 on Kodak and LIVE1 (+0.005 / -0.1 dB)")
    for name in ("kodak", "live1"):
        model, res = _table(results_dir / f"ablation_{name}.json")
        v4 = _results(RESULTS / f"eval_{name}.json")
        for qf in ("1", "5", "10"):
            checks["c"].append(_row(f"{name} QF {qf}", res[qf][model], v4[qf][V4], 0.005, -0.1))
    model, res = _table(results_dir / "ablation_flowers256-test.json")
    ref_model, ref_res = _table(RESULTS / table_dir / "ablation_flowers256-test.json")
    print(f"d. flowers test QF 1 against {default} (+0.002 / -0.05 dB)")
    checks["d"].append(_row(f"flowers256-test QF 1 vs {default}", res["1"][model],
                            ref_res["1"][ref_model], 0.002, -0.05))
    passes = all(c["holds"] for rows in checks.values() for c in rows)
    print(f"held-out check: {'passes' if passes else 'fails'}")
    return checks, passes


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("results_dir", type=Path, help="the round's RESULTS_DIR (ablation_*.json)")
    ap.add_argument("--tag", required=True, help="suffix of the written JSON, e.g. _r50")
    ap.add_argument("--default", choices=sorted(DEFAULTS), default="v11",
                    help="the default the round would replace (rounds 49-50: v11; 51-52: v12; 53 on: v13; "
                         "judged as received: v13-auto for 55, v14-auto for 56-57, "
                         "v15-auto after)")
    ap.add_argument("--v9-from", type=Path, default=None,
                    help="folder of evaluate summaries <set>.json holding v9 beside the round")
    args = ap.parse_args()
    checks, passes = judge(args.results_dir, args.default, args.v9_from)
    out = RESULTS / f"held_out_check{args.tag}.json"
    out.write_text(json.dumps({"results_dir": str(args.results_dir), "default": args.default,
                               "v9_from": None if args.v9_from is None else str(args.v9_from),
                               "checks": checks,
                               "passes": passes}, indent=1) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
