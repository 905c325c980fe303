"""The model runtime: find a run's model, load it in any of the forms users have, run it fast on single frames.

Every runner takes raw RGB frames (N, 160, 320, 3), values 0..255, exactly as the simulator's camera
gives them: the preprocessing lives inside the model. A Keras model runs with ONNX Runtime (0.6–0.9
ms a frame on two cores, against 1–2 ms for a `tf.function` and 50 ms for `model.predict`): it is
converted once, checked against Keras, and the `.onnx` kept beside the `.keras` for the next start;
if the conversion fails the runner falls back to a `tf.function`. Driving an `.onnx` or `.tflite`
file imports no TensorFlow (LiteRT falls back to TensorFlow's interpreter only where
`ai_edge_litert` is not installed).
"""
from __future__ import annotations

import logging
import math
import os
import tempfile
import warnings
from pathlib import Path
from typing import Callable, Protocol

import numpy as np

from base.atomic import write_atomic
from base.frames import FRAME_SHAPE

log = logging.getLogger(__name__)

BEST_MODEL = "model.keras"  # in a run folder: the model drive.py, evaluation and the replay load
KERAS_SUFFIXES = (".keras", ".h5", ".hdf5")
EXPORT_FORMATS = ("onnx", "tflite")
# Steering is in −1..1 and the car reacts to ~1e-2; float32 reorderings differ by ~1e-6.
TOLERANCE = 1e-4
CHECK_FRAMES = 4
ALLOW_UNSAFE_HELP = ("load models that contain Python code (Keras Lambda layers, e.g. the course's normalisation "
                     "layer in Keras-2-era .h5 files); only for files you trust")


def inference_threads() -> int:
    """Two intra-op threads use both cores of the target machine; more only adds scheduling noise, and a
    process pinned to fewer cores (a container, a one-core benchmark) gets no more threads than cores."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(2, cores))

BATCH = 64  # frames per call in batch prediction (evaluation), where throughput matters, not latency


class ModelLoadError(ValueError):
    """The model cannot be used for driving; the message (one line) says what to do."""


class ConversionError(ModelLoadError):
    """A Keras model could not be exported, or its export disagrees with it; the message says what to do."""


class Runner(Protocol):
    """A loaded model: batch prediction and a fast single-frame path for the drive server."""

    source: str  # how the model is run, for the user ("ONNX Runtime", ...)

    def predict(self, frames: np.ndarray) -> np.ndarray:
        """(N, 160, 320, 3) RGB frames, uint8 or float → (N,) normalised steering."""
        ...

    def predict_one(self, frame: np.ndarray) -> float:
        """One (160, 320, 3) RGB frame → normalised steering."""
        ...


class _SingleFrameRunner:
    """Shared batch path: frames go through `predict_one`'s engine one at a time into a reused buffer."""

    source = ""

    def __init__(self) -> None:
        self._batch = np.empty((1, *FRAME_SHAPE), dtype=np.float32)

    def _run(self, batch: np.ndarray) -> float:
        raise NotImplementedError

    def predict_one(self, frame: np.ndarray) -> float:
        self._batch[0] = frame  # casts uint8 to float32 without a new allocation
        return self._run(self._batch)

    def predict(self, frames: np.ndarray) -> np.ndarray:
        frames = _check_frames(frames)
        return np.array([self.predict_one(frame) for frame in frames], dtype=np.float32)


class OnnxRunner(_SingleFrameRunner):
    def __init__(self, model: str | bytes, source: str = "ONNX Runtime") -> None:
        super().__init__()
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = inference_threads()
        options.inter_op_num_threads = 1
        # Idle workers would otherwise spin for a while after each frame, taking the cores the
        # server's network loop and the simulator need between frames.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self._session = onnxruntime.InferenceSession(model, options, providers=["CPUExecutionProvider"])
        inputs, outputs = self._session.get_inputs(), self._session.get_outputs()
        if len(inputs) != 1 or inputs[0].type != "tensor(float)":
            raise ModelLoadError(
                f"the ONNX model takes {[(i.name, i.type) for i in inputs]}, expected one float32 input of "
                f"raw frames (N, {', '.join(map(str, FRAME_SHAPE))}): export it with training/export.py")
        _check_input_shape(inputs[0].shape)
        self._input, self._output = inputs[0].name, outputs[0].name
        self.source = source
        self.onnx_model = model  # the file or bytes it runs, for a second session (evaluate.saliency)

    def _run(self, batch: np.ndarray) -> float:
        return float(self._session.run([self._output], {self._input: batch})[0].reshape(-1)[0])

    def predict(self, frames: np.ndarray) -> np.ndarray:
        frames = _check_frames(frames)
        return np.concatenate([
            self._session.run([self._output], {self._input: frames[i:i + BATCH].astype(np.float32)})[0].reshape(-1)
            for i in range(0, len(frames), BATCH)] or [np.empty(0, np.float32)])


class TFLiteRunner(_SingleFrameRunner):
    source = "LiteRT"

    def __init__(self, path: Path) -> None:
        super().__init__()
        self._interpreter = _tflite_interpreter(path)
        self._interpreter.allocate_tensors()
        (inp,) = self._interpreter.get_input_details()
        _check_input_shape(list(inp["shape_signature"]))
        if inp["dtype"] != np.float32:
            raise ModelLoadError(f"{path} takes {np.dtype(inp['dtype']).name} input, expected float32 raw frames: "
                                 "export it without quantising the input")
        self._input = inp["index"]
        self._output = self._interpreter.get_output_details()[0]["index"]

    def _run(self, batch: np.ndarray) -> float:
        self._interpreter.set_tensor(self._input, batch)
        self._interpreter.invoke()
        return float(self._interpreter.get_tensor(self._output).reshape(-1)[0])


class KerasRunner(_SingleFrameRunner):
    """A `tf.function` over the Keras model: the fallback when ONNX conversion is not possible."""

    source = "TensorFlow (tf.function)"

    def __init__(self, model) -> None:  # a keras.Model; typed loosely so importing this module stays light
        super().__init__()
        import tensorflow as tf

        self._model = model
        self._call: Callable = tf.function(
            lambda x: model(x, training=False),
            input_signature=[tf.TensorSpec((None, *FRAME_SHAPE), tf.float32)])

    def _run(self, batch: np.ndarray) -> float:
        return float(np.asarray(self._call(batch)).reshape(-1)[0])

    def predict(self, frames: np.ndarray) -> np.ndarray:
        frames = _check_frames(frames).astype(np.float32, copy=False)
        return self._model.predict(frames, batch_size=BATCH, verbose=0).reshape(-1)


def resolve_model_path(path: str | Path) -> Path:
    """The model file `path` names: the file itself, or a run folder's best model (model.keras).

    The one place a model path is resolved, for the drive server, evaluation, export and the replay.
    Raises ModelLoadError (one line) when there is no such file.
    """
    path = Path(path)
    if path.is_dir():
        if not (path / BEST_MODEL).is_file():
            raise ModelLoadError(f"{path} is a folder without {BEST_MODEL}: pass a run folder from "
                                 "`python -m training.fit` or a model file (.keras, .h5, .onnx, .tflite)")
        path = path / BEST_MODEL
    if not path.is_file():
        raise ModelLoadError(f"model {path} does not exist: pass a .keras/.h5/.onnx/.tflite file or a run folder")
    return path


def load_runner(path: str | Path, allow_unsafe: bool = False) -> Runner:
    """The model at `path` (.keras, a run folder, .h5, .onnx or .tflite), ready to drive.

    A Keras model runs from the ONNX file beside it (same name, `.onnx`) when that is newer than the
    Keras file; otherwise it is converted, checked against Keras and kept there for the next start.
    Raises ModelLoadError with a one-line message for a missing or unreadable file, a model that
    needs unsafe deserialisation without `allow_unsafe`, or a model whose input is not raw frames.
    """
    from base.modelfile import check_model_file  # resolves the path, then checks the contents match the suffix

    path = check_model_file(path)
    suffix = path.suffix.lower()
    if suffix in KERAS_SUFFIXES:
        return _keras_runner(path, allow_unsafe)
    if suffix == ".onnx":
        try:
            return OnnxRunner(str(path))
        except ModelLoadError as e:
            raise ModelLoadError(f"{path}: {e}") from None
        except Exception as e:  # onnxruntime raises its own exception types for broken files
            raise ModelLoadError(f"cannot load {path} with ONNX Runtime ({_first_line(e)}): "
                                 "re-export it with training/export.py") from None
    if suffix == ".tflite":
        try:
            return TFLiteRunner(path)
        except ModelLoadError as e:
            raise ModelLoadError(f"{path}: {e}") from None
        except Exception as e:
            raise ModelLoadError(f"cannot load {path} with LiteRT ({_first_line(e)}): "
                                 "re-export it with training/export.py") from None
    raise ModelLoadError(f"{path} is not a model file this server reads: pass a .keras, .h5, .onnx or .tflite "
                         "file, or a run folder")


def load_keras_model(path: Path, allow_unsafe: bool = False):  # -> keras.Model; untyped to keep this module light
    """The Keras model in `path`, with a one-line ModelLoadError for what cannot be loaded or driven."""
    import keras

    try:
        model = keras.models.load_model(path, compile=False, safe_mode=not allow_unsafe)
    except ValueError as e:
        if "safe_mode" in str(e) or "Lambda" in str(e):
            raise ModelLoadError(
                f"{path} contains a Lambda layer (Python code), which loads only with --allow-unsafe "
                "(allow_unsafe=True): pass it if you trust where the file came from") from None
        raise ModelLoadError(f"cannot load {path} ({_first_line(e)}): is it a Keras model file?") from None
    except Exception as e:  # h5py, zipfile and TensorFlow each raise their own types for a damaged file
        raise ModelLoadError(f"cannot load {path} ({_first_line(e)}): is it a Keras model file?") from None
    if len(model.inputs) != 1:
        raise ModelLoadError(f"{path} has {len(model.inputs)} inputs, expected one: raw frames "
                             f"(N, {', '.join(map(str, FRAME_SHAPE))})")
    try:
        _check_input_shape(list(model.inputs[0].shape))
    except ModelLoadError as e:
        raise ModelLoadError(f"{path}: {e}") from None
    return model


def _keras_runner(path: Path, allow_unsafe: bool) -> Runner:
    onnx_path = path.with_suffix(".onnx")
    if _newer(onnx_path, path):
        try:
            return OnnxRunner(str(onnx_path), source=f"ONNX Runtime ({onnx_path.name}, kept beside {path.name})")
        except Exception as e:  # a damaged file: make it again
            log.warning("cannot load %s (%s); converting %s again", onnx_path, _first_line(e), path)
    model = load_keras_model(path, allow_unsafe)
    try:
        try:
            export_checked(model, "onnx", onnx_path)
        except OSError as e:  # a folder this user cannot write to: convert for this start only
            log.warning("cannot keep %s (%s); converting in memory, again at the next start", onnx_path,
                        e.strerror or e)
            return OnnxRunner(to_onnx(model), source=f"ONNX Runtime (converted from {path.name} at start-up)")
    except ConversionError as e:  # tf2onnx fails in many ways on unusual layers; the TF path still drives
        log.warning("%s; driving %s with a tf.function instead", e, path)
        return KerasRunner(model)
    log.info("converted %s to %s (checked against Keras), kept for the next start", path, onnx_path)
    return OnnxRunner(str(onnx_path), source=f"ONNX Runtime ({onnx_path.name}, converted from {path.name} now)")


def _newer(path: Path, than: Path) -> bool:
    try:
        return path.stat().st_mtime_ns > than.stat().st_mtime_ns
    except FileNotFoundError:
        return False


def check_frames() -> np.ndarray:
    """Fixed, frame-like input for comparing an export with its Keras model: a seeded noisy gradient,
    so every pixel path is exercised."""
    rng = np.random.default_rng(0)
    ramp = np.linspace(0, 255, FRAME_SHAPE[1], dtype=np.float32)[None, None, :, None]
    noise = rng.uniform(-40, 40, size=(CHECK_FRAMES, *FRAME_SHAPE)).astype(np.float32)
    return np.clip(ramp + noise, 0, 255)


def export_checked(model, fmt: str, out: Path) -> float:  # model: a keras.Model
    """Write `model` as `fmt` ("onnx" or "tflite") to `out`, atomically and only once the export steers
    like the Keras model (within TOLERANCE on `check_frames()`); returns the largest difference.

    The one Keras→ONNX (and →LiteRT) conversion: `training.export` and the Keras path of `load_runner`
    use it. Raises ConversionError when the converter fails or the export disagrees.
    """
    if fmt not in EXPORT_FORMATS:
        raise ConversionError(f"unknown format {fmt!r}: choose one of {', '.join(EXPORT_FORMATS)}")
    # Calling the model first also gives Keras the input signature it exports: (N, 160, 320, 3).
    # (An explicit input_signature made every LiteRT dimension dynamic, which the drive server rejects.)
    frames = check_frames()
    expected = model.predict(frames, verbose=0).reshape(-1)
    difference = math.nan

    def write(temp: Path) -> None:
        nonlocal difference
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # converter deprecation notices
            try:  # LiteRT is Keras' name for the TFLite format
                model.export(str(temp), format="onnx" if fmt == "onnx" else "litert", verbose=False)
            except OSError:  # the file cannot be written here (a read-only folder, a full disk): not the model's fault
                raise
            except Exception as e:  # the converters raise many types; the first line says what failed
                raise ConversionError(f"{fmt} conversion failed ({_first_line(e)})") from None
        runner = OnnxRunner(str(temp)) if fmt == "onnx" else TFLiteRunner(temp)
        difference = float(np.max(np.abs(runner.predict(frames) - expected)))
        if not difference <= TOLERANCE:
            raise ConversionError(f"the {fmt} export steers up to {difference:.2g} away from the Keras model "
                                  f"(tolerance {TOLERANCE:g}): nothing written; report this with the model file")

    write_atomic(out, write)
    return difference


def to_onnx(model) -> bytes:  # model: a keras.Model
    """The model as checked ONNX bytes (`export_checked` through a temporary folder that is removed again)."""
    with tempfile.TemporaryDirectory(prefix="onnx-") as folder:
        target = Path(folder) / "model.onnx"
        export_checked(model, "onnx", target)
        return target.read_bytes()


def _tflite_interpreter(path: Path):
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:  # LiteRT's own package is optional; TensorFlow still ships the interpreter
        import tensorflow as tf

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # its deprecation notice in favour of ai_edge_litert
            return tf.lite.Interpreter(str(path), num_threads=inference_threads())
    return Interpreter(str(path), num_threads=inference_threads())


def _check_input_shape(shape: list) -> None:
    """Raise ModelLoadError unless `shape` is (batch, 160, 320, 3) with any batch size."""
    # LiteRT reports its shape as NumPy integers, ONNX Runtime as ints or names, Keras as ints or None.
    dims = [int(d) if isinstance(d, (int, np.integer)) and d > 0 else None for d in shape]
    if len(dims) != 4 or tuple(dims[1:]) != FRAME_SHAPE:
        shown = "(" + ", ".join("N" if d is None else str(d) for d in dims) + ")"
        raise ModelLoadError(
            f"the model takes input {shown}, but the simulator's frames are (N, {', '.join(map(str, FRAME_SHAPE))}) "
            "raw RGB: train it with `python -m training.fit`, which builds the preprocessing into the model")


def _check_frames(frames: np.ndarray) -> np.ndarray:
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[1:] != FRAME_SHAPE:
        raise ValueError(f"frames have shape {frames.shape}, expected (N, {', '.join(map(str, FRAME_SHAPE))})")
    return frames


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
