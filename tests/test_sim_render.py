"""The renderer's frames: where the road, sky and hood fall, and how the three cameras differ."""
from __future__ import annotations

import numpy as np
import pytest

from base.cameras import Camera
from sim.pose import Pose
from sim.render import Renderer, shared_renderer
from sim.tracks import load_track
from tests.sim_helpers import track_dict, write_track

ROWS = range(66, 91, 4)  # rows of the usual crop (60–135) where both edge lines are in view


@pytest.fixture(scope="module")
def oval(tmp_path_factory) -> Renderer:
    return shared_renderer(load_track(write_track(tmp_path_factory.mktemp("track"))))


def line_columns(frame: np.ndarray, row: int) -> np.ndarray:
    """Columns of the magenta (sim_helpers.LINE_COLOUR) edge-line pixels in `row`."""
    r, g, b = (frame[row, :, c].astype(int) for c in range(3))
    return np.flatnonzero((r > 150) & (b > 150) & (g < 90))


def road_centre_columns(frame: np.ndarray) -> np.ndarray:
    """Per row in ROWS: halfway between the leftmost and rightmost edge-line pixels."""
    centres = []
    for row in ROWS:
        cols = line_columns(frame, row)
        assert len(cols) >= 2, f"no edge lines found in row {row}"
        centres.append((cols.min() + cols.max()) / 2)
    return np.array(centres)


def on_straight(offset: float = 0.0, forward: float = 80.0) -> Pose:
    return Pose(forward, -offset, 0.0)  # the oval's bottom straight runs east along y = 0


def test_centred_and_straight_the_road_centre_is_the_image_centre(oval):
    frame = oval.render(on_straight(), "center")
    assert frame.shape == (160, 320, 3) and frame.dtype == np.uint8
    assert road_centre_columns(frame) == pytest.approx(159.5, abs=1.5)


def test_side_cameras_see_the_road_shifted_by_their_offset(oval):
    centre = road_centre_columns(oval.render(on_straight(), "center"))
    left = road_centre_columns(oval.render(on_straight(), "left"))
    right = road_centre_columns(oval.render(on_straight(), "right"))
    assert (left > centre + 4).all()  # the left camera sees the road to its right
    assert (right < centre - 4).all()
    # The shift is the camera's 0.8 m sideways, seen at each row's ground distance: pinhole geometry.
    camera = Camera.from_config("left")
    _, z, _ = camera.ground
    expected = camera.focal_px * 0.806 / (z[list(ROWS), 160] - camera.position[2])
    assert left - centre == pytest.approx(expected, abs=2.0)


def test_a_car_right_of_centre_sees_the_road_to_its_left(oval):
    assert (road_centre_columns(oval.render(on_straight(offset=1.5), "center")) < 159.5 - 10).all()


def test_layout_sky_on_top_road_in_the_crop_hood_at_the_bottom(oval):
    frame = oval.render(on_straight(), "center").astype(int)
    colours = track_dict()["colours"]
    sky = frame[:50]
    assert (sky[..., 2] > sky[..., 0] + 40).all()  # blue everywhere above row 50
    assert Camera.from_config("center").horizon_row == pytest.approx(56.8, abs=0.5)
    road = frame[70:130, 150:170].reshape(-1, 3).mean(axis=0)
    assert road == pytest.approx(colours["road"], abs=25)
    hood = frame[150:, 120:200].reshape(-1, 3).mean(axis=0)
    assert hood[0] > hood[2] + 15 and np.abs(hood - colours["road"]).max() > 40  # beige, not road


def test_frames_are_deterministic_and_show_motion(oval):
    a = oval.render(on_straight(), "center")
    assert np.array_equal(a, oval.render(on_straight(), "center"))
    moved = oval.render(on_straight(forward=80.5), "center")
    crop_change = np.abs(a[60:135].astype(int) - moved[60:135]).mean()
    assert crop_change > 2.0  # half a metre forward changes the ground texture visibly


def test_shipped_tracks_render_their_scenery():
    lake = shared_renderer(load_track("lake"))
    assert len(lake.objects.kinds) > 100
    frame = lake.render(Pose(*lake.track.pose_at(100.0)), "center")
    assert frame.shape == (160, 320, 3)
    assert frame[:57].std() > 10  # hills, trees: the sky is not a flat gradient
