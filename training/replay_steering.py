"""The steering that training's replays drive (the on-policy rounds; the validation and test replays can too):
the model's steering of the replay's views, one batch a step, its preprocessing done by OpenCV.

The model carries its preprocessing as Keras layers (`training.preprocess`: crop, YUV, blur, resize, scale),
which TensorFlow runs on a batch of whole frames at about a third of the model's cost: a 1×1 convolution
of 3 channels and a depthwise blur are slow kernels, and the uint8 frames are cast to float32 whole before
the crop. Here the same arithmetic, in float32, runs in OpenCV on the rows the model crops (57 us a frame
on one core against ~300 for TensorFlow's), a part of the batch on each core, and TensorFlow runs the network alone (the model's layers after
`training.preprocess.OUTPUT`, as the mirror-averaged model builds on). The inputs the network gets differ
from the layers' by float32 rounding (at most about 1e-5 of their range of 2; `tests/test_replay_steering.py`),
the steering by about 1e-6.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Callable

import cv2
import numpy as np

from base.frames import CROP_BOTTOM, CROP_TOP, FRAME_SHAPE
from base.runners import BATCH, inference_threads
from training.precision import Float32View
from training.preprocess import MODEL_HEIGHT, MODEL_WIDTH, OUTPUT, RGB_TO_YUV, YUV_OFFSET

if TYPE_CHECKING:
    import keras

_BLUR = np.array([0.25, 0.5, 0.25], np.float32)  # training.preprocess's 3×3 Gaussian, one direction
_SCALE = np.float32(1 / 127.5)  # the Rescaling layer's, to [-1, 1]
_COLOUR = (RGB_TO_YUV * _SCALE).astype(np.float32)
_CROP = (CROP_BOTTOM - CROP_TOP, FRAME_SHAPE[1])


def _blur(rows: np.ndarray) -> np.ndarray:
    """The 3×3 Gaussian ('same', zeros beyond the rows), separable, to float32 straight from uint8."""
    return cv2.sepFilter2D(rows, cv2.CV_32F, _BLUR, _BLUR, borderType=cv2.BORDER_CONSTANT)


def _resize(image: np.ndarray) -> np.ndarray:
    """Bilinear to the network's size, half-pixel centres (Keras's Resizing, no antialiasing)."""
    return cv2.resize(image, (MODEL_WIDTH, MODEL_HEIGHT), interpolation=cv2.INTER_LINEAR)


# Colour, blur and resize are linear, so the colour matrix can come last, on the resized image; the YUV
# offset, blurred with zeros beyond the crop and resized like the picture, becomes a constant image (with the
# scale's offset), as base.framehead does for the drive server.
_CONSTANT = _resize(_blur(np.broadcast_to(YUV_OFFSET.astype(np.float32), (*_CROP, 3)).copy())) * _SCALE - np.float32(1)


def preprocess_view(frame: np.ndarray, out: np.ndarray) -> None:
    """One uint8 RGB frame (160, 320, 3) → the network's float32 input (66, 200, 3) in `out`: the model's own
    preprocessing (`training.preprocess`: crop, YUV, blur, resize, scale) in OpenCV."""
    cv2.transform(_resize(_blur(frame[CROP_TOP:CROP_BOTTOM])), _COLOUR, dst=out)
    out += _CONSTANT


class ReplaySteering:
    """Like `training.precision.Float32Steering`: called with the model, the float32 model's steering of a batch
    of frames (with `mirror`, mirror-averaged), its weights following the model's at each call; the network in
    one `tf.function` traced once, the preprocessing in OpenCV on both cores.

    With `as_trained`, the network is the model's own, in the precision it trains in (no float32 copy): in
    bfloat16 on 1.3–1.4× less CPU a frame than float32 (avx512_bf16, batches of 19–64), its steering within
    about 1e-3 of the float32 copy's (6.6e-3 at most over 266 frames of a trained model; docs/replay.md)."""

    def __init__(self, mirror: bool = False, as_trained: bool = False) -> None:
        if mirror and as_trained:
            raise ValueError("as_trained drives the model itself, which is not mirror-averaged: pass one of them")
        self._view = None if as_trained else Float32View(mirror)
        self._network: tuple[keras.Model, Callable] | None = None  # (the model it was made of, its call)
        self._threads = inference_threads()
        self._workers = ThreadPoolExecutor(self._threads, thread_name_prefix="preprocess")
        self._inputs = np.empty((0, MODEL_HEIGHT, MODEL_WIDTH, 3), np.float32)

    def __call__(self, model: keras.Model) -> Callable[[np.ndarray], np.ndarray]:
        view = model if self._view is None else self._view(model)
        if self._network is None or self._network[0] is not view:
            self._network = (view, _network_call(view))
        return self.predict

    def predict(self, frames: np.ndarray) -> np.ndarray:
        """uint8 RGB frames (N, 160, 320, 3) → (N,) float32 steering."""
        if self._network is None:
            raise RuntimeError("call ReplaySteering with the model first")
        if len(self._inputs) < len(frames):
            self._inputs = np.empty((len(frames), MODEL_HEIGHT, MODEL_WIDTH, 3), np.float32)
        inputs = self._inputs[:len(frames)]
        parts = np.array_split(np.arange(len(frames)), self._threads)  # one task a core

        def prepare(part: np.ndarray) -> None:
            for i in part:
                preprocess_view(frames[i], inputs[i])
        list(self._workers.map(prepare, [part for part in parts if len(part)]))
        call = self._network[1]
        return np.concatenate([np.asarray(call(inputs[i:i + BATCH])).reshape(-1)
                               for i in range(0, len(frames), BATCH)] or [np.empty(0, np.float32)])


def _network_call(view: keras.Model) -> Callable:
    """A `tf.function` of `view`'s layers after its preprocessing: preprocessed inputs (N, 66, 200, 3) → steering."""
    import keras
    import tensorflow as tf

    network = keras.Model(view.get_layer(OUTPUT).output, view.output)
    return tf.function(lambda x: network(x, training=False),
                       input_signature=[tf.TensorSpec((None, MODEL_HEIGHT, MODEL_WIDTH, 3), tf.float32)])
