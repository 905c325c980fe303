"""Frames out of the simulator: JPEG as Unity's `EncodeToJPG` writes them, and MP4 video."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

import simulator_config
from base.atomic import PendingFile

JPEG_QUALITY = int(simulator_config.load()["image"]["jpeg_quality"])


def encode_jpeg(rgb: np.ndarray) -> bytes:
    """An RGB frame as JPEG bytes at the simulator's quality (cv2 wants BGR, hence the swap)."""
    ok, data = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        raise RuntimeError("OpenCV could not encode a JPEG")
    return data.tobytes()


class VideoFile:
    """An MP4 written under a temporary name beside `path` and moved into place on `close()`."""

    def __init__(self, path: Path, fps: float, size: tuple[int, int]) -> None:
        self.path = path
        self._file = PendingFile(path)
        self.writer = cv2.VideoWriter(str(self._file.temp), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
        if not self.writer.isOpened():
            raise OSError(f"cannot write video {path}: check that its folder exists and is writable")

    def add(self, rgb: np.ndarray) -> None:
        self.writer.write(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))

    def close(self) -> None:
        self.writer.release()
        self._file.commit()

    def discard(self) -> None:
        self.writer.release()
        self._file.discard()
