"""Models run on raw frames: the runners for ONNX Runtime, LiteRT and a Keras `tf.function`.

Every runner takes raw RGB frames (N, 160, 320, 3), values 0..255, exactly as the simulator's camera
gives them: the preprocessing lives inside the model. ONNX Runtime runs a frame in 0.6–0.9 ms on two
cores, against 1–2 ms for a `tf.function` and 50 ms for `model.predict`. Loading a model file into
one of them is `base.runtime.load_runner`'s job; checking an export against Keras is `base.convert`'s.
"""
from __future__ import annotations

import contextlib
import os
import warnings
from pathlib import Path
from typing import Callable, Protocol

import numpy as np

from base.frames import FRAME_SHAPE
from base.modelfile import ModelLoadError
from base.quiet_tensorflow import filtering, stderr_without_noise

BATCH = 64  # frames per call in batch prediction (evaluation), where throughput matters, not latency


def inference_threads() -> int:
    """Two intra-op threads use both cores of the target machine; more only adds scheduling noise, and a
    process pinned to fewer cores (a container, a one-core benchmark) gets no more threads than cores."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(2, cores))


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
        check_input_shape(inputs[0].shape)
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
        # LiteRT announces its XNNPACK delegate on stderr when the tensors are allocated (every drive start).
        with stderr_without_noise() if filtering() else contextlib.nullcontext():
            self._interpreter.allocate_tensors()
        (inp,) = self._interpreter.get_input_details()
        check_input_shape(list(inp["shape_signature"]))
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


def _tflite_interpreter(path: Path):
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:  # LiteRT's own package is optional; TensorFlow still ships the interpreter
        import tensorflow as tf

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # its deprecation notice in favour of ai_edge_litert
            return tf.lite.Interpreter(str(path), num_threads=inference_threads())
    return Interpreter(str(path), num_threads=inference_threads())


def check_input_shape(shape: list) -> None:
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


def first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__

