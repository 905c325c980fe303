"""studies.real_replay reports a seed that tested nothing of a recording instead of crashing on it, and judges\nheld-out blocks by the surface their whole recordings show."""
from __future__ import annotations

import numpy as np
import pandas as pd
from recordings import write_log

from base.logs import read_recordings
from evaluate.replay import Footage
from evaluate.surface import surface_of
from studies.real_replay import NO_ROWS, RULES, measure, report, rule_key, surface_of_rows


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


def test_held_out_rows_are_judged_by_the_surface_of_their_whole_recordings(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    first, second = tmp_path / "first", tmp_path / "second"
    write_log(first, rows=60, seed=1)
    write_log(second, rows=60, seed=2)
    rows = read_recordings([first, second])
    blocks = rows[rows["row"].between(20, 39) | (rows["row"] >= 50)].reset_index(drop=True)
    surface = surface_of_rows(blocks)
    for folder in (first, second):
        whole = read_recordings([folder])
        expected = surface_of(Footage.from_rows(whole))
        mine = (blocks["recording"] == str(folder)).to_numpy()
        at = blocks.loc[mine, "row"].to_numpy()  # these recordings' rows are numbered as their footage
        for got, want in ((surface.left_m, expected.left_m), (surface.right_m, expected.right_m),
                          (surface.confidence, expected.confidence)):
            np.testing.assert_array_equal(got[mine], want[at])
    assert not np.array_equal(surface.left_m, surface_of(Footage.from_rows(blocks)).left_m, equal_nan=True)
