"""Models run on raw frames: the runners for ONNX Runtime, LiteRT and a Keras `tf.function`.

Every runner takes raw RGB frames (N, 160, 320, 3), values 0..255, exactly as the simulator's camera
gives them: the preprocessing lives inside the model. ONNX Runtime runs a frame of the network alone in
about 1.1 ms, a mirror-averaged model's frame in about 1.5 ms on two cores (2026-12-07, docs/benchmarks.md),
against 50 ms for `model.predict`; a mirror-averaged model's single frames have their preprocessing computed
by OpenCV from the graph's own numbers (`base.framehead`), a quarter of ONNX Runtime's time. Loading a model file into
one of them is `base.runtime.load_runner`'s job; checking an export against Keras is `base.convert`'s.
"""
from __future__ import annotations

import contextlib
import functools
import os
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Protocol

import numpy as np

from base.frames import FRAME_SHAPE
from base.modelfile import ModelLoadError
from base.quiet_tensorflow import filtering, stderr_without_noise

if TYPE_CHECKING:  # onnx loads with the first ONNX model
    from base.framehead import OpenCvHead
    from base.onnxgraph import MirrorSplit

# Frames per call in batch prediction (evaluation), where throughput matters, not latency: the replay's
# cars of one step in one call (evaluate.replay.LOCKSTEP).
BATCH = 256


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
    """ONNX Runtime on the model's graph with exact rewrites (`base.onnxgraph`). Single frames run on one
    thread, a mirror-averaged model's frame and mirror image side by side on two (`_MirrorBranches`), both with
    OpenCV's preprocessing where it computes the graph's (`base.framehead`); batches on `inference_threads()`."""

    def __init__(self, model: str | bytes, source: str = "ONNX Runtime") -> None:
        super().__init__()
        import onnx

        from base.onnxgraph import rewritten, split_at_mirror

        self._graph = rewritten(onnx.load_from_string(model) if isinstance(model, bytes) else onnx.load(model))
        split = split_at_mirror(self._graph)
        # ONNX's shape inference puts a mirror pair's resized images at 65 rows (75 × 0.88 rounded down); ONNX
        # Runtime makes 66 and would warn at every frame about the head's declared output shape: errors only.
        self._frame_session = _session(split.head if split else self._graph, threads=1, log_level=3 if split else 2)
        inputs = self._frame_session.get_inputs()
        if len(inputs) != 1 or inputs[0].type != "tensor(float)":
            raise ModelLoadError(
                f"the ONNX model takes {[(i.name, i.type) for i in inputs]}, expected one float32 input of "
                f"raw frames (N, {', '.join(map(str, FRAME_SHAPE))}): export it with training/export.py")
        check_input_shape(inputs[0].shape)
        self._input = inputs[0].name
        self._mirror = _MirrorBranches(self._frame_session, split, self._input) if split else None
        self._opencv_network = None if split else _opencv_network(self._graph)
        self.source = source
        self.onnx_model = model  # the file or bytes it runs, for a second session (evaluate.saliency)

    @functools.cached_property
    def _batch_session(self):  # -> onnxruntime.InferenceSession; made at the first batch (the drive server has none)
        return _session(self._graph, threads=inference_threads())

    def predict_one(self, frame: np.ndarray) -> float:
        frame = np.asarray(frame)
        if frame.shape != FRAME_SHAPE:  # OpenCV's preprocessing would take any size without a word
            raise ValueError(f"a frame of shape {frame.shape}, expected {FRAME_SHAPE}")
        if self._mirror:
            return self._mirror.run(frame, self._batch)
        if self._opencv_network:
            head, network = self._opencv_network
            return float(network.run(None, {network.get_inputs()[0].name: head.images(frame)})[0].reshape(-1)[0])
        return super().predict_one(frame)

    def _run(self, batch: np.ndarray) -> float:
        return float(self._frame_session.run(None, {self._input: batch})[0].reshape(-1)[0])

    def predict(self, frames: np.ndarray) -> np.ndarray:
        frames = _check_frames(frames)
        return np.concatenate([
            self._batch_session.run(None, {self._input: frames[i:i + BATCH].astype(np.float32)})[0].reshape(-1)
            for i in range(0, len(frames), BATCH)] or [np.empty(0, np.float32)])


class _MirrorBranches:
    """A mirror-averaged model's single frame on both cores: the frame's image through the network on this
    thread, its mirror image on a worker at the same time. Where OpenCV computes the model's preprocessing
    (`base.framehead`), each thread also preprocesses its own image from the frame; otherwise ONNX Runtime's
    head makes both images here first. A busy machine gets no second core: after `MISSES` frames in a row whose
    mirror image came more than `PATIENCE` times later than the frame's own (or had not started by then), the
    next `REST_FRAMES` frames run both images here, one after the other; then the worker is tried again."""

    PATIENCE = 1.5
    MISSES = 3  # one late frame is the odd interrupt, three in a row a busy machine
    REST_FRAMES = 150  # 10 s of driving at the simulator's 15 Hz

    def __init__(self, head, split: MirrorSplit, frames_input: str) -> None:  # head: the session of split.head
        from base.framehead import OpenCvHead
        from base.onnxgraph import with_input_shape

        self.head = head
        self.opencv = OpenCvHead.of(split.head, head)
        self._network = _session(split.network, threads=1)
        self._frames, self._images = frames_input, self._network.get_inputs()[0].name
        own = self._network.run(None, {self._images: self.head.run(None, {frames_input: _blank()})[0]})[0]
        # One frame's pair is always this shape: fixed, ONNX Runtime folds the tail's shape arithmetic away.
        self._tail = _session(with_input_shape(split.tail, (2 * own.shape[0], *own.shape[1:])), threads=1)
        self._steering = self._tail.get_inputs()[0].name
        self._worker = ThreadPoolExecutor(1, thread_name_prefix="mirror-image") if inference_threads() > 1 else None
        self._resting = self._misses = 0

    def run(self, frame: np.ndarray, batch: np.ndarray) -> float:
        """Steering for one (160, 320, 3) frame; `batch`: a (1, 160, 320, 3) float32 buffer for ONNX Runtime's head."""
        if self.opencv is not None:
            image, mirrored = functools.partial(self.opencv.images, frame), functools.partial(self.opencv.images, frame, True)
        else:
            batch[0] = frame
            images = self.head.run(None, {self._frames: batch})
            image, mirrored = functools.partial(images.__getitem__, 0), functools.partial(images.__getitem__, 1)
        if self._worker is None or self._resting:
            self._resting = max(0, self._resting - 1)
            pair = [self._steer(image), self._steer(mirrored)]
        else:
            pair = self._side_by_side(image, mirrored)
        return float(self._tail.run(None, {self._steering: np.concatenate(pair)})[0].reshape(-1)[0])

    def _steer(self, images: Callable[[], np.ndarray]) -> np.ndarray:
        return self._network.run(None, {self._images: images()})[0]

    def _side_by_side(self, image: Callable[[], np.ndarray], mirrored: Callable[[], np.ndarray]) -> list[np.ndarray]:
        later = self._worker.submit(self._steer, mirrored)
        start = time.perf_counter()
        own = self._steer(image)
        took = time.perf_counter() - start
        if later.cancel():  # not started while this thread ran a whole image: the other core is busy
            pair, late = [own, self._steer(mirrored)], True
        else:
            pair = [own, later.result()]
            late = time.perf_counter() - start > self.PATIENCE * took
        self._misses = self._misses + 1 if late else 0
        if self._misses >= self.MISSES:
            self._resting, self._misses = self.REST_FRAMES, 0
        return pair


def _opencv_network(graph) -> tuple[OpenCvHead, object] | None:  # graph: onnx.ModelProto; (head, its network's session)
    """The network alone's single frames with OpenCV's preprocessing (`base.framehead`), where it computes the graph's."""
    from base.framehead import OpenCvHead
    from base.onnxgraph import split_at_images

    cut = split_at_images(graph)
    head = cut and OpenCvHead.of(cut[0], _session(cut[0], threads=1, log_level=3))
    return (head, _session(cut[1], threads=1)) if head else None


def _blank() -> np.ndarray:
    return np.zeros((1, *FRAME_SHAPE), np.float32)


def _session(graph, threads: int, log_level: int = 2):  # onnx.ModelProto -> onnxruntime.InferenceSession
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    # Idle workers would otherwise spin for a while after each call, taking the cores the server's network
    # loop and the simulator need between frames.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.log_severity_level = log_level
    return onnxruntime.InferenceSession(graph.SerializeToString(), options, providers=["CPUExecutionProvider"])


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
        # Batches of raw uint8 frames (the replay's views) are cast inside the graph, on both cores, not by NumPy.
        self._call_uint8: Callable = tf.function(
            lambda x: model(tf.cast(x, tf.float32), training=False),
            input_signature=[tf.TensorSpec((None, *FRAME_SHAPE), tf.uint8)])

    def _run(self, batch: np.ndarray) -> float:
        return float(np.asarray(self._call(batch)).reshape(-1)[0])

    def predict(self, frames: np.ndarray) -> np.ndarray:
        """One compiled call per BATCH frames (`model.predict` costs ~20 ms of set-up a call)."""
        frames = _check_frames(frames)
        call = self._call_uint8 if frames.dtype == np.uint8 else self._call
        if frames.dtype != np.uint8:
            frames = frames.astype(np.float32, copy=False)
        return np.concatenate([np.asarray(call(frames[i:i + BATCH])).reshape(-1)
                               for i in range(0, len(frames), BATCH)] or [np.empty(0, np.float32)])


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

