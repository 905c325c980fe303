"""On-policy training (DAgger through the replay): the states the model reaches, their labels, the batches
they join, and a run that gathers them."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fit_helpers import fit_args
from recordings import write_log

from base.frames import CROP_TOP
from base.logs import read_recordings
from base.viewpoint import Shift, ViewSynthesizer
from evaluate.replay import Footage, ModelPolicy, RecordedSteering, Trace, View, ZeroSteering, cut, replay
from evaluate.rules import LineRule
from training import fit, onpolicy, runs
from training.config import TrainConfig
from training.dataset import make_datasets
from training.onpolicy import DriftingNoise, OnPolicyRounds, StatePool, visited_states


def steady(value: float) -> ModelPolicy:
    """A model that steers `value` whatever it sees."""
    return ModelPolicy(lambda views: np.full(len(views), value))


class Driver(RecordedSteering):
    """The recorded driver's steering, looking at the views as a model would."""

    sees = True


@pytest.fixture(scope="module")
def recording(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("recording")
    write_log(folder, rows=60)
    return folder


@pytest.fixture
def rows(recording) -> pd.DataFrame:
    return read_recordings([recording])


def test_a_state_off_the_path_is_labelled_back_towards_it_and_one_on_it_keeps_its_label(rows):
    footage = Footage.from_rows(rows)
    labels = np.full(len(rows), 0.1)
    trace = Trace(views=[View(5, "center", Shift()),
                         View(6, "right", Shift(lateral_m=0.8)),  # right of the path: steer left
                         View(7, "center", Shift(yaw_rad=math.radians(10))),  # turned right: steer left
                         View(8, "left", Shift(lateral_m=-0.8))])
    states = visited_states(footage, labels, trace, return_s=1.3)
    assert states["steering"][0] == pytest.approx(0.1, abs=1e-6)
    assert states["steering"][1] < 0 and states["steering"][2] < 0 and states["steering"][3] > 0.2
    assert states["image"].tolist() == [rows["center"][5], rows["right"][6], rows["center"][7], rows["left"][8]]
    assert states["lateral_m"].tolist() == [0.0, 0.8, 0.0, -0.8]


class Frames:
    """The frame store's interface over the files themselves."""

    def get(self, paths):
        import cv2

        return np.stack([cv2.imread(str(p), cv2.IMREAD_COLOR_RGB) for p in paths])


class Counting(Frames):
    asked = 0

    def get(self, paths):
        self.asked += len(paths)
        return super().get(paths)


def test_the_pool_gathers_what_a_drifting_model_reaches_and_fills_its_share_of_a_batch_with_those_views(rows):
    pool = StatePool(rows, rows["steering"].to_numpy(), share=0.25, return_s=1.3)
    assert pool.size == 0
    trace = pool.gather(steady(0.6), LineRule(max_offset_m=2.0))  # steers hard right whatever it sees
    assert pool.size == len(trace.views) > 0
    offsets = pool.states["lateral_m"].to_numpy()
    assert offsets.max() > 0.3  # it left the path to the right...
    assert (pool.states["steering"].to_numpy()[offsets > 0.3] < rows["steering"].max()).all()  # ...and is told back

    images = np.zeros((16, 160, 320, 3), np.uint8)
    labels = np.full(16, 9.0, np.float32)
    pool.mix_into(images, labels, Frames(), pool.draw(16, seed=3))
    replaced = np.flatnonzero(labels != 9.0)
    assert len(replaced) == 4  # a quarter of 16
    synth = ViewSynthesizer(top=CROP_TOP)
    for slot in replaced:  # a label can be shared (clamped at full lock): the view is one of its states'
        candidates = pool.states[pool.states["steering"] == labels[slot]].itertuples()
        expected = [synth.synthesize({s.camera: Frames().get([s.image])[0]},
                                     Shift(s.lateral_m, s.yaw_rad, s.forward_m), s.camera) for s in candidates]
        assert any(np.array_equal(images[slot, CROP_TOP:], view[CROP_TOP:]) for view in expected)
    again_images, again_labels = np.zeros_like(images), np.full(16, 9.0, np.float32)
    pool.mix_into(again_images, again_labels, Frames(), pool.draw(16, seed=3))
    np.testing.assert_array_equal(again_labels, labels)  # a batch is its seed's alone
    np.testing.assert_array_equal(again_images, images)


def test_a_round_in_lockstep_pools_the_states_its_cars_reach_one_by_one_noise_and_all(rows, monkeypatch):
    monkeypatch.setattr(onpolicy, "ROUND_STRETCH_S", 1.0)  # three cars on this 3.9 s recording
    footage = Footage.from_rows(rows)
    labels = rows["steering"].to_numpy()
    pool = StatePool(rows, labels, share=0.5, return_s=1.3)
    pool.gather(DriftingNoise(Driver(footage), 0.2, seed=4), LineRule(max_offset_m=0.5), round_=1)
    alone = replay(footage, DriftingNoise(Driver(footage), 0.2, seed=4), LineRule(max_offset_m=0.5), stretch_s=1.0,
                   lockstep=1)
    assert len(cut(footage, 1.0)) == 3 and sum(alone.intervened) > 0
    pd.testing.assert_frame_equal(pool.states, visited_states(footage, labels, alone, 1.3, round_=1))

    stored = StatePool(rows, labels, share=0.5, return_s=1.3)
    stored.frames = Counting()  # training's frame store: the round decodes nothing itself
    stored.gather(DriftingNoise(Driver(footage), 0.2, seed=4), LineRule(max_offset_m=0.5), round_=1)
    pd.testing.assert_frame_equal(stored.states, pool.states)
    assert stored.frames.asked >= len(rows) - 1


def test_training_batches_take_their_share_from_the_pool_once_it_holds_states(recording):
    data = make_datasets(TrainConfig(data=[str(recording)], on_policy_share=0.5, val_block=10, val_fraction=0.25,
                                     batch_size=16, workers=1, augment=False))
    _, before = next(iter(data.train))
    data.pool.gather(steady(0.6), LineRule(max_offset_m=2.0))
    pooled = set(np.round(data.pool.states["steering"].to_numpy(dtype=float), 5))
    _, after = next(iter(data.train))
    def from_pool(labels):
        return sum(round(float(v), 5) in pooled for v in labels.numpy())
    assert from_pool(after) >= 8 > from_pool(before)  # half of 16, where an empty pool gave none


def test_an_empty_pool_leaves_the_batch_alone(rows):
    pool = StatePool(rows, rows["steering"].to_numpy(), share=0.5, return_s=1.3)
    images, labels = np.zeros((8, 160, 320, 3), np.uint8), np.full(8, 9.0, np.float32)
    pool.mix_into(images, labels, Frames(), pool.draw(8, seed=0))
    assert (labels == 9.0).all() and not images.any()


def test_a_run_with_on_policy_training_drives_its_footage_before_each_epoch_from_the_start(recording, tmp_path):
    assert fit.main(fit_args(recording, tmp_path, "--epochs", "2", "--on-policy-share", "0.5",
                             "--on-policy-start", "1", "--on-policy-noise", "0.1")) == 0
    history = pd.read_csv(tmp_path / runs.LATEST / runs.HISTORY)
    assert np.isnan(history["on_policy_states"][0])  # epoch 1: plain cloning
    assert history["on_policy_states"][1] > 0 and not np.isnan(history["on_policy_autonomy"][1])


def test_on_policy_share_out_of_range_is_refused_naming_the_flag(recording, tmp_path, capsys):
    assert fit.main(fit_args(recording, tmp_path, "--on-policy-share", "1")) == 2
    assert "--on-policy-share must be" in capsys.readouterr().err


def test_injected_noise_drifts_rather_than_flickers_and_takes_a_straight_driver_off_its_path(rows):
    noisy = DriftingNoise(ZeroSteering(), sigma=0.1, seed=3)
    errors = np.array([noisy(None, np.zeros(1, int), np.array([7]))[0] for _ in range(20000)])
    assert errors.std() == pytest.approx(0.1, rel=0.1)
    assert np.corrcoef(errors[:-1], errors[1:])[0, 1] > 0.8  # keeps its sign for a while: moves the car
    cars = DriftingNoise(ZeroSteering(), sigma=0.1, seed=3)(None, np.zeros(3, int), np.array([5, 7, 9]))
    assert cars[1] == errors[0] and len(set(cars)) == 3, "each car's error is its own, the same in any company"
    near_lock = ModelPolicy(lambda views: np.full(len(views), 0.98))
    assert np.abs(DriftingNoise(near_lock, 0.5, 0)(np.zeros((50, 1)), np.zeros(50, int), np.arange(50))).max() <= 1.0

    footage = Footage.from_rows(rows)
    plain = StatePool(rows, rows["steering"].to_numpy(), share=0.5, return_s=1.3)
    shaken = StatePool(rows, rows["steering"].to_numpy(), share=0.5, return_s=1.3)
    plain.gather(Driver(footage), LineRule(max_offset_m=2.0))  # the driver's own steering: on the path
    shaken.gather(DriftingNoise(Driver(footage), 0.2, seed=0), LineRule(max_offset_m=2.0))
    assert np.abs(plain.states["lateral_m"]).max() < 0.05
    assert np.abs(shaken.states["lateral_m"]).max() > 0.3  # states the driver never reached, labelled


def test_the_pool_is_kept_round_by_round_and_restored_without_rounds_of_unfinished_epochs(rows, tmp_path):
    pool = StatePool(rows, rows["steering"].to_numpy(), share=0.5, return_s=1.3)
    pool.gather(steady(0.3), LineRule(max_offset_m=2.0), round_=2)
    second = pool.states.copy()
    pool.gather(steady(-0.3), LineRule(max_offset_m=2.0), round_=3)
    pool.save(tmp_path / runs.ON_POLICY_STATES)

    again = StatePool(rows, rows["steering"].to_numpy(), share=0.5, return_s=1.3)
    assert again.restore(tmp_path / runs.ON_POLICY_STATES, before_round=3) == len(second) < pool.size
    pd.testing.assert_frame_equal(again.states, second, check_dtype=False)
    assert again.states["steering"].dtype == np.float32


def test_a_resumed_run_draws_again_on_the_states_of_its_earlier_rounds(recording, tmp_path):
    flags = ["--on-policy-share", "0.5", "--on-policy-start", "1", "--on-policy-noise", "0"]
    assert fit.main(fit_args(recording, tmp_path, "--epochs", "2", *flags)) == 0
    run = (tmp_path / runs.LATEST).resolve()
    assert (run / runs.ON_POLICY_STATES).is_file()
    assert fit.main(["--resume", str(run), "--epochs", "3"]) == 0
    pooled = pd.read_csv(run / runs.HISTORY)["on_policy_states"].tolist()
    assert np.isnan(pooled[0]) and pooled[2] > pooled[1] > 0  # the second round adds to the first's states
    assert sorted(set(pd.read_csv(run / runs.ON_POLICY_STATES)["round"])) == [1, 2]


def test_a_resumed_worker_restores_the_pool_it_resumes_from_and_keeps_its_own_elsewhere(rows, tmp_path):
    chief = StatePool(rows, rows["steering"].to_numpy(), share=0.5, return_s=1.3)
    chief.gather(steady(0.3), LineRule(max_offset_m=2.0), round_=1)
    chief.save(tmp_path / "chief.csv")
    worker = StatePool(rows, rows["steering"].to_numpy(), share=0.5, return_s=1.3)
    rounds = OnPolicyRounds(worker, start=1, max_offset_m=2.0, states_file=tmp_path / "scratch.csv",
                            restore_from=tmp_path / "chief.csv")
    rounds._resume(epoch=2)
    assert worker.size == chief.size > 0 and not (tmp_path / "scratch.csv").exists()
