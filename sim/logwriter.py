"""Recordings written exactly as the simulator writes them (../shared/SIMULATOR.md, `base.logformat`).

`IMG/center_YYYY_MM_DD_HH_MM_SS_mmm.jpg` (and left_, right_), 320×160 JPEG at quality 75, and one
`driving_log.csv` row per sample. The rows of a session are appended to the log when it is flushed,
as the simulator appends them when recording stops; the rows already there are never rewritten.
Time stamps come from a simulated clock that starts at `recording.clock_start`, or just after the
newest image already in the folder, so a second session never overwrites the first one's images and
the same inputs give the same files.
"""
from __future__ import annotations

import datetime as dt
import logging
import os
from pathlib import Path

import numpy as np

import simulator_config
from base.atomic import write_bytes_atomic
from base.cameras import CAMERA_NAMES
from base.logformat import IMAGE_DIR, LOG_NAME, append_rows, format_row, frame_time, image_file_name
from sim.images import encode_jpeg

log = logging.getLogger(__name__)


class RecordingWriter:
    """Writes samples into `folder` (created if needed); call `flush()` to append them to the log."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder.resolve()
        self.images = self.folder / IMAGE_DIR
        self.images.mkdir(parents=True, exist_ok=True)
        self.log_path = self.folder / LOG_NAME
        self.clock_start = self._clock_start()
        self.pending: list[str] = []
        self.rows_written = 0

    def _clock_start(self) -> dt.datetime:
        start = dt.datetime.fromisoformat(simulator_config.load()["recording"]["clock_start"])
        stamps = [when for when in map(frame_time, os.listdir(self.images)) if when]
        if stamps:
            start = max(start, max(stamps).replace(microsecond=0) + dt.timedelta(seconds=2))
        return start

    def add(self, elapsed_s: float, frames: dict[str, np.ndarray], steering: float, throttle: float, brake: float,
            speed_mph: float) -> None:
        """One sample `elapsed_s` seconds into the session: its three camera frames and its numbers."""
        when = self.clock_start + dt.timedelta(milliseconds=round(elapsed_s * 1000))
        paths = [write_bytes_atomic(self.images / image_file_name(camera, when), encode_jpeg(frames[camera]))
                 for camera in CAMERA_NAMES]
        self.pending.append(format_row(paths, steering, throttle, brake, speed_mph))

    def flush(self) -> None:
        """Append the pending rows to the log in one write (old rows are kept as they were)."""
        if not self.pending:
            return
        append_rows(self.log_path, self.pending)
        self.rows_written += len(self.pending)
        log.info("appended %d rows to %s", len(self.pending), self.log_path)
        self.pending = []
