"""The drivable-surface estimate (evaluate.surface) and the road rule built on it (evaluate.road_rule)."""
from __future__ import annotations

import numpy as np
import pytest

from base.logs import read_recordings
from evaluate import surface as surface_module
from evaluate.replay import Footage
from evaluate.road_rule import Footprint, RoadRule
from evaluate.rules import CarState
from evaluate.surface import STATIONS_M, Surface, surface_of


def straight_road(half_width: float, rows: int = 1) -> Surface:
    shape = (rows, len(STATIONS_M))
    return Surface(STATIONS_M.copy(), np.full(shape, -half_width), np.full(shape, half_width), np.ones(shape))


def state(lateral: list[float], heading_deg: list[float] | None = None) -> CarState:
    n = len(lateral)
    heading = np.radians(heading_deg) if heading_deg is not None else np.zeros(n)
    return CarState(rows=np.zeros(n, dtype=int), along_m=np.zeros(n), lateral_m=np.array(lateral), heading_rad=heading)


def test_a_car_is_out_once_a_tyre_centre_is_past_an_edge_and_the_margin_says_by_how_much():
    rule = RoadRule(None, straight_road(4.0))
    half = Footprint.from_config().track_width_m / 2
    out, margin = rule.check(state([0.0, 4.0 - half - 0.1, -(4.0 - half + 0.2)]))
    assert out.tolist() == [False, False, True]
    np.testing.assert_allclose(margin, [4.0 - half, 0.1, -0.2], atol=1e-9)


def test_a_car_turned_across_the_road_puts_a_front_tyre_out_before_its_centre_is_anywhere_near_the_edge():
    footprint = Footprint.from_config()
    rule = RoadRule(None, straight_road(4.0))
    # Turned 30° right, 2.6 m right of the path: the front right tyre reaches past 4 m.
    front_right = 2.6 + footprint.track_width_m / 2 * np.cos(np.radians(30)) + footprint.front_m * np.sin(np.radians(30))
    out, margin = rule.check(state([2.6, 2.6], [0.0, 30.0]))
    assert out.tolist() == [False, True]
    assert margin[1] == pytest.approx(4.0 - front_right)


def test_edges_are_read_between_stations_and_held_with_no_confidence_beyond_them():
    surface = Surface(STATIONS_M.copy(), np.tile(-4.0 - 0.1 * STATIONS_M, (1, 1)), np.full((1, len(STATIONS_M)), 4.0),
                      np.ones((1, len(STATIONS_M))))
    left, right, confidence = surface.edges_at(np.array([0, 0, 0]), np.array([1.25, 50.0, -9.0]))
    assert left[0] == pytest.approx(-4.125) and confidence[0] == 1
    assert left[1] == pytest.approx(-4.0 - 0.1 * STATIONS_M[-1]) and confidence[1] == 0
    assert left[2] == pytest.approx(-4.0 - 0.1 * STATIONS_M[0]) and confidence[2] == 0


@pytest.fixture
def headless_lake(tmp_path, monkeypatch):
    """A few seconds of the headless expert on the lake (its road is 9 m wide, the car near its centre)."""
    from sim.record import record_session

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    record_session("lake", 0.05, tmp_path / "lake", progress=False)
    return Footage.from_rows(read_recordings([tmp_path / "lake"])), tmp_path


def test_the_headless_lake_road_is_found_on_both_sides_and_cached_outside_the_recording(headless_lake, monkeypatch):
    footage, folder = headless_lake
    surface = surface_of(footage)
    near = np.isin(STATIONS_M, [-1.5, 0.0, 1.5, 5.0])
    driving = slice(len(footage.times_s) // 3, None)  # once the car has moved off the start line
    # The asphalt's edges are 4.5 m either side of the centre line, the car within a metre of it.
    assert np.all((surface.left_m[driving][:, near] < -2.8) & (surface.left_m[driving][:, near] > -6.0))
    assert np.all((surface.right_m[driving][:, near] > 2.8) & (surface.right_m[driving][:, near] < 6.0))
    cached = list((folder / "cache").rglob("*.npz"))
    assert len(cached) == 1 and not list((folder / "lake").rglob("*.npz"))
    monkeypatch.setattr(surface_module, "estimate", lambda footage: pytest.fail("computed again despite the cache"))
    np.testing.assert_array_equal(surface_of(footage).left_m, surface.left_m)


def test_the_recorded_driver_leaving_the_road_onto_the_verge_is_the_one_departure_of_track1_windows(realdata, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    footage = Footage.from_rows(read_recordings([realdata / "track1_windows"]))
    rows = np.arange(len(footage.times_s))
    zeros = np.zeros(len(rows))
    margin, _ = Footprint.from_config().margins(surface_of(footage), rows, zeros, zeros, zeros)
    assert (margin[490:500] < 0).all(), "the exit onto the verge (rows ≈485–510) is not marked"
    assert (margin[:480] >= 0).all(), f"rows marked off the road before the exit: {np.flatnonzero(margin[:480] < 0)}"


def test_the_replay_video_draws_the_edges_and_paints_a_tyre_off_the_surface_red():
    from base.viewpoint import Shift
    from evaluate.mp4 import draw_surface

    view = np.zeros((160, 320, 3), np.uint8)
    surface = straight_road(1.5)
    footprint = Footprint.from_config()
    on = draw_surface(view, surface, 0, footprint, scale=2)
    off = draw_surface(view, surface, 0, footprint, scale=2, shift=Shift(lateral_m=1.0))
    red = np.array([255, 60, 60], np.uint8)
    assert on.shape == (320, 640, 3) and on.any(), "nothing drawn"
    assert not (on == red).all(axis=2).any()
    assert (off == red).all(axis=2).any(), "a tyre 0.5 m past the edge is not drawn red"


def test_a_car_on_the_recorded_path_is_never_out_even_where_the_recorded_driver_left_the_road():
    narrow = straight_road(0.5)  # the recorded car's tyres (±1 m) are past both edges
    rule = RoadRule(None, narrow)
    out, margin = rule.check(state([0.0, 0.3]))
    assert out.tolist() == [False, True]
    assert margin[0] == pytest.approx(0.0) and margin[1] == pytest.approx(-0.3)
