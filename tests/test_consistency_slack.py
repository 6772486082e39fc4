"""benchmarks/consistency_slack.py: the default-decode rule applied to a table of numbers."""

from __future__ import annotations

import importlib.util
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("consistency_slack",
                                               REPO / "benchmarks" / "consistency_slack.py")
cs = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(cs)


def _entry(gain: float, se: float = 0.001, lpips: float = -0.001, worst: float = 0.0) -> dict:
    return {"d_psnr": {"mean": gain, "se": se, "worst": worst, "best": gain},
            "d_lpips": {"mean": lpips, "se": 0.0001, "worst": lpips, "best": lpips}}


def _tables(fid: dict[str, dict], steer: dict[str, float]) -> tuple[dict, dict]:
    fidelity = {q: {name: fid.get(name, _entry(0.0, 0.001, 0.0)) for name in cs.CANDIDATES}
                for q in ("1", "5", "10")}
    steering = {name: {"mean_shift_region": steer.get(name, 20.0)} for name in cs.CANDIDATES}
    return fidelity, steering


def test_the_largest_gain_that_keeps_steering_wins() -> None:
    fid, steer = _tables({"slack 1": _entry(0.04), "slack 1.5": _entry(0.01),
                          "luma 1 only": _entry(0.005)},
                         {"off": 22.0, "slack 1": 11.0, "slack 1.5": 21.5, "luma 1 only": 22.0})
    v = cs.verdict(fid, steer)
    assert v["candidates"]["slack 1"]["failed"] == ["steering"]
    assert v["chosen"] == "slack 1.5"  # 0.01 dB beats 0.005; slack 1 steers 11 levels less


def test_a_tie_goes_to_the_one_that_steers_more() -> None:
    fid, steer = _tables({"slack 1.5": _entry(0.0100), "luma 1 only": _entry(0.0085)},
                         {"off": 22.0, "slack 1.5": 21.1, "luma 1 only": 22.0})
    assert cs.verdict(fid, steer)["chosen"] == "luma 1 only"


def test_each_bar_refuses_on_its_own() -> None:
    fid, steer = _tables({"slack 1": _entry(0.001, se=0.001),  # gain under 2 SE
                          "slack 2": _entry(0.02, worst=-0.06),  # one image loses too much
                          "slack 3": _entry(0.02, lpips=0.0001)},  # LPIPS worse
                         {})  # every candidate steers as much as off
    v = cs.verdict(fid, steer)
    assert v["candidates"]["slack 1"]["failed"] == ["QF 1 gain under 2 SE"]
    assert "worst image QF 5" in v["candidates"]["slack 2"]["failed"]
    assert "fidelity QF 10" in v["candidates"]["slack 3"]["failed"]
    # the rest gain nothing (under 2 SE of 0), so nothing is chosen and the default stays off
    assert v["chosen"] is None
