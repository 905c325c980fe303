"""Recordings written exactly as the simulator writes them (../shared/SIMULATOR.md).

`IMG/center_YYYY_MM_DD_HH_MM_SS_mmm.jpg` (and left_, right_), 320×160 JPEG at quality 75, and one
`driving_log.csv` row per sample: absolute image paths, steering −1..1, throttle, brake, speed in
mph, plain commas, no header, `\\n` line ends, numbers as C#'s float.ToString() prints them. The log
is appended to, never rewritten: the new rows go to a temporary copy that replaces the log in one
step, so an interrupted session leaves the old log whole. Time stamps come from a simulated clock
that starts at `recording.clock_start`, or just after the newest image already in the folder, so a
second session never overwrites the first one's images and the same inputs give the same files.
"""
from __future__ import annotations

import datetime as dt
import logging
import os
from pathlib import Path

import numpy as np

import simulator_config
from base.cameras import CAMERA_NAMES
from base.logs import IMAGE_DIR, LOG_NAME, frame_time
from sim.images import encode_jpeg

log = logging.getLogger(__name__)


def format_number(value: float) -> str:
    """A float as C# float.ToString() prints it: 7 significant digits, `E-05` for small ones."""
    return f"{value + 0.0:.7G}"  # + 0.0 turns -0.0 into 0.0


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

    def add(self, elapsed_s: float, frames: dict[str, np.ndarray], steering: float, throttle: float, brake: float, speed_mph: float) -> None:
        """One sample `elapsed_s` seconds into the session: its three camera frames and its numbers."""
        when = self.clock_start + dt.timedelta(milliseconds=round(elapsed_s * 1000))
        paths = []
        for camera in CAMERA_NAMES:
            path = self.images / simulator_config.image_file_name(camera, when)
            path.write_bytes(encode_jpeg(frames[camera]))
            paths.append(str(path))
        numbers = (format_number(v) for v in (steering, throttle, brake, speed_mph))
        self.pending.append(",".join([*paths, *numbers]) + "\n")

    def flush(self) -> None:
        """Append the pending rows to the log in one step (old rows are kept as they were)."""
        if not self.pending:
            return
        old = self.log_path.read_bytes() if self.log_path.exists() else b""
        if old and not old.endswith(b"\n"):
            old += b"\n"
        tmp = self.log_path.with_name(f".{LOG_NAME}.partial")
        with open(tmp, "wb") as f:
            f.write(old + "".join(self.pending).encode("utf-8"))
        os.replace(tmp, self.log_path)
        self.rows_written += len(self.pending)
        log.info("appended %d rows to %s", len(self.pending), self.log_path)
        self.pending = []
