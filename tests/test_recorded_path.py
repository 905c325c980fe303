"""The check of the replay's recorded path against the footage: the camera's yaw measured from frames,
and the path's headings, each against what is known exactly."""
from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from base.kinematics import Steering
from evaluate.replay import Footage, recorded_poses
from sim.pose import Pose
from sim.render import shared_renderer
from sim.tracks import load_track
from studies.recorded_path import footage_yaw


@pytest.mark.parametrize("turn_deg", [3.0, -2.0])
def test_the_yaw_measured_from_frames_is_the_turn_between_them(tmp_path, turn_deg):
    track = load_track("lake")
    renderer = shared_renderer(track)
    pose = Pose(*track.pose_at(300.0))
    paths = []
    for i, heading in enumerate([pose.heading, pose.heading + math.radians(turn_deg)]):  # + turns left
        frame = renderer.render(Pose(pose.x, pose.y, heading), "center")
        paths.append(str(tmp_path / f"{i}.jpg"))
        cv2.imwrite(paths[-1], cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    yaw, response = footage_yaw(np.array(paths))
    assert math.degrees(yaw[0]) == pytest.approx(turn_deg, abs=0.15)
    assert response[0] > 0.5


def test_the_recorded_path_turns_as_the_bicycle_model_says():
    rows, dt, speed, steering = 21, 0.1, 10.0, 0.2
    footage = Footage(times_s=np.arange(rows) * dt, speeds_mps=np.full(rows, speed), steering=np.full(rows, steering),
                      frames={"center": np.array([""] * rows, dtype=object)}, segments=[(0, rows - 1)], timed=True)
    poses = recorded_poses(footage, 0, rows - 1)
    _, curvature = Steering.from_config().slip_and_curvature(steering)
    assert poses.shape == (rows, 3)
    assert poses[0].tolist() == [0.0, 0.0, 0.0]
    # Positive steering turns right: the heading (counter-clockwise) falls by the curvature × distance.
    assert np.diff(poses[:, 2]) == pytest.approx(-speed * dt * curvature, rel=1e-9)
