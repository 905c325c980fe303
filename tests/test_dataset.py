"""Frames and tf.data batches: RGB decoding, validation untouched, reproducible, in memory or on disk, distributed fit."""
from __future__ import annotations

import logging
from collections import Counter

import cv2
import keras
import numpy as np
import pytest
import tensorflow as tf
from recordings import frame, write_log, write_recording

from base.logs import LogError, read_recordings
from training.config import TrainConfig
from training.dataset import make_datasets
from training.framestore import FrameStore, band_top, load_frames
from training.samples import prepare_samples


@pytest.fixture
def recordings(tmp_path):
    rng = np.random.default_rng(0)
    write_recording(tmp_path / "lake", rng.uniform(-0.6, 0.6, 40).round(4), style="windows")
    write_recording(tmp_path / "jungle", rng.uniform(-0.6, 0.6, 30).round(4), style="relative", header=True)
    return tmp_path


def tiny_config(data, **overrides) -> TrainConfig:
    settings = dict(data=[str(data)], val_block=10, val_fraction=0.25, batch_size=8, workers=2, seed=4)
    return TrainConfig(**(settings | overrides))


def epoch(dataset: tf.data.Dataset) -> tuple[np.ndarray, np.ndarray]:
    batches = list(dataset.as_numpy_iterator())
    return np.concatenate([x for x, _ in batches]), np.concatenate([y for _, y in batches])


def test_load_frames_decodes_to_rgb(tmp_path):
    paths = []
    for i in range(3):
        paths.append(str(tmp_path / f"{i}.jpg"))
        cv2.imwrite(paths[-1], cv2.cvtColor(frame(i), cv2.COLOR_RGB2BGR))
    frames = load_frames(paths)
    assert frames.dtype == np.uint8 and frames.shape == (3, 160, 320, 3)
    assert np.abs(frames.astype(int) - np.stack([frame(i) for i in range(3)])).mean() < 3


def test_load_frames_names_unreadable_images(tmp_path):
    good, wrong_size, not_jpeg = (str(tmp_path / name) for name in ("good.jpg", "small.jpg", "text.jpg"))
    cv2.imwrite(good, frame(0))
    cv2.imwrite(wrong_size, frame(0)[:80, :160])
    (tmp_path / "text.jpg").write_text("not an image")
    with pytest.raises(LogError, match=f"2 of 3 images could not be read .*first: {wrong_size}, {not_jpeg}"):
        load_frames([good, wrong_size, not_jpeg])


def test_load_frames_refuses_a_truncated_jpeg_libjpeg_would_fill_with_grey(tmp_path):
    # A file cut while the frames were cached elsewhere (the reader's check ran on the whole one).
    cut = str(tmp_path / "cut.jpg")
    cv2.imwrite(cut, frame(0))
    data = (tmp_path / "cut.jpg").read_bytes()
    (tmp_path / "cut.jpg").write_bytes(data[: len(data) // 3])
    with pytest.raises(LogError, match=f"1 of 1 images could not be read .*first: {cut}"):
        load_frames([cut])


def test_batches_are_raw_frames_and_validation_is_the_untouched_centre_camera(recordings):
    config = tiny_config(recordings)
    data = make_datasets(config)
    x, y = epoch(data.train)
    assert x.dtype == np.uint8 and x.shape == (data.train_samples, 160, 320, 3)
    assert y.dtype == np.float32 and y.shape == (data.train_samples,)
    assert data.summary["samples_after_balance"] == data.train_samples
    expected = prepare_samples(read_recordings(config.data), config).val
    assert set(expected["camera"]) == {"center"} and data.val_samples == len(expected) > 0
    val_x, val_y = epoch(data.val)
    top = band_top(config.pan)  # the rows above are read by nothing: they come as zeros
    np.testing.assert_array_equal(val_x[:, top:], load_frames(expected["image"].tolist())[:, top:])
    assert not val_x[:, :top].any()
    np.testing.assert_array_equal(val_y, expected["steering"].to_numpy(dtype=np.float32))


def test_training_batches_are_reproducible_and_reshuffled_each_epoch(recordings):
    first_run = make_datasets(tiny_config(recordings)).train
    second_run = make_datasets(tiny_config(recordings)).train
    epoch_1 = epoch(first_run)
    for a, b in zip(epoch_1, epoch(second_run)):
        np.testing.assert_array_equal(a, b)
    epoch_2 = epoch(first_run)
    assert not np.array_equal(epoch_1[0], epoch_2[0])
    other_seed = epoch(make_datasets(tiny_config(recordings, seed=5)).train)
    assert not np.array_equal(epoch_1[0], other_seed[0])


def test_without_augmentation_training_batches_are_the_samples(recordings):
    config = tiny_config(recordings, augment=False)
    samples = prepare_samples(read_recordings(config.data), config).train
    frames = load_frames(samples["image"].tolist())
    frames[:, :band_top(0.0)] = 0
    expected = Counter(zip(map(bytes, frames), samples["steering"].to_numpy(dtype=np.float32)))
    x, y = epoch(make_datasets(config).train)
    assert Counter(zip(map(bytes, x), y)) == expected


def test_frames_on_disk_give_the_same_batches_say_where_and_leave_no_file(recordings, caplog, tmp_path, monkeypatch):
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    import tempfile
    monkeypatch.setattr(tempfile, "tempdir", None)  # TMPDIR is read again
    with caplog.at_level(logging.INFO, logger="training.framestore"):
        on_disk = make_datasets(tiny_config(recordings, memory_mb=0))
    assert f"on disk in {tmp_path / 'tmp'}" in caplog.text and "--memory-mb 0" in caplog.text
    assert on_disk.summary["frames_in_memory"] is False
    # Unlinked at once: nothing to clean up, whatever happens (TensorFlow's autograph may leave its own files there).
    assert not list((tmp_path / "tmp").glob("training-frames-*"))
    in_memory = make_datasets(tiny_config(recordings))
    assert in_memory.summary["frames_in_memory"] is True
    for a, b in zip(epoch(in_memory.train), epoch(on_disk.train)):
        np.testing.assert_array_equal(a, b)


def test_the_frame_store_keeps_the_rows_from_its_top_and_no_more(recordings):
    paths = sorted(str(p) for p in (recordings / "lake").rglob("*.jpg"))[:5]
    whole = load_frames(paths)
    for memory_mb in (0, 100):
        store = FrameStore(paths, memory_mb, top=43)
        got = store.get(paths[::-1])
        np.testing.assert_array_equal(got[:, 43:], whole[::-1, 43:])
        assert not got[:, :43].any() and store.megabytes == pytest.approx(5 * 117 * 320 * 3 / 2**20)
    assert band_top(0.1) == 43 and band_top(0.0) == 57  # the pan's reach, and the synthesis's from the horizon


def test_fit_takes_the_datasets_under_a_mirrored_strategy(recordings):
    data = make_datasets(tiny_config(recordings))
    with tf.distribute.MirroredStrategy().scope():
        frames = keras.Input((160, 320, 3))
        pooled = keras.layers.GlobalAveragePooling2D()(keras.layers.Rescaling(1 / 255)(frames))
        model = keras.Model(frames, keras.layers.Dense(1)(pooled))
        model.compile(optimizer="adam", loss="mse")
    history = model.fit(data.train, validation_data=data.val, epochs=1, verbose=0, shuffle=False)
    assert np.isfinite(history.history["val_loss"][0])


def test_validation_settings_that_leave_nothing_to_validate(recordings):
    assert make_datasets(tiny_config(recordings, val_fraction=0.0)).val is None
    with pytest.raises(LogError, match="no validation rows: .* longest has 40 rows: pass --val-block 20 or lower"):
        make_datasets(tiny_config(recordings, val_block=100))


def test_a_one_row_log_is_told_to_record_longer_not_to_use_a_setting_that_is_refused(tmp_path):
    write_log(tmp_path / "one", rows=1)
    with pytest.raises(LogError, match="no validation rows: .* 1 usable row; .*record longer") as refused:
        make_datasets(tiny_config(tmp_path / "one"))
    assert "val_fraction" not in str(refused.value)


def test_real_recordings_split_and_batch(realdata):
    data = make_datasets(TrainConfig(data=[str(realdata)], memory_mb=0, batch_size=16))
    assert data.summary["rows"] == 5316 and data.summary["images_missing"] == 0
    assert data.summary["val_rows"] + data.summary["test_rows"] > 0.15 * 5316  # held out, about half of it tested
    assert data.val_samples == data.summary["val_rows"] > 0.05 * 5316 and data.summary["test_rows"] > 0.05 * 5316
    x, y = next(iter(data.train))
    assert x.shape == (16, 160, 320, 3) and y.shape == (16,)
