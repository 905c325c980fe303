"""A model's preprocessing (`training.preprocess`: crop, blur, resize, colour), run by OpenCV on the camera's
frame for the drive server's single frames, instead of by ONNX Runtime.

ONNX Runtime took 0.42 ms a frame for the head of a mirror-averaged model's graph (`base.onnxgraph.split_at_mirror`;
`split_at_images` for the network alone): a generic grouped convolution for the 3×3 blur on 75×320 pixels,
layout transposes, a Slice with a negative step for the mirror image. OpenCV does the same arithmetic (a
separable blur from uint8 straight to float32, bilinear resize with half-pixel centres, a 3×3 colour matrix) in
0.09 ms an image, and a mirror image's head runs beside the frame's on the second core: the mirror image of a
frame is preprocessed as the frame mirrored, with the blur kernel and the colour constant mirrored too (the same
numbers, summed in another order).

`OpenCvHead.of` reads the numbers from the head graph as `base.onnxgraph.rewritten` leaves it, and is used only
where it reproduces ONNX Runtime's head on test frames within `TOLERANCE`; any other head runs in ONNX Runtime.
"""
from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from typing import Callable

import cv2
import numpy as np
import onnx
from onnx import helper, numpy_helper

from base.frames import FRAME_SHAPE

log = logging.getLogger(__name__)

# The head's images are in [-1, 1]; ONNX Runtime and OpenCV differ by float32 reorderings (~1e-6).
TOLERANCE = 1e-5


@dataclass(frozen=True)
class OpenCvHead:
    """Frame rows top..bottom, blurred (a 3×3 correlation, zero outside), resized bilinearly to `size`, then
    `colour` (output × input channels) plus `constant` (1, channels, height, width): (1, 3, h, w) images."""

    top: int
    bottom: int
    kernel: np.ndarray  # (3, 3) float32
    size: tuple[int, int]  # (height, width)
    colour: np.ndarray  # (3, 3) float32
    constant: np.ndarray  # (1, 3, height, width) float32

    def images(self, frame: np.ndarray, mirrored: bool = False) -> np.ndarray:
        """The network's input (1, 3, h, w) for one (160, 320, 3) RGB frame, uint8 or float, or for its mirror image."""
        if frame.dtype != np.uint8:
            frame = frame.astype(np.float32, copy=False)
        crop = np.ascontiguousarray(frame[self.top:self.bottom])
        if mirrored:
            crop = cv2.flip(crop, 1)
        blurred = self._blurs[mirrored](crop)
        height, width = self.size
        resized = cv2.resize(blurred, (width, height), interpolation=cv2.INTER_LINEAR)
        images = (self.colour @ resized.reshape(-1, 3).T).reshape(1, 3, height, width)
        images += self._constants[mirrored]
        return images

    @functools.cached_property
    def _blurs(self) -> tuple[Callable, Callable]:
        """The blur of the frame, and of its mirror image (the kernel mirrored)."""
        return _blur(self.kernel), _blur(np.ascontiguousarray(self.kernel[:, ::-1]))

    @functools.cached_property
    def _constants(self) -> tuple[np.ndarray, np.ndarray]:
        return self.constant, np.ascontiguousarray(self.constant[..., ::-1])

    @classmethod
    def of(cls, head: onnx.ModelProto, session) -> OpenCvHead | None:  # session: onnxruntime.InferenceSession of `head`
        """The OpenCV form of `head` (frames → images, and mirror images for a mirror-averaged model), or None where
        its graph is not the preprocessing chain or OpenCV's result differs from `session`'s by more than TOLERANCE."""
        try:
            found = _read_head(head)
        except (KeyError, ValueError, IndexError) as e:
            log.debug("preprocessing stays in ONNX Runtime: %s", e)
            return None
        if found is None:
            return None
        frames = _test_frames()
        expected = session.run(None, {session.get_inputs()[0].name: frames.astype(np.float32)})
        if len(expected) not in (1, 2) or expected[0].shape[1:] != found.constant.shape[1:]:
            return None
        difference = max(float(np.max(np.abs(np.concatenate([found.images(f, mirrored) for f in frames]) - ort)))
                         for mirrored, ort in zip((False, True), expected))
        if not difference <= TOLERANCE:
            log.debug("preprocessing stays in ONNX Runtime: OpenCV differs by %.2g", difference)
            return None
        return found


def _blur(kernel: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    """Correlation with the 3×3 `kernel`, zero outside, to float32: separable (a third of the time) where the
    kernel is the outer product of its middle column and its middle row scaled, as a Gaussian is exactly."""
    if kernel[1, 1]:
        column, row = kernel[:, 1], kernel[1, :] / kernel[1, 1]
        if np.array_equal(np.outer(column, row), kernel):
            return lambda crop: cv2.sepFilter2D(crop, cv2.CV_32F, row, column, borderType=cv2.BORDER_CONSTANT)
    return lambda crop: cv2.filter2D(crop, cv2.CV_32F, kernel, borderType=cv2.BORDER_CONSTANT)


def _test_frames() -> np.ndarray:
    """Seeded noisy uint8 gradients: every pixel path, the borders included, in use."""
    rng = np.random.default_rng(1)
    ramp = np.linspace(0, 255, FRAME_SHAPE[1])[None, None, :, None]
    return np.clip(ramp + rng.uniform(-60, 60, size=(3, *FRAME_SHAPE)), 0, 255).astype(np.uint8)


def _read_head(head: onnx.ModelProto) -> OpenCvHead | None:
    """The numbers of the chain crop → NHWC to NCHW → blur → resize → colour → constant, each node the only
    reader of the one before, or None where the head is another graph."""
    arrays = {tensor.name: numpy_helper.to_array(tensor) for tensor in head.graph.initializer}
    readers: dict[str, list] = {}
    for node in head.graph.node:
        for name in node.input:
            readers.setdefault(name, []).append(node)

    def only_reader(name: str, op_type: str):
        found = [node for node in readers.get(name, []) if node.op_type != "Shape"]  # Resize's size arithmetic
        if len(found) != 1 or found[0].op_type != op_type:
            raise ValueError(f"{name} is not read by one {op_type} alone")
        return found[0]

    crop = only_reader(head.graph.input[0].name, "Slice")
    transpose = only_reader(crop.output[0], "Transpose")
    blur = only_reader(transpose.output[0], "Conv")
    resize = only_reader(blur.output[0], "Resize")
    colour = only_reader(resize.output[0], "Conv")
    offset = only_reader(colour.output[0], "Add")
    rows = _crop_rows(crop, arrays)
    kernel, weights, constant = arrays[blur.input[1]], arrays[colour.input[1]], arrays[offset.input[1]]
    if not (rows and _attributes(transpose).get("perm") == [0, 3, 1, 2] and _is_blur(blur, kernel)
            and _is_bilinear(resize) and len(colour.input) == 2 and weights.shape == (3, 3, 1, 1)
            and constant.ndim == 4 and constant.shape[:2] == (1, 3) and head.graph.output[0].name == offset.output[0]):
        return None
    return OpenCvHead(*rows, kernel=kernel[0, 0].astype(np.float32), size=constant.shape[2:],
                      colour=weights[:, :, 0, 0].astype(np.float32), constant=constant.astype(np.float32))


def _attributes(node) -> dict:
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _crop_rows(crop, arrays: dict) -> tuple[int, int] | None:
    """(top, bottom) of a Slice of the frames (N, H, W, C) that keeps whole rows top..bottom, else None."""
    starts, ends = arrays[crop.input[1]], arrays[crop.input[2]]
    axes = arrays[crop.input[3]] if len(crop.input) > 3 and crop.input[3] else np.arange(len(starts))
    if len(crop.input) > 4 and crop.input[4] and not np.all(arrays[crop.input[4]] == 1):
        return None
    kept = [range(size) for size in FRAME_SHAPE]
    for axis, start, end in zip(axes, starts, ends):
        if int(axis) % 4 == 0:  # the batch: all of it (tf2onnx writes INT_MAX as its end)
            if start != 0 or end < np.iinfo(np.int32).max:
                return None
        else:
            kept[int(axis) % 4 - 1] = range(*slice(int(start), int(end)).indices(FRAME_SHAPE[int(axis) % 4 - 1]))
    rows, columns, channels = kept
    if len(columns) != FRAME_SHAPE[1] or len(channels) != FRAME_SHAPE[2] or len(rows) < 3:
        return None
    return rows.start, rows.stop


def _is_blur(blur, kernel: np.ndarray) -> bool:
    """A 3×3 'same' correlation of each of 3 channels alone, the same kernel for each, no bias."""
    attributes = _attributes(blur)
    return (len(blur.input) == 2 and kernel.shape == (3, 1, 3, 3) and attributes.get("group") == 3
            and attributes.get("pads") == [1, 1, 1, 1] and attributes.get("strides", [1, 1]) == [1, 1]
            and attributes.get("dilations", [1, 1]) == [1, 1] and attributes.get("auto_pad", b"NOTSET") == b"NOTSET"
            and all(np.array_equal(kernel[0], k) for k in kernel))


def _is_bilinear(resize) -> bool:
    """Bilinear with half-pixel centres and no antialiasing: what cv2.INTER_LINEAR computes."""
    attributes = _attributes(resize)
    return (attributes.get("mode") == b"linear" and attributes.get("coordinate_transformation_mode") == b"half_pixel"
            and not attributes.get("antialias", 0) and not attributes.get("exclude_outside", 0)
            and not attributes.get("axes"))
