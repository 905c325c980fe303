"""The per-epoch validation replay reads its views' sources from training's frame store: it drives as when it
decodes the held-out frames itself, and decodes none."""
from __future__ import annotations

import keras
import numpy as np
import pytest
from recordings import write_recording

from evaluate import replay as replay_module
from evaluate.replay import Footage
from evaluate.rule_choice import RuleChoice
from training.callbacks import ReplayValidation
from training.config import TrainConfig
from training.dataset import make_datasets
from training.model import build_model


@pytest.fixture
def data(tmp_path):
    rng = np.random.default_rng(1)
    write_recording(tmp_path / "lake", rng.uniform(-0.4, 0.4, 60).round(4), speed=20.0)
    config = TrainConfig(data=[str(tmp_path)], val_block=15, val_fraction=0.3, test_share=0.0, batch_size=8, seed=2)
    return make_datasets(config)


def replayed(data, frames) -> dict:
    keras.utils.set_random_seed(3)
    validation = ReplayValidation(data.samples.val_rows, RuleChoice("line", 0.3), mirror=True, frames=frames)
    validation.set_model(build_model())
    logs: dict = {}
    validation.on_epoch_end(0, logs)
    return logs


def test_the_store_holds_every_camera_of_the_held_out_rows(data):
    footage = Footage.from_rows(data.samples.val_rows)
    assert footage.cameras == ["center", "left", "right"]
    data.frames.get([path for camera in footage.cameras for path in footage.frames[camera]])  # no KeyError


def test_the_validation_replay_from_the_store_drives_as_decoding_and_decodes_nothing(data, monkeypatch):
    decoded = replayed(data, frames=None)

    def no_decoding(path):
        raise AssertionError(f"the replay decoded {path}")

    monkeypatch.setattr(replay_module, "read_frame", no_decoding)
    from_store = replayed(data, frames=data.frames)
    assert from_store.keys() >= {"val_autonomy", "val_interventions"}
    assert {k: v for k, v in from_store.items() if k != "val_replay_s"} == \
           {k: v for k, v in decoded.items() if k != "val_replay_s"}
