"""`python -m training.export`: ONNX and LiteRT files that steer like the Keras model, written atomically."""
from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pytest
from fit_helpers import save_untrained_model
from recordings import road_frame

from base.convert import TOLERANCE
from base.runtime import load_runner
from training import export


@pytest.fixture(scope="module")
def keras_model(tmp_path_factory) -> Path:
    return save_untrained_model(tmp_path_factory.mktemp("run"), seed=4)


@pytest.mark.parametrize("fmt", ["onnx", "tflite"])
def test_export_steers_like_the_keras_model(keras_model, fmt, capfd):
    assert export.main([str(keras_model.parent), "--format", fmt]) == 0
    exported = keras_model.with_suffix(f".{fmt}")
    out, err = capfd.readouterr()
    assert f"wrote {exported}" in out
    assert "XNNPACK" not in err  # LiteRT's note at every interpreter it makes (the export checks with one)
    rng = np.random.default_rng(5)
    frames = np.stack([road_frame(x, rng) for x in np.linspace(-0.8, 0.8, 6)])
    expected = keras.models.load_model(keras_model, compile=False).predict(frames.astype(np.float32), verbose=0).reshape(-1)
    steering = load_runner(exported).predict(frames)
    np.testing.assert_allclose(steering, expected, atol=TOLERANCE)
    assert np.ptp(expected) > 10 * TOLERANCE  # the frames do move the steering: the check can fail
    assert not [p for p in exported.parent.iterdir() if ".tmp" in p.name]


def test_export_to_a_chosen_file_replaces_it_in_one_step(keras_model, tmp_path):
    out = tmp_path / "car.onnx"
    out.write_bytes(b"an older export")
    assert export.main([str(keras_model), "--format", "onnx", "--out", str(out)]) == 0
    assert out.read_bytes() != b"an older export"
    load_runner(out)


def test_a_file_that_is_not_a_model_is_refused_and_nothing_is_written(tmp_path, capsys):
    bogus = tmp_path / "model.keras"
    bogus.write_bytes(b"not a zip")
    assert export.main([str(bogus), "--format", "onnx"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: {bogus} is not a model file: a .keras model is a zip archive")
    assert [p.name for p in tmp_path.iterdir()] == ["model.keras"]


def test_a_missing_model_is_one_error_line(tmp_path, capsys):
    assert export.main([str(tmp_path / "nothing"), "--format", "tflite"]) == 2
    assert capsys.readouterr().err.startswith("error: ")
