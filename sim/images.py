"""Frames out of the simulator: JPEG as Unity's `EncodeToJPG` writes them (video: `evaluate.mp4`)."""
from __future__ import annotations

import cv2
import numpy as np

import simulator_config

JPEG_QUALITY = int(simulator_config.load()["image"]["jpeg_quality"])


def encode_jpeg(rgb: np.ndarray) -> bytes:
    """An RGB frame as JPEG bytes at the simulator's quality (cv2 wants BGR, hence the swap)."""
    ok, data = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        raise RuntimeError("OpenCV could not encode a JPEG")
    return data.tobytes()
