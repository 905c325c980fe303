"""Synthesised viewpoints against the truth: the headless renderer draws any pose exactly, and the real
recordings' side cameras are real views from 0.8 m to either side."""
from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from base.cameras import Camera
from base.frames import CROP_BOTTOM, CROP_TOP, FRAME_SHAPE
from base.logs import read_recordings
from base.viewpoint import HOOD_TOP, Shift, ViewSynthesizer
from sim.pose import Pose
from sim.render import shared_renderer
from sim.tracks import load_track

SYNTH = ViewSynthesizer()


def crop_error(a: np.ndarray, b: np.ndarray) -> float:
    """Mean absolute difference in the rows the model sees."""
    return float(np.abs(a[CROP_TOP:CROP_BOTTOM].astype(float) - b[CROP_TOP:CROP_BOTTOM].astype(float)).mean())


@pytest.fixture(scope="module")
def lake():
    track = load_track("lake")
    return track, shared_renderer(track)


def moved(pose: Pose, shift: Shift) -> Pose:
    """The pose of a car shifted right by `lateral_m` and turned right by `yaw_rad`."""
    return Pose(*pose.to_world(shift.lateral_m, shift.forward_m), pose.heading - shift.yaw_rad)


def test_an_unshifted_view_is_the_recorded_frame():
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 256, FRAME_SHAPE, dtype=np.uint8)  # noise: any misplaced pixel shows
    view = SYNTH.synthesize({"center": frame}, Shift())
    assert np.abs(view.astype(int) - frame.astype(int)).max() <= 1


def test_the_hood_keeps_its_recorded_pixels_however_the_car_moves():
    rng = np.random.default_rng(1)
    frames = {name: rng.integers(0, 256, FRAME_SHAPE, dtype=np.uint8) for name in ("center", "left", "right")}
    shift = Shift(lateral_m=0.6, yaw_rad=math.radians(7))
    view = SYNTH.synthesize(frames, shift)
    np.testing.assert_array_equal(view[HOOD_TOP:], frames[SYNTH.nearest_source(shift)][HOOD_TOP:])
    assert not np.array_equal(view[:HOOD_TOP], frames[SYNTH.nearest_source(shift)][:HOOD_TOP])


def test_a_shift_by_the_side_cameras_offset_puts_the_camera_where_that_side_camera_is():
    for side in ("left", "right"):
        camera = Camera.from_config(side)
        shift = Shift(lateral_m=camera.position[0], forward_m=camera.position[2] - SYNTH.target.position[2])
        x, z = SYNTH.target_position(shift)
        assert (x, z) == pytest.approx((camera.position[0], camera.position[2]), abs=1e-9)
        assert SYNTH.nearest_source(shift) == side
        for first, last, sky in SYNTH.bands:  # from that camera's own frame: the identity
            x, y = _sources(SYNTH.homography(shift, side, first, sky), last - first)
            rows, cols = np.mgrid[first:last, :FRAME_SHAPE[1]]
            assert np.abs(x - cols).max() < 1e-6 and np.abs(y - rows).max() < 1e-6


def _sources(homography: np.ndarray, rows: int) -> tuple[np.ndarray, np.ndarray]:
    """Where in the source frame a homography puts each pixel of a band of `rows` rows (columns, rows)."""
    cols, band_rows = np.meshgrid(np.arange(FRAME_SHAPE[1]), np.arange(rows))
    x, y, depth = np.tensordot(homography, np.stack([cols, band_rows, np.ones_like(cols)]), axes=1)
    return x / depth, y / depth


@pytest.mark.parametrize("shift", [Shift(0.7, math.radians(12), 0.4), Shift(-1.4, math.radians(-20), -0.6)])
def test_every_ground_pixel_is_taken_from_where_the_source_camera_sees_its_ground_point(shift):
    synth = ViewSynthesizer(top=CROP_TOP)
    (first, last, sky), = synth.bands
    assert not sky and first == CROP_TOP and last == HOOD_TOP  # the model's rows all see the ground
    gx, gz, _ = synth.target.ground  # each target pixel's ground point in the shifted car's frame
    gx, gz = gx[first:last], gz[first:last]
    c, s = math.cos(shift.yaw_rad), math.sin(shift.yaw_rad)  # into the recorded car's frame
    points = np.stack([shift.lateral_m + gx * c + gz * s, np.zeros_like(gx), shift.forward_m - gx * s + gz * c], axis=-1)
    for source in ("left", "center", "right"):
        u, v, _ = synth.sources[source].project(points)
        x, y = _sources(synth.homography(shift, source, first), last - first)
        assert np.abs(x - (u - 0.5)).max() < 1e-6 and np.abs(y - (v - 0.5)).max() < 1e-6  # remap's pixel centres


def test_a_car_turned_so_far_that_ground_lies_behind_the_source_camera_sees_the_frames_edge_there():
    rng = np.random.default_rng(3)
    frame = rng.integers(0, 256, FRAME_SHAPE, dtype=np.uint8)
    synth = ViewSynthesizer(top=CROP_TOP)
    shift = Shift(0.3, math.radians(75), -1.0)
    view = synth.synthesize({"center": frame}, shift, "center")[CROP_TOP:HOOD_TOP]
    _, _, depth = np.tensordot(synth.homography(shift, "center", CROP_TOP),
                               np.stack([*np.meshgrid(np.arange(FRAME_SHAPE[1]), np.arange(HOOD_TOP - CROP_TOP)),
                                         np.ones((HOOD_TOP - CROP_TOP, FRAME_SHAPE[1]))]), axes=1)
    behind = depth < 0
    assert 0 < behind.mean() < 1
    corners = {tuple(frame[r, c]) for r in (0, -1) for c in (0, -1)}  # far off the frame sideways and up or down
    assert {tuple(pixel) for pixel in view[behind]} <= corners


@pytest.mark.parametrize("lateral_m, yaw_deg", [(0.2, 0), (0.6, 0), (1.2, 0), (-0.4, 0), (-1.0, 0),
                                                (0, 2), (0, -5), (0, 10), (0.6, -5), (-1.2, 8)])
def test_synthesis_is_closer_to_the_true_view_than_not_moving(lake, lateral_m, yaw_deg):
    track, renderer = lake
    shift = Shift(lateral_m, math.radians(yaw_deg))
    for s in (100.0, 450.0):
        pose = Pose(*track.pose_at(s))
        recorded = {name: renderer.render(pose, name) for name in ("center", "left", "right")}
        truth = renderer.render(moved(pose, shift), "center")
        synthesised = crop_error(SYNTH.synthesize(recorded, shift), truth)
        not_moved = crop_error(recorded[SYNTH.nearest_source(shift)], truth)
        assert synthesised < 0.6 * not_moved, (s, synthesised, not_moved)


def test_a_car_turned_right_sees_what_the_truly_turned_camera_sees(lake):
    track, renderer = lake
    pose = Pose(*track.pose_at(300.0))
    recorded = {"center": renderer.render(pose, "center")}
    truth = renderer.render(moved(pose, Shift(yaw_rad=math.radians(6))), "center")
    right = crop_error(SYNTH.synthesize(recorded, Shift(yaw_rad=math.radians(6))), truth)
    wrong = crop_error(SYNTH.synthesize(recorded, Shift(yaw_rad=math.radians(-6))), truth)
    assert right < 0.5 * wrong


def test_on_real_footage_the_centre_moved_to_a_side_camera_looks_more_like_that_cameras_frame(realdata):
    for recording in ("udacity_sample_part", "track2_jungle"):
        rows = read_recordings([realdata / recording]).iloc[200::150]
        moved_error, unmoved_error = [], []
        for _, row in rows.iterrows():
            frames = {name: cv2.imread(row[name], cv2.IMREAD_COLOR_RGB) for name in ("center", "right")}
            right = Camera.from_config("right")
            shift = Shift(lateral_m=right.position[0], forward_m=right.position[2] - SYNTH.target.position[2])
            moved_error.append(crop_error(SYNTH.synthesize(frames, shift, source="center"), frames["right"]))
            unmoved_error.append(crop_error(frames["center"], frames["right"]))
        assert np.mean(moved_error) < 0.85 * np.mean(unmoved_error), (recording, moved_error, unmoved_error)


def test_synthesising_only_the_models_rows_gives_those_rows_bit_for_bit():
    rng = np.random.default_rng(2)
    frames = {name: rng.integers(0, 256, FRAME_SHAPE, dtype=np.uint8) for name in ("center", "right")}
    shift = Shift(lateral_m=0.5, yaw_rad=math.radians(-4))
    whole = SYNTH.synthesize(frames, shift)
    band = ViewSynthesizer(top=CROP_TOP).synthesize(frames, shift)
    np.testing.assert_array_equal(band[CROP_TOP:], whole[CROP_TOP:])
    np.testing.assert_array_equal(band[:CROP_TOP], frames[SYNTH.nearest_source(shift)][:CROP_TOP])
