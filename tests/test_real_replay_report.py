"""studies.real_replay reports a seed that tested nothing of a recording instead of crashing on it."""
from __future__ import annotations

import numpy as np
import pandas as pd

from studies.real_replay import NO_ROWS, RULES, measure, report, rule_key


def _scores(autonomy: float, interventions: int) -> dict:
    return {"autonomy_percent": autonomy, "interventions": interventions, "interventions_per_min": interventions * 2.0,
            "beyond_evidence": 0}


def _entry(autonomy: float) -> dict:
    entry = {"frames": 150, "rmse": 0.1, "zero_rmse": 0.2}
    for rule in RULES:
        for who in ("model", "zero", "human"):
            entry[f"{who}_{rule_key(rule)}"] = _scores(autonomy if who == "model" else 100.0, 0)
    return entry


def test_an_empty_set_is_measured_as_no_frames_without_driving():
    def never(frames: np.ndarray) -> np.ndarray:
        raise AssertionError("an empty set has no frame to steer")

    assert measure({"held-out jungle": pd.DataFrame(columns=["center", "steering"])}, never) == {
        "held-out jungle": {"frames": 0}}


def test_the_report_shows_a_seed_without_rows_and_the_spread_of_the_others():
    results = {"0": {"held-out track 1": _entry(100.0), "held-out jungle": _entry(50.0)},
               "2": {"held-out track 1": _entry(90.0), "held-out jungle": {"frames": 0}}}
    text = report(results)
    jungle_road = next(line for line in text.splitlines() if line.startswith("| held-out jungle | road |"))
    assert "| 50.0 |" in jungle_road  # seed 0 alone: seed 2 has no rows to average
    seed2 = next(line for line in text.splitlines() if line.startswith("| 2 |"))
    assert seed2.rstrip(" |").endswith(NO_ROWS)
    assert "| 95.0 (90.0 – 100.0) |" in text


def test_no_seed_with_rows_reports_none():
    results = {"2": {"held-out jungle": {"frames": 0}}}
    assert f"| held-out jungle | road | {NO_ROWS} |" in report(results)
