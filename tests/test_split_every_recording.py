"""Every recording with held-out rows is tested: a recording the seeded draw of test stretches left out
(the jungle of `all --with-jungle`, seeds 2 and 4) would report nothing of itself."""
from __future__ import annotations

import logging

import pandas as pd
import pytest
from test_samples import log_rows

from training.config import TrainConfig
from training.samples import split_by_time, split_rows, split_test

THREE = {"lake": 2000, "jungle": 1000, "windows": 600}


def _tested_blocks(test: pd.DataFrame) -> set[tuple[str, int]]:
    return set(zip(test["recording"], test["row"] // 100))


def _held(recording: str, rows: range) -> pd.DataFrame:
    return log_rows({recording: rows.stop}).query("row >= @rows.start").reset_index(drop=True)


@pytest.mark.parametrize("seed", range(12))
def test_every_recording_with_held_out_rows_has_test_rows_and_the_training_rows_stay(seed):
    rows = log_rows(THREE)
    config = TrainConfig(val_fraction=0.2, val_block=100, test_share=0.5, seed=seed)
    train, val, test = split_rows(rows, config)
    assert train.equals(split_by_time(rows, 0.2, 100, seed)[0])  # only the held-out rows are parted anew
    assert set(test["recording"]) == set(THREE) and len(val)
    held = pd.concat([val, test])
    assert len(held) == len(split_by_time(rows, 0.2, 100, seed)[1]) and not held.duplicated(["recording", "row"]).any()


@pytest.mark.parametrize("seed, blocks", [  # the draw tested every recording: the split runs made before kept
    (7, {("jungle", 6), ("lake", 10), ("windows", 1)}),
    (8, {("jungle", 3), ("lake", 6), ("windows", 0)}),
])
def test_a_draw_that_tested_every_recording_is_kept(seed, blocks):
    held = split_by_time(log_rows(THREE), 0.2, 100, seed)[1]
    assert _tested_blocks(split_test(held, 0.5, seed, 100)[1]) == blocks


def test_an_added_stretch_sends_another_back_to_keep_near_the_share():
    # lake: four separate blocks, jungle one; a share of 0.4 draws two lake blocks at most, then the
    # jungle's added block would make three of five tested: one lake block goes back.
    held = pd.concat([_held("lake", range(b * 200, b * 200 + 100)) for b in range(4)] + [_held("jungle", range(0, 100))])
    for seed in range(10):
        val, test = split_test(held, 0.4, seed, 100)
        assert "jungle" in set(test["recording"]) and "lake" in set(test["recording"])
        assert len(test) == 200 and len(val) == 300


def test_the_last_stretch_left_to_validate_is_cut_to_test_its_recording_too(caplog):
    # one stretch each: the draw tests lake's or jungle's, and the other is all that is left to validate
    held = pd.concat([_held("lake", range(0, 300)), _held("jungle", range(400, 700))])
    for seed in range(4):
        with caplog.at_level(logging.INFO):
            val, test = split_test(held, 0.5, seed, 100)
        assert set(test["recording"]) == {"lake", "jungle"} and len(val) == 200
        cut = val["recording"].iloc[0]
        assert set(test.loc[test["recording"] == cut, "row"] // 100) == {0 if cut == "lake" else 4}  # its first block
        assert "last left to validate: testing their first block" in caplog.text


def test_a_last_block_left_to_validate_stays_validated_with_a_warning(caplog):
    held = pd.concat([_held("lake", range(0, 100)), _held("jungle", range(400, 500))])
    with caplog.at_level(logging.WARNING):
        val, test = split_test(held, 0.5, 0, 100)
    assert len(val) == 100 and len(test) == 100 and set(val["recording"]).isdisjoint(test["recording"])
    assert "hold out more with --val-fraction" in caplog.text
