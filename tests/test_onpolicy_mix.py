"""A batch's on-policy share is drawn before its frames are fetched: the views overwrite every pixel of their slots,
so the frames those slots would have held are never fetched, and the batch is what fetching them gave."""
from __future__ import annotations

import numpy as np
from recordings import write_log
from test_onpolicy import Frames, steady

from base.logs import read_recordings
from evaluate.rules import LineRule
from training.config import TrainConfig
from training.dataset import make_datasets
from training.framestore import FrameStore
from training.onpolicy import StatePool


def test_the_views_overwrite_every_pixel_of_their_slots_whatever_the_slots_held(tmp_path):
    write_log(tmp_path, rows=60)
    rows = read_recordings([tmp_path])
    pool = StatePool(rows, rows["steering"].to_numpy(), share=0.5, return_s=1.3)
    pool.gather(steady(0.6), LineRule(max_offset_m=2.0))
    mix = pool.draw(16, seed=5)
    assert len(mix.slots) == 8 and len(set(mix.slots.tolist())) == 8
    batches = []
    for held in (0, 255, 77):
        images, labels = np.full((16, 160, 320, 3), held, np.uint8), np.zeros(16, np.float32)
        pool.mix_into(images, labels, Frames(), mix)
        batches.append(images[mix.slots])
    np.testing.assert_array_equal(batches[0], batches[1])
    np.testing.assert_array_equal(batches[0], batches[2])


def test_training_fetches_only_the_frames_of_the_slots_that_keep_theirs(tmp_path, monkeypatch):
    write_log(tmp_path, rows=60)
    fetched: list[int] = []
    fill = FrameStore.fill

    def counting(self, out, slots, paths):
        fetched.append(len(paths))
        return fill(self, out, slots, paths)

    monkeypatch.setattr(FrameStore, "fill", counting)
    data = make_datasets(TrainConfig(data=[str(tmp_path)], on_policy_share=0.5, val_block=10, val_fraction=0.25,
                                     batch_size=16, workers=1, augment=False, seed=1))
    data.pool.gather(steady(0.6), LineRule(max_offset_m=2.0))
    fetched.clear()
    epoch = list(data.train)
    assert sum(len(y) for _, y in epoch) == data.train_samples > 16
    # Each batch: its kept samples' frames, then its states' sources, half a batch each; fetching every sample's
    # frame first, as before, would take 1.5 frames a sample.
    assert sum(fetched) == data.train_samples and max(fetched) == 8
