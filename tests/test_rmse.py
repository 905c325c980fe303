"""`python -m training.rmse`: RMSE and MAE beside the zero baseline, on any model format, with a plot."""
from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import keras
import numpy as np
import pytest
from fit_helpers import save_untrained_model
from recordings import write_log

from base.logs import read_recordings
from base.split import SplitError, held_out_rows, save_split
from training import export, rmse
from training.framestore import load_frames
from training.samples import split_by_time, split_test


@pytest.fixture(scope="module")
def recording(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("recording")
    write_log(folder, rows=30, seed=1)
    return folder


@pytest.fixture(scope="module")
def model_path(tmp_path_factory) -> Path:
    return save_untrained_model(tmp_path_factory.mktemp("run"), seed=6)


def run_json(capsys, *argv: str) -> dict:
    capsys.readouterr()
    assert rmse.main([*argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def test_metrics_are_the_centre_camera_errors_beside_the_zero_baseline(model_path, recording, capsys):
    result = run_json(capsys, str(model_path), str(recording))
    rows = read_recordings([recording])
    recorded = rows["steering"].to_numpy()
    predicted = keras.models.load_model(model_path, compile=False).predict(
        load_frames(rows["center"].tolist()).astype(np.float32), verbose=0).reshape(-1)
    assert set(result) == {"rmse", "mae", "baseline_rmse", "frames"}
    assert result["frames"] == 30
    assert result["baseline_rmse"] == pytest.approx(np.sqrt(np.mean(recorded ** 2)))
    assert result["rmse"] == pytest.approx(np.sqrt(np.mean((predicted - recorded) ** 2)), rel=1e-4)
    assert result["mae"] == pytest.approx(np.mean(np.abs(predicted - recorded)), rel=1e-4)


def test_an_onnx_export_and_a_legacy_h5_score_like_the_keras_model(model_path, recording, capsys, tmp_path):
    reference = run_json(capsys, str(model_path), str(recording))
    onnx = tmp_path / "model.onnx"
    assert export.main([str(model_path), "--format", "onnx", "--out", str(onnx)]) == 0
    h5 = tmp_path / "model.h5"
    keras.models.load_model(model_path, compile=False).save(h5)
    for other in (onnx, h5):
        assert run_json(capsys, str(other), str(recording))["rmse"] == pytest.approx(reference["rmse"], abs=1e-5)


def test_plot_and_human_readable_output(model_path, recording, tmp_path, capsys):
    plot = tmp_path / "steering.png"
    assert rmse.main([str(model_path), str(recording), "--plot", str(plot)]) == 0
    out = capsys.readouterr().out
    assert "RMSE" in out and "baseline" in out and str(plot) in out
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_split_val_scores_exactly_the_rows_the_run_held_out(model_path, recording, capsys):
    rows = read_recordings([recording])
    _, val_rows = split_by_time(rows, val_fraction=0.34, block=10, seed=3)
    save_split(model_path.parent, rows, val_rows)
    result = run_json(capsys, str(model_path.parent), "--split", "val")
    assert result["frames"] == len(val_rows) == 10  # one block of the three
    everything = run_json(capsys, str(model_path), str(recording))
    assert everything["frames"] == 30


def test_split_test_and_val_score_the_two_parts_of_the_held_out_rows(model_path, recording, capsys):
    rows = read_recordings([recording])
    held = rows[(rows["row"] < 10) | (rows["row"] >= 20)]  # the first and last of three blocks
    val, test = split_test(held, share=0.5, seed=0, block=10)
    save_split(model_path.parent, rows, val, test)
    assert run_json(capsys, str(model_path.parent), "--split", "val")["frames"] == len(val) == 10
    assert run_json(capsys, str(model_path.parent), "--split", "test")["frames"] == len(test) == 10
    assert held_out_rows(model_path.parent, blocks="all")["row"].tolist() == sorted(held["row"])
    assert held_out_rows(model_path.parent, blocks="test")["row"].tolist() == test["row"].tolist()


def test_a_recording_without_test_blocks_of_a_run_with_them_is_refused_not_passed_off(tmp_path, capsys):
    first, second, run = tmp_path / "first", tmp_path / "second", tmp_path / "run"
    write_log(first, rows=30, seed=1)
    write_log(second, rows=30, seed=2)
    run.mkdir()
    rows = read_recordings([first, second])
    held = rows[rows["row"] < 10]  # the first block of each recording
    val, test = held[held["recording"] == str(first)], held[held["recording"] == str(second)]
    save_split(run, rows, val, test)
    assert held_out_rows(run, [second], blocks="test")["row"].tolist() == list(range(10))
    with pytest.raises(SplitError, match="has no test rows in first: pass other recordings of it"):
        held_out_rows(run, [first], blocks="test")  # its held-out rows validated: they are not test rows
    with pytest.raises(SplitError, match="has no validation rows in second"):
        held_out_rows(run, [second], blocks="validation")


def test_a_run_without_test_blocks_tests_on_all_it_held_out(model_path, recording, caplog):
    rows = read_recordings([recording])
    held = rows[(rows["row"] < 10) | (rows["row"] >= 20)]
    save_split(model_path.parent, rows, held)  # as runs made before test blocks, or with --test-share 0
    with caplog.at_level(logging.WARNING):
        assert held_out_rows(model_path.parent, blocks="test")["row"].tolist() == sorted(held["row"])
    assert "kept no test blocks" in caplog.text
    assert held_out_rows(model_path.parent, blocks="validation")["row"].tolist() == sorted(held["row"])


def test_split_val_refuses_a_recording_that_grew_since_training(model_path, tmp_path, capsys):
    recording, run = tmp_path / "recording", tmp_path / "run"
    log = write_log(recording, rows=30, seed=2)
    run.mkdir()
    shutil.copy(model_path, run / "model.keras")
    rows = read_recordings([recording])
    save_split(run, rows, split_by_time(rows, val_fraction=0.34, block=10, seed=3)[1])
    with open(log, "a") as f:  # what sim.record and drive.py do to an existing recording
        f.write(log.read_text().splitlines()[-1] + "\n")
    assert rmse.main([str(run), "--split", "val"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0] == (f"error: {log} changed since {run} was trained on it (30 usable rows then, 31 usable rows "
                      "now): the rows it held out for validation are no longer known; retrain, or evaluate on the "
                      "whole recording")


@pytest.mark.parametrize("argv, needle", [
    (["{tmp}/missing.keras", "{rec}"], "does not exist"),
    (["{model}"], "no recordings"),
    (["{model}", "{tmp}"], "driving_log.csv"),
    (["{tmp}", "--split", "val"], "without model.keras"),
    (["{tmp}/copy/model.keras", "--split", "val"], "has no split.json"),
])
def test_bad_input_is_one_error_line(argv, needle, model_path, recording, tmp_path, capsys):
    values = {"tmp": tmp_path, "rec": recording, "model": model_path}
    (tmp_path / "copy").mkdir()
    shutil.copy(model_path, tmp_path / "copy" / "model.keras")  # a model file of a run without split.json
    assert rmse.main([a.format(**values) for a in argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and needle in err[0], err
