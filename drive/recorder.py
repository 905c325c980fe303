"""Record an autonomous run the way the simulator records a manual one, off the hot path.

IMAGE_FOLDER/IMG/center_YYYY_MM_DD_HH_MM_SS_mmm.jpg (local time) plus IMAGE_FOLDER/driving_log.csv,
written by the simulator's own format (`base.logformat`), so `training` reads a drive like a recording. The autonomous car has only the centre camera, so the left and right fields repeat
the centre path: every row then names three existing images, as the log reader requires. A writer
thread does the disk work; the server only puts the received JPEG bytes on a queue.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import queue
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from base.atomic import write_bytes_atomic
from base.logformat import IMAGE_DIR, LOG_NAME, append_rows, format_row, image_file_name
from drive.controller import Command

log = logging.getLogger(__name__)

QUEUE_FRAMES = 512  # ≈ 10 s at the fastest frame rates; beyond that frames are dropped, not queued
_STOP = None


class RecordingError(ValueError):
    """The image folder cannot be recorded into; the message says what to do."""


@dataclass(frozen=True)
class _Frame:
    jpeg: bytes
    command: Command
    speed_mph: float
    wall_time: float


class Recorder:
    """Writes frames and their commands into `folder` from a background thread."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder).absolute()
        self.existing_rows = check_folder(self.folder)
        self.images = self.folder / IMAGE_DIR
        self.log_path = self.folder / LOG_NAME
        try:
            self.images.mkdir(parents=True, exist_ok=True)
            append_rows(self.log_path, [])  # fails here, not mid-drive, when the log cannot be written
        except OSError as e:
            raise RecordingError(f"cannot record into {self.folder} ({e.strerror or e}): pass a folder you can write to") from None
        self.written = 0
        self.dropped = 0
        self._last_ms = 0
        self._queue: queue.Queue[_Frame | None] = queue.Queue(maxsize=QUEUE_FRAMES)
        self._thread = threading.Thread(target=self._write_all, name="recorder", daemon=True)
        self._thread.start()

    def describe(self) -> str:
        if self.existing_rows:
            return (f"recording into {self.folder}, continuing its recording "
                    f"({self.existing_rows} rows there; new rows are appended, nothing is removed)")
        return f"recording into {self.folder}"

    def record(self, jpeg: bytes, command: Command, speed_mph: float) -> None:
        """Queue one frame; never blocks (a full queue drops the frame and counts it)."""
        try:
            self._queue.put_nowait(_Frame(jpeg, command, speed_mph, time.time()))
        except queue.Full:
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 100 == 0:
                log.warning("recording cannot keep up with the disk: %d frames dropped so far", self.dropped)

    def close(self) -> None:
        """Write what is queued, then stop the writer thread."""
        self._queue.put(_STOP)
        self._thread.join()

    def _write_all(self) -> None:
        # Lowest CPU priority for this thread: the disk can wait, the next steering command cannot.
        with contextlib.suppress(OSError, AttributeError):  # not every platform has per-thread priorities
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)
        while (frame := self._queue.get()) is not _STOP:
            try:
                self._write(frame)
            except OSError as e:
                log.error("cannot write frame into %s (%s); recording continues with the next frame",
                          self.folder, e.strerror or e)

    def _write(self, frame: _Frame) -> None:
        path = write_bytes_atomic(self.images / self._name(frame.wall_time), frame.jpeg)
        throttle = max(frame.command.throttle, 0.0)
        brake = max(-frame.command.throttle, 0.0)
        # The image is in place before its row is, so every row points at an existing file.
        append_rows(self.log_path, [format_row((path, path, path), frame.command.steering, throttle, brake,
                                               frame.speed_mph)])
        self.written += 1

    def _name(self, wall_time: float) -> str:
        """center_YYYY_MM_DD_HH_MM_SS_mmm.jpg, unique: a millisecond later than the previous or an existing one."""
        ms = max(int(wall_time * 1000), self._last_ms + 1)
        while (self.images / (name := _frame_name(ms))).exists():  # a continued recording's frames stay
            ms += 1
        self._last_ms = ms
        return name


def _frame_name(ms: int) -> str:
    when = dt.datetime.fromtimestamp(ms // 1000).replace(microsecond=ms % 1000 * 1000)
    return image_file_name("center", when)


def check_folder(folder: Path) -> int:
    """Rows already logged in `folder` (0 for a new or empty one); refuses a non-empty non-recording."""
    if folder.exists() and not folder.is_dir():
        raise RecordingError(f"{folder} is a file: pass a folder to record into")
    if not folder.exists() or not any(folder.iterdir()):
        return 0
    log_path = folder / LOG_NAME
    if not log_path.is_file():
        raise RecordingError(f"{folder} is not empty and holds no {LOG_NAME}: pass a new or empty folder "
                             "(or an earlier recording to add to); nothing in it is touched")
    with open(log_path, encoding="utf-8", errors="replace") as f:
        return sum(1 for line in f if line.strip())
