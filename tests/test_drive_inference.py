"""load_runner reads every model form users have, runs it like Keras does, and refuses bad models clearly."""
from __future__ import annotations

import os
import warnings
from pathlib import Path

import keras
import numpy as np
import pytest
from keras import layers

from base import convert as conversion
from base.convert import TOLERANCE
from base.frames import FRAME_SHAPE
from base.modelfile import ModelLoadError
from base.runners import KerasRunner
from base.runtime import load_runner
from training.model import build_model


@pytest.fixture(scope="module")
def model() -> keras.Model:
    keras.utils.set_random_seed(1)
    return build_model()


@pytest.fixture(scope="module")
def frames() -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, size=(3, *FRAME_SHAPE), dtype=np.uint8)


def _expected(model: keras.Model, frames: np.ndarray) -> np.ndarray:
    return np.asarray(model(frames.astype("float32"), training=False)).reshape(-1)


def test_keras_file_runs_on_onnx_runtime_with_keras_results(model, frames, tmp_path: Path) -> None:
    model.save(tmp_path / "m.keras")
    runner = load_runner(tmp_path / "m.keras")
    assert "ONNX Runtime" in runner.source
    np.testing.assert_allclose(runner.predict(frames), _expected(model, frames), atol=1e-4)
    assert runner.predict_one(frames[1]) == pytest.approx(float(_expected(model, frames)[1]), abs=1e-4)


def test_batches_of_any_size_including_more_than_one_call(model, frames, tmp_path: Path) -> None:
    model.save(tmp_path / "m.keras")
    many = np.concatenate([frames] * 90)  # 270 frames: two calls of a batch
    np.testing.assert_allclose(load_runner(tmp_path / "m.keras").predict(many), _expected(model, many), atol=1e-4)
    assert load_runner(tmp_path / "m.keras").predict(frames[:0]).shape == (0,)


def test_tf_function_fallback_gives_keras_results(model, frames) -> None:
    runner = KerasRunner(model)
    assert runner.predict_one(frames[0]) == pytest.approx(float(_expected(model, frames)[0]), abs=1e-5)
    np.testing.assert_allclose(runner.predict(frames), _expected(model, frames), atol=1e-5)


def test_run_folder_loads_its_model_keras(model, frames, tmp_path: Path) -> None:
    model.save(tmp_path / "model.keras")
    np.testing.assert_allclose(load_runner(tmp_path).predict(frames), _expected(model, frames), atol=1e-4)


def test_exported_onnx_and_tflite_give_keras_results(model, frames, tmp_path: Path) -> None:
    expected = _expected(model, frames)  # first: Keras exports only a model that has been called
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.export(str(tmp_path / "m.onnx"), format="onnx", verbose=False)
        model.export(str(tmp_path / "m.tflite"), format="litert", verbose=False)
    for name in ("m.onnx", "m.tflite"):
        np.testing.assert_allclose(load_runner(tmp_path / name).predict(frames), expected, atol=1e-4, err_msg=name)


def _course_model() -> keras.Model:
    """The course's model shape: a Lambda normalisation layer on raw frames, as in Keras-2-era .h5 files."""
    frames = keras.Input(FRAME_SHAPE)
    x = layers.Lambda(lambda t: t / 127.5 - 1.0)(frames)
    x = layers.Cropping2D(((70, 25), (0, 0)))(x)
    x = layers.Conv2D(4, 5, strides=4, activation="relu")(x)
    return keras.Model(frames, layers.Dense(1)(layers.Flatten()(x)))


def test_h5_with_lambda_needs_allow_unsafe_and_then_drives(frames, tmp_path: Path) -> None:
    model = _course_model()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.save(tmp_path / "course.h5")
    with pytest.raises(ModelLoadError, match="--allow-unsafe") as error:
        load_runner(tmp_path / "course.h5")
    assert "\n" not in str(error.value)
    runner = load_runner(tmp_path / "course.h5", allow_unsafe=True)
    np.testing.assert_allclose(runner.predict(frames), _expected(model, frames), atol=1e-4)


def test_wrong_input_shape_is_refused_at_load(tmp_path: Path) -> None:
    inputs = keras.Input((66, 200, 3))
    keras.Model(inputs, layers.Dense(1)(layers.GlobalAveragePooling2D()(inputs))).save(tmp_path / "small.keras")
    with pytest.raises(ModelLoadError, match=r"\(N, 66, 200, 3\).*\(N, 160, 320, 3\)"):
        load_runner(tmp_path / "small.keras")


@pytest.mark.parametrize("name, content, message", [
    ("missing.keras", None, "does not exist"),
    ("broken.keras", b"not a zip", "is not a model file: a .keras model is a zip archive"),
    ("broken.onnx", b"not onnx", "cannot load"),
    ("model.pt", b"", "not a model file"),
])
def test_unusable_files_give_one_line_errors(tmp_path: Path, name: str, content: bytes | None, message: str) -> None:
    if content is not None:
        (tmp_path / name).write_bytes(content)
    with pytest.raises(ModelLoadError, match=message) as error:
        load_runner(tmp_path / name)
    assert "\n" not in str(error.value)


def test_folder_without_model_keras_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="without model.keras"):
        load_runner(tmp_path)


def test_a_keras_model_is_converted_once_and_its_onnx_kept_beside_it(model, frames, tmp_path: Path) -> None:
    model.save(tmp_path / "model.keras")
    first = load_runner(tmp_path)
    onnx = tmp_path / "model.onnx"
    assert "converted from model.keras now" in first.source and onnx.is_file()
    assert [p.name for p in tmp_path.iterdir() if ".tmp" in p.name] == []
    made = onnx.stat().st_mtime_ns
    again = load_runner(tmp_path)
    assert "kept beside model.keras" in again.source and onnx.stat().st_mtime_ns == made
    np.testing.assert_allclose(again.predict(frames), _expected(model, frames), atol=TOLERANCE)
    os.utime(tmp_path / "model.keras", ns=(made + 10**9, made + 10**9))  # a newer model.keras (training went on)
    assert "converted from model.keras now" in load_runner(tmp_path).source and onnx.stat().st_mtime_ns > made


def test_an_export_that_disagrees_with_keras_is_not_kept_and_keras_drives(model, frames, tmp_path: Path,
                                                                         monkeypatch) -> None:
    model.save(tmp_path / "model.keras")
    monkeypatch.setattr(conversion, "TOLERANCE", -1.0)  # no export can pass: as if the converter had a bug
    runner = load_runner(tmp_path)
    assert isinstance(runner, KerasRunner) and not (tmp_path / "model.onnx").exists()
    np.testing.assert_allclose(runner.predict(frames), _expected(model, frames), atol=1e-5)


def test_a_folder_it_cannot_write_converts_in_memory(model, frames, tmp_path: Path, monkeypatch) -> None:
    model.save(tmp_path / "model.keras")

    real_write_atomic = conversion.write_atomic

    def read_only(path, write):
        if Path(path).parent == tmp_path:
            raise PermissionError(13, "Permission denied", str(path))
        return real_write_atomic(path, write)

    monkeypatch.setattr(conversion, "write_atomic", read_only)
    runner = load_runner(tmp_path)
    assert "at start-up" in runner.source and not (tmp_path / "model.onnx").exists()
    np.testing.assert_allclose(runner.predict(frames), _expected(model, frames), atol=TOLERANCE)
