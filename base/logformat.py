"""The simulator's recording format, and the one writer of it: `driving_log.csv` beside `IMG/`.

What the simulator writes (../shared/SIMULATOR.md): one row per sample, `center,left,right,steering,
throttle,brake,speed`, absolute image paths, no header, `\\n` line ends, numbers as C#'s
`float.ToString()` prints them; frames named by the local time they were taken, to the millisecond.
The drive server's recorder and the headless simulator both write through this module, and
`base.logs` reads every variant back. Standard library only, so the drive server records without
pandas.
"""
from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Sequence
from pathlib import Path

LOG_NAME = "driving_log.csv"
IMAGE_DIR = "IMG"
CAMERAS = ("center", "left", "right")
NUMBERS = ("steering", "throttle", "brake", "speed")
FIELDS = CAMERAS + NUMBERS

_STAMP = "%Y_%m_%d_%H_%M_%S"  # then _mmm
# `center_2016_12_01_13_40_43_230.jpg`, under any folder and with either separator.
_STAMPED = re.compile(r"(?:^|[\\/])(?:center|left|right)_(\d{4})_(\d\d)_(\d\d)_(\d\d)_(\d\d)_(\d\d)_(\d{3})\.jpg$")


def image_file_name(camera: str, when: dt.datetime) -> str:
    """`center_2016_12_01_13_30_48_287.jpg`: the name the simulator gives a camera's frame taken at `when`."""
    return f"{camera}_{when.strftime(_STAMP)}_{when.microsecond // 1000:03d}.jpg"


def frame_time(path: str) -> dt.datetime | None:
    """When the simulator took the frame at `path`, from its file name; None for a name without a stamp."""
    match = _STAMPED.search(path)
    if not match:
        return None
    year, month, day, hour, minute, second, ms = map(int, match.groups())
    try:
        return dt.datetime(year, month, day, hour, minute, second, ms * 1000)
    except ValueError:  # a stamp-like name that is no real time (month 13, …)
        return None


def format_number(value: float) -> str:
    """A float as C# float.ToString() prints it: 7 significant digits, `E-05` for small ones."""
    return f"{value + 0.0:.7G}"  # + 0.0 turns -0.0 into 0.0


def format_row(images: Sequence[str | Path], steering: float, throttle: float, brake: float,
               speed_mph: float) -> str:
    """One log line: the (center, left, right) image paths and the four numbers."""
    if len(images) != len(CAMERAS):
        raise ValueError(f"a row names {len(CAMERAS)} images ({', '.join(CAMERAS)}), not {len(images)}")
    numbers = (format_number(v) for v in (steering, throttle, brake, speed_mph))
    return ",".join([*map(str, images), *numbers]) + "\n"


def append_rows(log_path: str | Path, rows: Sequence[str]) -> None:
    """Append whole lines (`format_row`) to the log, created if absent, as the simulator appends a session.

    The rows already there are never rewritten. If the write fails (a full disk), the file is cut back
    to its old length, so a log never ends in a torn row; a log whose last line lacks its line end
    (edited by hand) gets one first.
    """
    if not rows:
        return
    data = "".join(rows).encode("utf-8")
    fd = os.open(log_path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o666)
    try:
        size = os.fstat(fd).st_size
        if size and os.pread(fd, 1, size - 1) != b"\n":
            data = b"\n" + data
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
        except OSError:
            os.ftruncate(fd, size)
            raise
    finally:
        os.close(fd)
