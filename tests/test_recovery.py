"""Labels that bring the car back (pure pursuit), viewpoint augmentation, and keeping the epoch that drives best."""
from __future__ import annotations

import math

import numpy as np
import pytest

from base.frames import CROP_TOP, FRAME_SHAPE
from base.viewpoint import Shift, ViewSynthesizer
from training.augment import ViewpointAugmenter
from training.callbacks import BestCheckpoint
from training.config import TrainConfig
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


def batch(count: int = 32, seed: int = 0):
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (count, *FRAME_SHAPE), dtype=np.uint8)
    samples = {"camera": np.array(["center", "left", "right"] * count, dtype=object)[:count],
               "lateral_m": np.tile([0.0, -0.806, 0.825], count)[:count],
               "recorded": rng.uniform(-0.3, 0.3, count), "speed_mps": np.full(count, 13.0)}
    return images, samples["recorded"].astype(np.float32), samples


def test_viewpoint_augmentation_is_reproducible_for_a_seed_and_differs_across_seeds():
    augment = ViewpointAugmenter(TrainConfig(viewpoint=True, viewpoint_probability=0.5))
    images, labels, samples = batch()
    a = augment(images, labels, samples, seed=7)
    b = augment(images, labels, samples, seed=7)
    c = augment(images, labels, samples, seed=8)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[1], c[1])


def test_a_moved_frame_is_the_replays_synthesis_with_the_label_back_to_the_path():
    config = TrainConfig(viewpoint=True, viewpoint_probability=1.0, shift_m=0.4, yaw_deg=6.0, return_s=2.0)
    augment = ViewpointAugmenter(config)
    images, labels, samples = batch(6)
    out, moved = augment(images, labels, samples, seed=3)
    rng = np.random.default_rng(3)  # the augmenter's draws, in its order
    rng.random(6)
    shift, yaw = rng.uniform(-0.4, 0.4, 6), rng.uniform(-math.radians(6), math.radians(6), 6)
    synth = ViewSynthesizer(top=CROP_TOP)
    for i in range(6):
        camera = samples["camera"][i]
        where = Shift(samples["lateral_m"][i] + shift[i], yaw[i], synth.sources[camera].position[2] - synth.target.position[2])
        np.testing.assert_array_equal(out[i], synth.synthesize({camera: images[i]}, where, camera))
        assert moved[i] == pytest.approx(recovery_steering(samples["recorded"][i], samples["lateral_m"][i] + shift[i],
                                                           yaw[i], 13.0, 2.0), abs=1e-6)
    nothing = ViewpointAugmenter(TrainConfig(viewpoint=True, viewpoint_probability=0.0))
    same, kept = nothing(images, labels, samples, seed=3)
    np.testing.assert_array_equal(same, images)
    np.testing.assert_array_equal(kept, labels)


EPOCHS = [{"val_loss": 0.030, "val_autonomy": 40.0}, {"val_loss": 0.020, "val_autonomy": 80.0},
          {"val_loss": 0.010, "val_autonomy": 60.0}, {"val_loss": 0.015, "val_autonomy": 80.0},
          {"val_loss": 0.025, "val_autonomy": 80.0}]


def test_the_epoch_kept_is_the_one_that_drives_best_ties_going_to_the_lower_loss(monkeypatch, tmp_path):
    import keras

    import training.callbacks

    for by, expected, kept_loss in (("autonomy", [1, 2, 4], 0.015), ("loss", [1, 2, 3], 0.010)):
        saves: list[int] = []
        epoch_now = [0]
        monkeypatch.setattr(training.callbacks.runs, "save_model_atomic",
                            lambda model, path, saves=saves, epoch_now=epoch_now: saves.append(epoch_now[0]))
        best = BestCheckpoint(tmp_path / "model.keras", by)
        best.set_model(keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)]))  # saved as float32 if it is not
        for epoch, logs in enumerate(EPOCHS):
            epoch_now[0] = epoch + 1
            best.on_epoch_end(epoch, dict(logs))
        assert saves == expected and best.best_epoch == expected[-1] and best.best == pytest.approx(kept_loss)


def test_early_stopping_waits_while_equal_autonomy_comes_with_lower_loss():
    import keras

    from training.callbacks import StopWhenNotDrivingBetter

    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    stop = StopWhenNotDrivingBetter(monitor="val_loss", patience=1)
    stop.set_model(model)
    model.stop_training = False  # what fit() sets before the first epoch
    stop.on_train_begin()
    for epoch, logs in enumerate([{"val_autonomy": 100.0, "val_loss": 0.03}, {"val_autonomy": 100.0, "val_loss": 0.02},
                                  {"val_autonomy": 100.0, "val_loss": 0.01}]):
        stop.on_epoch_end(epoch, logs)
        assert not model.stop_training, f"stopped at epoch {epoch + 1} although the loss improved"
    stop.on_epoch_end(3, {"val_autonomy": 80.0, "val_loss": 0.001})  # a lower loss does not make up for driving worse
    assert model.stop_training
