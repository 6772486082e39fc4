"""benchmarks/text_round.py: the pre-declared selection rule as code."""

from __future__ import annotations

import copy
import importlib.util
import json
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("text_round", REPO / "benchmarks" / "text_round.py")
text_round = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(text_round)
RESULTS = REPO / "benchmarks" / "results"


def _summary(rows: dict[str, dict[str, dict[str, float]]]) -> dict:
    return {"results": rows}


def _case() -> dict:
    """A model M one hair better than the reference R everywhere, steering 1 level above v11."""
    ref = "R"
    human = {q: {"M": {"lpips": 0.2 - i * 0.05, "psnr_rgb": 23.0 + i},
                 "M:nocap": {"lpips": 0.21 - i * 0.05, "psnr_rgb": 23.0 + i}}
             for i, q in enumerate(("1", "5", "10"))}
    ref_human = {q: {ref: {"lpips": v["M"]["lpips"] + 0.001, "psnr_rgb": v["M"]["psnr_rgb"]}}
                 for q, v in human.items()}
    builtin = {q: {"M": {"lpips": 0.3}} for q in human}
    ref_builtin = {q: {ref: {"lpips": 0.3}} for q in human}
    rows = [{"file": f"f{i}", "from": "red", "to": "blue", "shift_region": 10.0 + (i % 3)}
            for i in range(12)]
    tc_ref = {"results": [{"rows": rows, "mean_shift_region": 11.0}]}
    tc = {"results": [{"rows": [dict(r, shift_region=r["shift_region"] + 1 + 0.1 * (i % 2))
                                for i, r in enumerate(rows)], "mean_shift_region": 12.0}]}
    flickr = {"results": {"1": {"M": {"lpips": 0.34}, "M:nocap": {"lpips": 0.35}}}}
    return {"name": "M", "human": _summary(human), "builtin": _summary(builtin), "tc": tc,
            "tc_ref": tc_ref, "flickr": flickr, "ref_human": _summary(ref_human),
            "ref_builtin": _summary(ref_builtin), "reference": ref}


def test_a_model_better_everywhere_passes() -> None:
    res = text_round.judge(**_case())
    assert res["passes"] and all(res["conditions"].values())
    assert res["text_control"]["pairs"] == 12
    assert res["text_control"]["paired"] == pytest.approx(1.05)


@pytest.mark.parametrize("cond, edit", [
    ("1", lambda c: c["human"]["results"]["1"]["M:nocap"].update(lpips=0.19)),
    ("2", lambda c: c["human"]["results"]["10"]["M"].update(lpips=0.1 + 0.0035)),
    ("2", lambda c: c["human"]["results"]["5"]["M"].update(psnr_rgb=24.0 - 0.06)),
    ("3", lambda c: c["builtin"]["results"]["5"]["M"].update(lpips=0.3051)),
    ("4", lambda c: [r.update(shift_region=r["shift_region"] - 1.05)
                     for r in c["tc"]["results"][0]["rows"]]),
    ("5", lambda c: c["flickr"]["results"]["1"]["M"].update(lpips=0.36)),
    ("6", lambda c: c["human"]["results"]["1"]["M"].update(psnr_rgb=23.0 - 0.03)),
])
def test_each_condition_can_fail_alone(cond: str, edit) -> None:
    case = copy.deepcopy(_case())
    edit(case)
    res = text_round.judge(**case)
    assert not res["passes"]
    assert [k for k, v in res["conditions"].items() if not v] == [cond]


@pytest.mark.parametrize("n, failed", [("46", ["6"]), ("47", ["2", "6"]), ("44", ["4"])])
def test_committed_rounds_are_judged_as_their_rule_files_say(n: str, failed: list[str]) -> None:
    def load(name: str) -> dict:
        return json.loads((RESULTS / name).read_text())

    res = text_round.judge(f"tgjar-text-wordpiece-r{n}-cpu",
                           load(f"selection_text_val_human_r{n}.json"),
                           load(f"selection_text_val_builtin_r{n}.json"),
                           load(f"text_control_flowers_val_r{n}.json"),
                           load(text_round.TC_REFERENCE), load(f"flickr_val_builtin_r{n}.json"),
                           load("selection_text_val_human_r35.json"),
                           load("selection_text_val_builtin_r35.json"))
    assert [k for k, v in res["conditions"].items() if not v] == failed


_hspec = importlib.util.spec_from_file_location("held_out_check",
                                                REPO / "benchmarks" / "held_out_check.py")
held_out_check = importlib.util.module_from_spec(_hspec)
_hspec.loader.exec_module(held_out_check)


@pytest.mark.parametrize(("n", "passes", "failed"), [
    ("49", False, ["a: flowers256-test QF 1", "a: flowers256-test QF 5",
                   "d: flowers256-test QF 1 vs v11"]),
    ("50", True, []),
])
def test_held_out_checks_of_committed_rounds(n: str, passes: bool, failed: list[str]) -> None:
    """Rounds 49 and 50 get their rule files' held-out verdicts from the committed results."""
    results = REPO / "benchmarks" / "results"
    if not (results / f"text_r{n}").is_dir():
        pytest.skip(f"text_r{n} results not in this checkout")
    checks, verdict = held_out_check.judge(results / f"text_r{n}")
    assert verdict is passes
    assert [f"{k}: {c['what']}" for k, rows in checks.items() for c in rows
            if not c["holds"]] == failed


def test_held_out_check_against_v12_needs_more_control_than_v12() -> None:
    """Judged against v12 (round 51 on), v12's own results hold every row but text control."""
    results = REPO / "benchmarks" / "results"
    if not (results / "text_r50").is_dir():
        pytest.skip("text_r50 results not in this checkout")
    checks, verdict = held_out_check.judge(results / "text_r50", "v12")
    assert verdict is False
    assert [c["what"] for rows in checks.values() for c in rows if not c["holds"]] == ["text control"]
    assert checks["d"][0]["d_lpips"] == 0.0 and checks["d"][0]["d_psnr"] == 0.0


def test_held_out_check_of_round_52_against_v12_passes_and_v13_is_a_default() -> None:
    """Round 52 (= v13) passes against v12; judged against itself only text control fails."""
    results = REPO / "benchmarks" / "results"
    if not (results / "text_r52").is_dir():
        pytest.skip("text_r52 results not in this checkout")
    assert held_out_check.judge(results / "text_r52", "v12")[1] is True
    checks, verdict = held_out_check.judge(results / "text_r52", "v13")
    assert verdict is False
    assert [c["what"] for rows in checks.values() for c in rows if not c["holds"]] == ["text control"]


def test_held_out_check_as_received_v13_holds_all_but_control() -> None:
    """Judged as received (round 55 on: v13-auto, v9 measured beside the round), v13's own
    as-received results hold every row but text control (equal, not above)."""
    results = REPO / "benchmarks" / "results"
    if not (results / "text_r52_auto").is_dir() or not (results / "text_r55_auto").is_dir():
        pytest.skip("as-received results not in this checkout")
    checks, verdict = held_out_check.judge(results / "text_r52_auto", "v13-auto",
                                           results / "text_r55_auto" / "v9_auto")
    assert verdict is False
    assert [c["what"] for rows in checks.values() for c in rows if not c["holds"]] == ["text control"]
    assert checks["d"][0]["d_lpips"] == 0.0 and checks["d"][0]["d_psnr"] == 0.0


def test_held_out_check_of_round_55_passes_against_v13_and_v14_is_a_default() -> None:
    """Round 55 (54a = v14) as received passes against v13 as received; judged against itself
    (v14-auto) only text control fails (equal, not above) and the flowers row is a zero."""
    results = REPO / "benchmarks" / "results"
    if not (results / "text_r55_auto").is_dir() or not (results / "text_r52_auto").is_dir():
        pytest.skip("as-received results not in this checkout")
    v9 = results / "text_r55_auto" / "v9_auto"
    assert held_out_check.judge(results / "text_r55_auto", "v13-auto", v9)[1] is True
    checks, verdict = held_out_check.judge(results / "text_r55_auto", "v14-auto", v9)
    assert verdict is False
    assert [c["what"] for rows in checks.values() for c in rows if not c["holds"]] == ["text control"]
    assert checks["d"][0]["d_lpips"] == 0.0 and checks["d"][0]["d_psnr"] == 0.0


def test_held_out_check_of_round_57_passes_against_v14_and_v15_is_a_default() -> None:
    """Round 57 (= v15) as received passes against v14 as received, by its real margins (text
    control above v14's, flowers QF 1 within +0.0001 LPIPS); judged against itself (v15-auto) only
    text control fails (equal, not above) and the flowers row is a zero."""
    results = REPO / "benchmarks" / "results"
    if not (results / "text_r57_auto").is_dir() or not (results / "text_r55_auto").is_dir():
        pytest.skip("as-received results not in this checkout")
    v9 = results / "text_r55_auto" / "v9_auto"
    checks, verdict = held_out_check.judge(results / "text_r57_auto", "v14-auto", v9)
    assert verdict is True
    assert checks["b"][0]["value"] > 17.37
    assert abs(checks["d"][0]["d_lpips"]) < 0.001
    checks, verdict = held_out_check.judge(results / "text_r57_auto", "v15-auto", v9)
    assert verdict is False
    assert [c["what"] for rows in checks.values() for c in rows if not c["holds"]] == ["text control"]
    assert checks["d"][0]["d_lpips"] == 0.0 and checks["d"][0]["d_psnr"] == 0.0
