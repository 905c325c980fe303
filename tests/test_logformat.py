"""The one writer of the simulator's log format: its numbers, its file names, and appends that never tear a log."""
from __future__ import annotations

import datetime as dt
import errno
import os

import pytest

from base import logformat
from base.logformat import append_rows, format_number, format_row, frame_time, image_file_name
from base.logs import read_recordings


@pytest.mark.parametrize("value, text", [
    (7.843922e-05, "7.843922E-05"), (0.1, "0.1"), (-0.25, "-0.25"), (30.0, "30"), (1 / 3, "0.3333333"),
    (-0.0, "0"), (12.345678, "12.34568"),
])
def test_numbers_are_written_as_the_simulators_float_tostring(value, text):
    assert format_number(value) == text


def test_file_names_carry_the_time_to_the_millisecond_and_read_back():
    when = dt.datetime(2016, 12, 1, 13, 30, 48, 287_654)
    name = image_file_name("left", when)
    assert name == "left_2016_12_01_13_30_48_287.jpg"
    assert frame_time(f"C:\\Users\\me\\IMG\\{name}") == when.replace(microsecond=287_000)
    assert frame_time("IMG/left_2016_13_01_13_30_48_287.jpg") is None and frame_time("frame.jpg") is None


def test_rows_append_after_the_old_ones_and_read_back(tmp_path):
    images = []
    for camera in ("center", "left", "right"):
        images.append(tmp_path / "IMG" / image_file_name(camera, dt.datetime(2026, 1, 1)))
        images[-1].parent.mkdir(exist_ok=True)
        images[-1].write_bytes(b"\xff\xd8 a frame \xff\xd9")
    log = tmp_path / "driving_log.csv"
    old = format_row(images, 0.5, 1.0, 0.0, 20.0).rstrip("\n")  # a hand-edited log without its last line end
    log.write_text(old)
    append_rows(log, [format_row(images, -0.125, 0.0, 0.25, 7.843922e-05)])
    assert log.read_text() == old + "\n" + ",".join(map(str, images)) + ",-0.125,0,0.25,7.843922E-05\n"
    rows = read_recordings([tmp_path])
    assert rows["steering"].tolist() == [0.5, -0.125] and rows["speed"].tolist() == [20.0, 7.843922e-05]


def test_a_failed_append_leaves_the_log_as_it_was(tmp_path, monkeypatch):
    log = tmp_path / "driving_log.csv"
    log.write_text("a,b,c,0,0,0,0\n")
    real_write = os.write

    def half_then_disk_full(fd, data):
        if len(data) > 4:
            real_write(fd, bytes(data[:len(data) // 2]))
            return len(data) // 2
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(logformat.os, "write", half_then_disk_full)
    with pytest.raises(OSError, match="No space"):
        append_rows(log, [format_row(("d", "e", "f"), 0.1, 0.2, 0.0, 3.0)])
    assert log.read_text() == "a,b,c,0,0,0,0\n"
