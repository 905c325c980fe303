"""Labels that bring the car back (pure pursuit), and keeping every epoch in turn."""
from __future__ import annotations

import math

import numpy as np
import pytest

from training.callbacks import KeptCheckpoint
from training.recovery import STEERING, lookahead_m, recovery_steering

WHEELBASE, MAX_WHEEL = STEERING.wheelbase_m, STEERING.max_wheel_angle_rad


def pure_pursuit(lateral: float, look: float) -> float:
    """docs/driving.md's formula: wheel angle atan(2·W·d / L²), normalised by the maximum wheel angle."""
    return math.atan(2 * WHEELBASE * lateral / look ** 2) / MAX_WHEEL


def test_a_car_right_of_the_path_steers_left_and_as_far_as_pure_pursuit_says():
    speed = 3 * 7.0 / 2.0  # the speed at which the look-ahead is 7 m with return_s = 2
    assert lookahead_m(speed, 2.0) == pytest.approx(7.0)
    right = recovery_steering(0.0, 0.8, 0.0, speed, 2.0)
    left = recovery_steering(0.0, -0.8, 0.0, speed, 2.0)
    assert right < 0 < left and right == pytest.approx(-left)
    assert left == pytest.approx(pure_pursuit(0.8, 7.0), abs=0.01)  # the side-camera table's 7 m row


def test_a_shift_by_the_side_cameras_offset_is_the_side_camera_label():
    import pandas as pd

    from training.samples import CAMERA_X, with_side_cameras

    rows = pd.DataFrame({"center": ["c"], "left": ["l"], "right": ["r"], "steering": [0.1], "throttle": [0.5],
                         "brake": [0.0], "speed": [30.0], "recording": ["rec"], "row": [0]})
    samples = with_side_cameras(rows, correction=None, return_s=2.0).set_index("camera")
    speed = 30.0 * 0.44704
    for side in ("left", "right"):
        assert samples.loc[side, "steering"] == pytest.approx(recovery_steering(0.1, CAMERA_X[side], 0.0, speed, 2.0), abs=1e-6)
    assert samples.loc["left", "steering"] > 0.1 > samples.loc["right", "steering"]


def test_a_car_turned_right_steers_left_and_a_quicker_return_steers_harder():
    turned = recovery_steering(0.0, 0.0, math.radians(5), 13.0, 2.0)
    assert turned < 0
    assert recovery_steering(0.0, 0.0, math.radians(5), 13.0, 1.0) < turned
    assert recovery_steering(0.0, 0.5, 0.0, 13.0, 1.0) < recovery_steering(0.0, 0.5, 0.0, 13.0, 2.0) < 0


def test_the_recorded_steering_is_kept_on_the_path():
    steering = np.array([-0.5, -0.1, 0.0, 0.2, 0.7])
    np.testing.assert_allclose(recovery_steering(steering, 0.0, 0.0, 13.0, 2.0), steering, atol=1e-9)


EPOCHS = [{"val_loss": 0.030, "val_autonomy": 40.0}, {"val_loss": 0.020, "val_autonomy": 80.0},
          {"val_loss": 0.010, "val_autonomy": 60.0}, {"val_loss": 0.015, "val_autonomy": 80.0},
          {"val_loss": 0.025, "val_autonomy": 80.0}]


def test_every_epoch_with_a_finite_validation_loss_is_kept_in_turn(monkeypatch, tmp_path):
    import keras

    import training.callbacks

    saves: list[int] = []
    epoch_now = [0]
    monkeypatch.setattr(training.callbacks.runs, "save_model_atomic", lambda model, path: saves.append(epoch_now[0]))
    kept = KeptCheckpoint(tmp_path / "model.keras")
    kept.set_model(keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)]))  # saved as float32 if it is not
    for epoch, logs in enumerate([*EPOCHS, {"val_loss": math.nan, "val_autonomy": 100.0}]):
        epoch_now[0] = epoch + 1
        kept.on_epoch_end(epoch, dict(logs))
    assert saves == [1, 2, 3, 4, 5]  # the NaN epoch is not kept
    assert (kept.epoch, kept.val_loss, kept.val_autonomy) == (5, pytest.approx(0.025), 80.0)
