"""The car model and the expert that drives it."""
from __future__ import annotations

import math

import numpy as np
import pytest

from sim.expert import Expert
from sim.pose import Pose
from sim.tracks import load_track
from sim.vehicle import Vehicle


def drive(vehicle: Vehicle, seconds: float, steering: float = 0.0, throttle: float = 0.0, brake: float = 0.0) -> None:
    for _ in range(round(seconds / vehicle.params.time_step_s)):
        vehicle.step(steering, throttle, brake)


def test_straight_ahead_keeps_the_line_and_heading():
    car = Vehicle(Pose(0.0, 0.0, 0.0))
    drive(car, 5.0, throttle=0.5)
    assert car.pose.heading == 0.0 and car.pose.y == 0.0
    assert car.pose.x > 10 and car.speed_mph > 5


def test_positive_steering_turns_right_on_the_bicycle_model_circle():
    car = Vehicle(Pose(0.0, 0.0, math.pi / 2), speed_mps=5.0)  # heading north
    drive(car, 1.0, steering=1.0, throttle=0.2)
    assert car.steering_deg == pytest.approx(25.0, rel=1e-3)  # ten time constants of the wheels' lag
    assert car.pose.heading < math.pi / 2 and car.pose.x > 0  # clockwise, toward the east: right
    # Full lock on a 2.6 m wheelbase: the centre of the car runs on a circle of L / (cos β tan 25°).
    speed = car.speed_mps
    before = car.pose.heading
    car.step(1.0, 0.2)
    delta = math.radians(25)
    slip = math.atan(0.5 * math.tan(delta))
    rate = (before - car.pose.heading) / car.params.time_step_s
    assert rate == pytest.approx(speed * math.cos(slip) * math.tan(delta) / 2.6, rel=0.01)


def test_top_speed_throttle_brake_and_reverse():
    car = Vehicle(Pose(0.0, 0.0, 0.0))
    drive(car, 20.0, throttle=1.0)
    assert car.speed_mph == pytest.approx(30.0)
    drive(car, 1.0, throttle=0.0, brake=1.0)
    assert 5 < car.speed_mph < 15  # 8 m/s² of brake plus drag for a second
    drive(car, 1.0, throttle=0.0)
    coasting = car.speed_mps
    assert 0 < coasting < 13.4
    drive(car, 3.0, throttle=-1.0)  # brakes to a stop, then reverses
    assert car.speed_mps < 0 and car.speed_mph > 0
    drive(car, 20.0, throttle=-1.0)
    assert car.speed_mph == pytest.approx(10.0)
    drive(car, 2.0, steering=5.0, throttle=5.0, brake=5.0)  # out-of-range inputs are clamped like the simulator's
    assert car.steering == pytest.approx(1.0) and car.throttle == 1.0


def test_the_wheels_follow_a_step_of_the_steering_with_the_simulators_lag():
    car = Vehicle(Pose(0.0, 0.0, 0.0), speed_mps=10.0)
    response_s = car.params.steering.response_s
    assert 0.05 <= response_s <= 0.2  # what studies.recorded_path measures on real footage: about 0.1 s
    angles = []
    for _ in range(round(response_s / car.params.time_step_s)):
        car.step(0.5, 0.0)
        angles.append(car.steering)
    assert np.all(np.diff(angles) > 0)  # turning, towards the command, never past it
    assert angles[-1] == pytest.approx(0.5 * (1 - math.exp(-1)), rel=1e-6)  # 63 % of the way after one time constant
    assert car.pose.heading < 0  # already turning right, less than at full wheel angle


def run_expert(track_name: str, seconds: float, seed: int, recovery: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(offsets, labels, speeds in mph) of the expert at 15 Hz."""
    track = load_track(track_name)
    car = Vehicle(Pose(*track.pose_at(0.0)))
    expert = Expert(track, seed=seed, recovery=recovery)
    offsets, labels, speeds = [], [], []
    for step in range(round(seconds / car.params.time_step_s)):
        command = expert.command(car)
        car.step(command.steering, command.throttle, command.brake)
        if step % 4 == 0:
            offsets.append(track.locate(car.pose.x, car.pose.y).offset)
            labels.append(command.label)
            speeds.append(car.speed_mph)
    return np.array(offsets), np.array(labels), np.array(speeds)


def test_the_expert_is_deterministic_for_a_seed_and_keeps_the_centre():
    a = run_expert("lake", 40.0, seed=1, recovery=False)
    b = run_expert("lake", 40.0, seed=1, recovery=False)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    offsets, _, speeds = a
    assert np.abs(offsets).max() < 0.3
    assert 14 < speeds[150:].mean() < 21  # ~15–20 mph once up to speed


def test_recovery_episodes_reach_near_the_edge_and_are_labelled_with_the_correction():
    track = load_track("lake")
    offsets, labels, _ = run_expert("lake", 90.0, seed=0, recovery=True)
    assert np.abs(offsets).max() > 0.7 * track.half_width_m
    assert np.abs(offsets).max() < track.half_width_m  # drift toward the edge, never off the road
    away = np.abs(offsets) > 1.0
    assert away.sum() > 100
    # Right of centre (positive offset) the label steers left (negative), and vice versa.
    assert (np.sign(labels[away]) == -np.sign(offsets[away])).mean() > 0.9
    other = run_expert("lake", 90.0, seed=5, recovery=True)[0]
    assert not np.array_equal(offsets, other)  # the seed picks the episodes
