"""Validation split by blocks of time, side cameras and steering balance."""
from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest

from training.config import TrainConfig
from training.samples import balance, prepare_samples, retime_labels, split_by_time, split_test, with_side_cameras


def log_rows(lengths: dict[str, int], seed: int = 0) -> pd.DataFrame:
    """Rows as read_recordings gives them, for recordings of the given lengths (image names encode the moment)."""
    rng = np.random.default_rng(seed)
    parts = []
    for recording, n in lengths.items():
        moments = [f"{recording}/{i}" for i in range(n)]
        parts.append(pd.DataFrame({
            "center": [f"{m}/center" for m in moments], "left": [f"{m}/left" for m in moments],
            "right": [f"{m}/right" for m in moments], "steering": rng.uniform(-0.5, 0.5, n), "throttle": 0.5,
            "brake": 0.0, "speed": 20.0, "recording": recording, "row": np.arange(n),
        }))
    return pd.concat(parts, ignore_index=True)


def test_validation_is_whole_blocks_of_time_from_each_recording():
    rows = log_rows({"lake": 1000, "jungle": 400})
    train, val = split_by_time(rows, val_fraction=0.2, block=100, seed=1)
    for recording, n_blocks in [("lake", 10), ("jungle", 4)]:
        val_blocks = val[val["recording"] == recording]["row"] // 100
        counts = val_blocks.value_counts()
        assert (counts == 100).all()  # only whole blocks
        assert len(counts) == round(0.2 * n_blocks)
    assert len(train) + len(val) == len(rows)
    assert set(zip(train["recording"], train["row"])).isdisjoint(zip(val["recording"], val["row"]))


def test_test_rows_are_whole_held_out_stretches_about_the_share_and_never_all():
    rows = log_rows({"lake": 2000, "jungle": 1000})
    _, held = split_by_time(rows, val_fraction=0.3, block=100, seed=2)
    val, test = split_test(held, share=0.5, seed=2, block=100)
    assert len(val) + len(test) == len(held) and len(val) and len(test)
    assert abs(len(test) - 0.5 * len(held)) <= 100  # within a block of the share
    assert set(zip(val["recording"], val["row"])).isdisjoint(zip(test["recording"], test["row"]))
    for part in (val, test):  # whole stretches: a block side by side with another is never cut apart
        for recording, members in held.groupby("recording"):
            stretch = members["row"].diff().ne(1).cumsum()
            inside = members["row"].isin(part.loc[part["recording"] == recording, "row"])
            assert (inside.groupby(stretch).nunique() == 1).all()
    assert test.equals(split_test(held, 0.5, seed=2, block=100)[1])
    assert not test.equals(split_test(held, 0.5, seed=3, block=100)[1])
    assert split_test(held, 0.99, seed=2, block=100)[0].shape[0] > 0  # one stretch at least still validates
    assert split_test(held, 0.0, seed=2, block=100)[1].empty


def test_rows_missing_inside_a_held_out_block_never_cut_it_in_two():
    rows = log_rows({"lake": 2000})
    _, held = split_by_time(rows, val_fraction=0.3, block=100, seed=2)
    gappy = held[held["row"] % 100 != 50]  # a row dropped in every block (--skip-missing, exact copies)
    for seed in range(5):
        val, test = split_test(gappy, share=0.5, seed=seed, block=100)
        assert set(val["row"] // 100).isdisjoint(test["row"] // 100)
        assert val.equals(split_test(held, 0.5, seed, block=100)[0].query("row % 100 != 50").reset_index(drop=True))


def test_held_out_rows_of_one_stretch_all_validate(caplog):
    held = split_by_time(log_rows({"short": 300}), val_fraction=0.3, block=100, seed=0)[1]
    with caplog.at_level(logging.WARNING):
        val, test = split_test(held, share=0.5, seed=0, block=100)
    assert len(val) == 100 and test.empty
    assert "no test blocks" in caplog.text


def test_test_rows_stay_out_of_training_and_validation():
    config = TrainConfig(val_fraction=0.3, val_block=100, test_share=0.5)
    samples = prepare_samples(log_rows({"lake": 2000}), config)
    assert len(samples.test_rows) and len(samples.val_rows)
    tested = set(samples.test_rows["row"])
    assert tested.isdisjoint(samples.train_rows["row"]) and tested.isdisjoint(samples.val_rows["row"])
    assert not {f"lake/{row}" for row in tested} & {image.rsplit("/", 1)[0] for image in samples.train["image"]}
    assert set(samples.val["row"]) == set(samples.val_rows["row"])  # validation batches hold validation rows only


def test_split_is_seeded_and_keeps_training_rows_for_short_recordings():
    rows = log_rows({"lake": 1000, "short": 50})
    first = split_by_time(rows, 0.3, 100, seed=5)[1]
    assert first.equals(split_by_time(rows, 0.3, 100, seed=5)[1])
    assert not first.equals(split_by_time(rows, 0.3, 100, seed=6)[1])
    assert split_by_time(log_rows({"two": 200}), 0.1, 100, seed=0)[1]["row"].nunique() == 100
    train, val = split_by_time(rows, 0.9, 100, seed=0)
    assert (val["recording"] != "short").all()  # one block only: it stays in training
    assert (train["recording"] == "lake").sum() == 100  # at least one block of each recording trains


def test_side_cameras_shift_steering_by_the_tutorials_correction_and_clip():
    rows = log_rows({"lake": 3}).assign(steering=[0.0, 0.9, -0.95])
    samples = with_side_cameras(rows, correction=0.2, return_s=TrainConfig().return_s)
    by_camera = {camera: group["steering"].to_numpy() for camera, group in samples.groupby("camera")}
    np.testing.assert_allclose(by_camera["center"], [0.0, 0.9, -0.95], atol=1e-6)
    np.testing.assert_allclose(by_camera["left"], [0.2, 1.0, -0.75], atol=1e-6)
    np.testing.assert_allclose(by_camera["right"], [-0.2, 0.7, -1.0], atol=1e-6)
    assert samples[samples["camera"] == "left"]["image"].tolist() == rows["left"].tolist()


def test_rows_without_side_images_stay_centre_only():
    # drive.py records autonomous runs with the centre image in all three fields
    rows = log_rows({"lake": 2, "autonomous": 2})
    auto = rows["recording"] == "autonomous"
    rows.loc[auto, "left"] = rows.loc[auto, "right"] = rows.loc[auto, "center"]
    samples = with_side_cameras(rows, correction=0.2, return_s=TrainConfig().return_s)
    assert sorted(samples[samples["recording"] == "autonomous"]["camera"]) == ["center", "center"]
    assert sorted(samples[samples["recording"] == "lake"]["camera"]) == ["center"] * 2 + ["left"] * 2 + ["right"] * 2


def test_balance_caps_each_bin_keeps_order_and_is_seeded():
    steering = np.r_[np.zeros(500), np.full(40, 0.3), np.linspace(-1, 1, 60)]
    samples = pd.DataFrame({"image": [f"{i}" for i in range(len(steering))], "steering": steering})
    result = balance(samples, bins=25, cap=50, seed=3)
    np.testing.assert_array_equal(result.counts_before, np.histogram(steering, bins=25, range=(-1, 1))[0])
    assert (result.counts_after <= 50).all()
    assert result.counts_after.sum() == len(result.samples)
    np.testing.assert_array_equal(result.counts_after, np.minimum(result.counts_before, 50))
    kept = result.samples["image"].astype(int).to_numpy()
    assert (np.diff(kept) > 0).all()
    assert balance(samples, 25, 50, seed=3).samples.equals(result.samples)
    assert not balance(samples, 25, 50, seed=4).samples.equals(result.samples)
    assert balance(samples, 25, None, seed=3).cap == 48  # twice the mean bin count: 2 * 600 / 25


def test_validation_moments_never_reach_training_through_side_cameras():
    rows = log_rows({"lake": 900, "jungle": 600})
    prepared = prepare_samples(rows, TrainConfig(val_fraction=0.25, val_block=50, seed=2), correction=0.2)
    moment = lambda images: {path.rsplit("/", 1)[0] for path in images}  # noqa: E731
    assert moment(prepared.train["image"]).isdisjoint(moment(prepared.val["image"]))
    assert set(prepared.val["camera"]) == {"center"}
    assert set(prepared.train["camera"]) == {"center", "left", "right"}
    assert len(prepared.val) == len(prepared.val_rows) > 0
    assert len(prepared.with_sides) == 3 * len(prepared.train_rows)


@pytest.mark.parametrize("kwargs, message", [
    (dict(val_fraction=1.0, block=10), "val_fraction is 1.0"),
    (dict(val_fraction=0.2, block=0), "val_block is 0"),
])
def test_bad_split_settings_say_what_to_use(kwargs, message):
    with pytest.raises(ValueError, match=message):
        split_by_time(log_rows({"lake": 10}), seed=0, **kwargs)


def test_lead_labels_take_the_steering_recorded_later_within_each_recording():
    # Frames without time stamps come at 10 Hz: a lead of 0.3 s is three rows.
    rows = log_rows({"a": 10, "b": 10}).assign(steering=0.0)
    rows.loc[5, "steering"] = 0.5  # a key tap in recording a
    rows.loc[10, "steering"] = -0.4  # the first row of recording b
    led = retime_labels(rows, lead_s=0.3)["steering"].to_numpy()
    np.testing.assert_allclose(led[:10], [0, 0, 0.5, 0, 0, 0, 0, 0, 0, 0], atol=1e-9)
    np.testing.assert_allclose(led[10:], 0.0, atol=1e-9)  # b's first tap is before any of its frames' leads
    assert rows.loc[5, "steering"] == 0.5  # the rows given are left as they were
    ending = log_rows({"a": 4}).assign(steering=[0.0, 0.1, 0.2, 0.3])
    np.testing.assert_allclose(retime_labels(ending, lead_s=0.3)["steering"], [0.3, 0.3, 0.3, 0.3])


def test_training_labels_lead_while_validation_keeps_the_recorded_steering():
    rows = log_rows({"lake": 600})
    config = TrainConfig(label_lead_s=0.2, bin_cap=10**6)
    samples = prepare_samples(rows, config, correction=0.0)
    centre = samples.train[samples.train["camera"] == "center"].set_index("row")["steering"]
    recorded = rows.set_index("row")["steering"]
    inner = [r for r in centre.index if r + 2 < 600 and r + 2 in centre.index]
    np.testing.assert_allclose(centre[inner], recorded[[r + 2 for r in inner]], atol=1e-6)
    val = samples.val.set_index("row")["steering"]
    np.testing.assert_allclose(val, recorded[val.index], atol=1e-6)
    before_val = [r for r in centre.index if r + 1 in val.index]  # its lead would fall in a held-out block
    assert before_val
    np.testing.assert_allclose(centre[before_val], recorded[before_val], atol=1e-6)


def _stamped(times_s: list[float], recording: str = "a", first_row: int = 0) -> pd.DataFrame:
    """Rows whose frame names carry the real simulator's time stamps, at the given seconds."""
    names = [f"{recording}/IMG/center_2026_12_02_10_{int(t) // 60:02d}_{int(t) % 60:02d}_{round(t % 1 * 1000):03d}.jpg"
             for t in times_s]
    return pd.DataFrame({"center": names, "left": names, "right": names, "steering": 0.0, "throttle": 0.5,
                         "brake": 0.0, "speed": 20.0, "recording": recording,
                         "row": np.arange(first_row, first_row + len(times_s))})


def test_the_lead_follows_the_frames_time_stamps_and_stops_at_pauses_and_clocks_that_step_back():
    # 5 Hz frames, then a 3 s pause (longer than the replay's max_gap_s), then a clock 1 s back.
    times = [0.0, 0.2, 0.4, 0.6, 0.8, 3.8, 4.0, 4.2, 3.2, 3.4, 3.6]
    rows = _stamped(times).assign(steering=[0, 0, 0, 0.5, 0, 0.7, 0, 0, 0.9, 0, 0.4])
    led = retime_labels(rows, lead_s=0.2)["steering"].to_numpy()
    np.testing.assert_allclose(led[:5], [0, 0, 0.5, 0, 0], atol=1e-9)  # one frame ahead at 5 Hz
    np.testing.assert_allclose(led[4], 0.0)  # the last frame before the pause keeps its own steering
    np.testing.assert_allclose(led[5:8], [0, 0, 0], atol=1e-9)
    np.testing.assert_allclose(led[8:], [0, 0.4, 0.4], atol=1e-9)  # after the step back: its own stretch
    # Consecutive row numbers in two recordings are still two stretches.
    two = pd.concat([_stamped([0.0, 0.1], "a"), _stamped([0.0, 0.1], "b", first_row=2)], ignore_index=True)
    two["steering"] = [0.0, 0.1, 0.8, 0.0]
    np.testing.assert_allclose(retime_labels(two, lead_s=0.1)["steering"], [0.1, 0.1, 0.0, 0.0], atol=1e-9)
    empty = rows.iloc[:0]
    assert retime_labels(empty, lead_s=0.2).empty
    assert retime_labels(rows, lead_s=0.0) is rows


def test_the_lead_stops_at_a_standstill_and_rows_standing_keep_their_steering():
    rows = _stamped([0.1 * i for i in range(8)]).assign(
        speed=[3, 2.5, 2, 0.4, 0.1, 0.4, 2, 2.5], steering=[0, 0, 0, 0.9, -0.9, 0.5, 0, 0])
    led = retime_labels(rows, lead_s=0.1)["steering"].to_numpy()
    # Rows 0-3 pull up to a stand, row 4 stands, rows 5-7 drive off: no label crosses the stand.
    np.testing.assert_allclose(led, [0, 0, 0.9, 0.9, -0.9, 0, 0, 0], atol=1e-9)


@pytest.mark.parametrize("seed", range(8))
def test_a_short_last_block_is_never_held_out_alone(seed, caplog):
    # 613 rows in blocks of 150: the fifth block is 13 rows, too short to replay or to judge a model by.
    rows = log_rows({"windows": 613})
    caplog.set_level(logging.INFO)
    train, val = split_by_time(rows, 0.2, 150, seed)
    held = np.sort(val["row"].to_numpy())
    assert len(held) >= 150 and (np.diff(held) == 1).all() and len(train) + len(val) == 613
    chose_the_tail = held[-1] == 612
    assert chose_the_tail == ("has only 13 rows: holding out the 150 rows before it too" in caplog.text)


def test_a_short_last_block_of_a_two_block_recording_gives_way_to_the_full_block():
    rows = log_rows({"short": 160})
    for seed in range(6):
        train, val = split_by_time(rows, 0.2, 150, seed)
        assert val["row"].tolist() == list(range(150)) and train["row"].tolist() == list(range(150, 160))
