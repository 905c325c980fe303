"""The simulator's camera frames, as every part of the project meets them."""
from __future__ import annotations

import cv2
import numpy as np

import simulator_config

FRAME_WIDTH, FRAME_HEIGHT = simulator_config.image_size()
FRAME_SHAPE = (FRAME_HEIGHT, FRAME_WIDTH, 3)  # raw RGB, uint8, as the simulator's JPEGs decode
# Rows 60..135 keep the road: above is sky, below is the car's hood. The model crops to them, so
# training augments only these rows and views are compared on them.
CROP_TOP, CROP_BOTTOM = 60, 135

JPEG_START, JPEG_END = b"\xff\xd8", b"\xff\xd9"  # SOI and EOI markers


def jpeg_truncated(data: bytes) -> bool:
    """True for a JPEG cut off before its end marker (trailing zero padding allowed), e.g. the tail of a file.

    libjpeg decodes a cut-off file without an error, filling the rest grey, and only prints "Premature
    end of JPEG file": the one sign is the missing end marker, so every reader of frames checks it.
    """
    return not data.rstrip(b"\0").endswith(JPEG_END)


def decode_frame(data: bytes) -> np.ndarray | None:
    """JPEG (or PNG) bytes → the uint8 RGB frame (H, W, 3), or None when they cannot be decoded or are a
    JPEG cut off (which libjpeg decodes without an error, grey where the data ends)."""
    if data.startswith(JPEG_START) and jpeg_truncated(data):
        return None
    return cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_COLOR_RGB)


def read_frame(path: str) -> np.ndarray | None:
    """The simulator frame in the file `path` (FRAME_SHAPE, uint8 RGB), or None when it cannot be read, is
    cut off or is another size: the one checked reader of recorded frames (training, the replay, videos)."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        return None
    frame = decode_frame(data)
    return frame if frame is not None and frame.shape == FRAME_SHAPE else None
