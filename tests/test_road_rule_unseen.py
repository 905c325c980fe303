"""The road rule and edges no frame saw: a tyre past one proves no departure (evaluate.road_rule.RoadRule.verdict)."""
from __future__ import annotations

import numpy as np
import pytest

from base.logs import read_recordings
from evaluate.replay import Footage, replay
from evaluate.road_rule import Footprint, RoadRule
from evaluate.rules import CarState
from evaluate.surface import STATIONS_M, Surface


def road(half_width: float, confidence: float, rows: int = 1) -> Surface:
    shape = (rows, len(STATIONS_M))
    return Surface(STATIONS_M.copy(), np.full(shape, -half_width), np.full(shape, half_width), np.full(shape, confidence))


def test_a_tyre_past_an_edge_no_frame_saw_is_unseen_not_out_and_past_a_seen_one_is_out():
    half = Footprint.from_config().track_width_m / 2
    state = CarState(rows=np.zeros(2, int), along_m=np.zeros(2), lateral_m=np.array([0.0, 1.0]), heading_rad=np.zeros(2))
    for confidence, out_expected, unseen_expected in ((1.0, [False, True], [False, False]), (0.0, [False, False], [False, True])):
        out, margin, unseen = RoadRule(None, road(half + 0.5, confidence)).verdict(state)
        assert out.tolist() == out_expected and unseen.tolist() == unseen_expected
        assert margin[1] == pytest.approx(-0.5)


class FullRightLock:
    """Steers full right from every row: leaves any road within a few seconds."""

    sees = False

    def __call__(self, views, rows, cars):
        return np.ones(len(rows))


@pytest.fixture
def headless_lake(tmp_path):
    from sim.record import record_session

    record_session("lake", 0.05, tmp_path / "lake", progress=False)
    return Footage.from_rows(read_recordings([tmp_path / "lake"]))


def test_the_replay_puts_a_car_past_an_unseen_edge_back_uncharged_and_counts_it(headless_lake):
    rows = len(headless_lake.times_s)
    seen = replay(headless_lake, FullRightLock(), RoadRule(headless_lake, road(2.0, 1.0, rows))).report()
    unseen = replay(headless_lake, FullRightLock(), RoadRule(headless_lake, road(2.0, 0.0, rows))).report()
    assert seen["interventions"] > 0 and seen["unseen_edge"] == 0
    assert unseen["interventions"] == 0 and unseen["unseen_edge"] > 0
    assert unseen["beyond_evidence"] >= unseen["unseen_edge"]
    assert unseen["autonomy_unproven_charged_percent"] < unseen["autonomy_percent"]


def test_the_video_paints_a_tyre_past_an_unseen_edge_orange_not_red():
    from base.viewpoint import Shift
    from evaluate.mp4 import TYRE_OFF, TYRE_OFF_UNSEEN, draw_surface

    view = np.zeros((160, 320, 3), np.uint8)
    footprint = Footprint.from_config()
    shift = Shift(lateral_m=1.0)  # the right tyres 0.5 m past an edge 1.5 m right
    for confidence, shown, absent in ((1.0, TYRE_OFF, TYRE_OFF_UNSEEN), (0.0, TYRE_OFF_UNSEEN, TYRE_OFF)):
        drawn = draw_surface(view, road(1.5, confidence), 0, footprint, scale=2, shift=shift)
        assert (drawn == np.array(shown, np.uint8)).all(axis=2).any()
        assert not (drawn == np.array(absent, np.uint8)).all(axis=2).any()
