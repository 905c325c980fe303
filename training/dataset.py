"""Recordings → `tf.data` pipelines of raw RGB frames and steering that `model.fit` takes directly.

Each JPEG is decoded once, into a compact `training.framestore.FrameStore` (the rows training reads; in
memory up to `config.memory_mb`, beyond it on disk). Batches are assembled and augmented by `config.workers`
parallel calls; a batch's augmentation is seeded from the run's seed and the samples it holds, so a
run is reproducible whatever order the workers finish in. Preprocessing lives in the model, so the
batches are plain frames (B, 160, 320, 3) uint8 and steering (B,) float32; augmentation touches only
the rows the model crops to (the rest of a training frame keeps its original pixels).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import tensorflow as tf

from base.frames import CROP_BOTTOM, CROP_TOP, FRAME_SHAPE
from base.logs import LogError, scan_recordings, select_rows
from evaluate.replay import Footage
from training.augment import Augmenter
from training.config import TrainConfig
from training.framestore import FrameStore, band_top
from training.onpolicy import StatePool
from training.samples import SampleSet, prepare_samples, summarize

log = logging.getLogger(__name__)



@dataclass(frozen=True)
class Datasets:
    train: tf.data.Dataset
    val: tf.data.Dataset | None  # None when config.val_fraction is 0 (the CLI's settings refuse it)
    train_samples: int
    val_samples: int
    summary: dict[str, Any]
    samples: SampleSet  # the split and balanced samples the datasets were built from
    pool: StatePool | None  # with on-policy training: the states the model reached, mixed into the batches
    frames: FrameStore  # every frame the batches, the on-policy rounds and the validation replay read


def make_datasets(config: TrainConfig) -> Datasets:
    """Read, split, balance and wrap `config.data` as training (augmented) and validation datasets.

    Each step is one module's, in the order of the layers: the logs (base.logs), the samples and their
    summary (training.samples), the on-policy pool (training.onpolicy), the frames, the augmentation."""
    recordings = scan_recordings(config.data)
    rows = select_rows(recordings, config.skip_missing)
    samples = prepare_samples(rows, config)
    summary = summarize(recordings, samples)
    if config.val_fraction > 0 and samples.val.empty:
        raise LogError(_no_validation(samples.rows, config.val_block))
    pool = (StatePool(samples.train_rows, samples.train_labels, config.on_policy_share, config.return_s)
            if config.on_policy_share > 0 else None)
    sources = [pd.Series(pool.source_images, dtype=object)] if pool is not None else []  # all a state may need
    # The validation replay's views come from every camera of the held-out rows: decoded here once, not every epoch.
    if not samples.val_rows.empty:
        sources.append(pd.Series(_replay_sources(Footage.from_rows(samples.val_rows)), dtype=object))
    frames = FrameStore(pd.concat([samples.train["image"], samples.val["image"], *sources]).unique(), config.memory_mb,
                        top=band_top(config.pan if config.augment else 0.0))
    if pool is not None:
        pool.frames = frames  # the on-policy rounds read the frames decoded here
    # Only the rows the model crops to are augmented: the model never sees the others.
    augmenter = Augmenter(config, rows=(CROP_TOP, CROP_BOTTOM)) if config.augment else None
    train = _batches(frames, samples.train, config, augmenter, shuffle=True, pool=pool)
    val = _batches(frames, samples.val, config, None, shuffle=False) if not samples.val.empty else None
    summary |= {"frames_in_memory": frames.in_memory, "frames": len(frames.paths)}
    return Datasets(train, val, len(samples.train), len(samples.val), summary, samples, pool, frames)


def _replay_sources(footage: Footage) -> list[str]:
    """Every frame a replay of `footage` may synthesise a view from (each camera that has all its frames)."""
    return [path for camera in footage.cameras for path in footage.frames[camera]]


def _no_validation(rows: pd.DataFrame, block: int) -> str:
    """Why no row was held out (every recording within one block), and the --val-block or recording that would."""
    longest = int(rows.groupby("recording").size().max()) if not rows.empty else 0
    if longest < 2:
        return (f"no validation rows: the longest recording has {longest} usable row{'s' * (longest != 1)}; a "
                "recording needs at least 2 (one to train on, one to hold out): record longer")
    return (f"no validation rows: a recording is held out from only when it spans two blocks of --val-block "
            f"{block} rows, and the longest has {longest} rows: pass --val-block {longest // 2} or lower, or "
            "record longer")


def _batches(frames: FrameStore, samples: pd.DataFrame, config: TrainConfig, augmenter: Augmenter | None,
             shuffle: bool, pool: StatePool | None = None) -> tf.data.Dataset:
    images = samples["image"].to_numpy()
    steering = samples["steering"].to_numpy(dtype=np.float32)

    def batch(indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        # Four words, as when other draws were made from them too: the same seeds, batch for batch.
        seed, _, pool_seed, _ = np.random.SeedSequence([config.seed, *indices.tolist()]).generate_state(4)
        x, y = np.empty((len(indices), *FRAME_SHAPE), dtype=np.uint8), steering[indices]
        # First the car is replaced by where the model drove it, then the camera's picture is panned, zoomed, lit.
        # The pool grows between epochs, so the same indices draw other states later.
        mix = pool.draw(len(indices), int(pool_seed) + pool.size) if pool is not None else None
        kept = np.ones(len(indices), dtype=bool)
        if mix is not None:
            kept[mix.slots] = False  # their views overwrite every pixel: their frames are not fetched
        frames.fill(x, np.flatnonzero(kept), images[indices[kept]])
        if mix is not None:
            pool.mix_into(x, y, frames, mix)
        if augmenter is not None:
            x, y = augmenter(x, y, int(seed))
        return x, y

    def load(indices: tf.Tensor):
        x, y = tf.numpy_function(batch, [indices], [tf.uint8, tf.float32], stateful=False)
        x.set_shape((None, *FRAME_SHAPE))
        y.set_shape((None,))
        return x, y

    order = tf.data.Dataset.range(len(samples))
    if shuffle:
        order = order.shuffle(len(samples), seed=config.seed, reshuffle_each_iteration=True)
    dataset = (order.batch(config.batch_size)
               .map(load, num_parallel_calls=max(1, config.workers), deterministic=True)
               .prefetch(2))
    options = tf.data.Options()
    # Every worker reads the same files; sharding by data (not by file) is what multi-worker training needs.
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return dataset.with_options(options)

