"""Recording an autonomous run: the simulator's layout, readable by training, never destroying data; and its video."""
from __future__ import annotations

import re
from pathlib import Path

import cv2
import numpy as np
import pytest

from base.logs import read_recordings
from drive.controller import Command
from drive.recorder import Recorder, RecordingError
from drive.video import main as video_main

NAME = re.compile(r"center_\d{4}_\d{2}_\d{2}_\d{2}_\d{2}_\d{2}_\d{3}\.jpg")


def frame_jpeg(shade: int) -> bytes:
    frame = np.full((160, 320, 3), shade, np.uint8)
    frame[100:, :160] = 255 - shade
    return cv2.imencode(".jpg", frame)[1].tobytes()


def record(folder: Path, count: int) -> Recorder:
    recorder = Recorder(folder)
    for i in range(count):
        recorder.record(frame_jpeg(20 * i), Command(steering=0.1 * i - 0.2, throttle=0.5 - 0.3 * i), 10.0 + i)
    recorder.close()
    return recorder


def test_recording_has_the_simulators_layout_and_training_reads_it(tmp_path: Path) -> None:
    folder = tmp_path / "run1"
    jpegs = [frame_jpeg(20 * i) for i in range(5)]
    assert record(folder, 5).written == 5
    images = sorted((folder / "IMG").iterdir())
    assert len(images) == 5 and all(NAME.fullmatch(p.name) for p in images)
    assert [p.read_bytes() for p in images] == jpegs  # received bytes stored as they are, in order
    lines = (folder / "driving_log.csv").read_text().split("\n")
    assert lines[-1] == "" and all(len(line.split(",")) == 7 for line in lines[:-1])
    # The simulator's number format (C# float.ToString()), the same writer as the headless simulator's.
    assert lines[0].split(",")[3:] == ["-0.2", "0.5", "0", "10"] and lines[4].split(",")[3:] == ["0.2", "0", "0.7", "14"]
    rows = read_recordings([folder])
    assert len(rows) == 5
    np.testing.assert_allclose(rows["steering"], [-0.2, -0.1, 0.0, 0.1, 0.2], atol=1e-6)
    np.testing.assert_allclose(rows["throttle"], [0.5, 0.2, 0, 0, 0], atol=1e-6)
    np.testing.assert_allclose(rows["brake"], [0, 0, 0.1, 0.4, 0.7], atol=1e-6)
    np.testing.assert_allclose(rows["speed"], [10, 11, 12, 13, 14])
    assert Path(rows["center"][0]) == images[0]


def test_existing_recording_is_continued_never_wiped(tmp_path: Path) -> None:
    folder = tmp_path / "run"
    record(folder, 3)
    recorder = record(folder, 2)
    assert recorder.existing_rows == 3 and "continuing" in recorder.describe()
    assert len(list((folder / "IMG").iterdir())) == 5
    assert len(read_recordings([folder])) == 5


def test_non_empty_folder_that_is_not_a_recording_is_refused_untouched(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(RecordingError, match="not empty"):
        Recorder(tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]


def test_video_of_a_recording_with_overlay(tmp_path: Path, capsys) -> None:
    folder = tmp_path / "run"
    record(folder, 6)
    assert video_main([str(folder), "--overlay", "--fps", "30"]) == 0
    video = tmp_path / "run.mp4"
    capture = cv2.VideoCapture(str(video))
    frames = []
    while (ok_frame := capture.read())[0]:
        frames.append(ok_frame[1])
    capture.release()
    assert len(frames) == 6 and frames[0].shape == (160, 320, 3)
    plain = cv2.imdecode(np.frombuffer(frame_jpeg(0), np.uint8), cv2.IMREAD_COLOR)
    assert np.abs(frames[0].astype(int) - plain).max() > 100  # the steering needle and text are drawn
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run", "run.mp4"]  # no temp file left


def test_video_of_an_empty_folder_is_a_clear_error(tmp_path: Path, capsys) -> None:
    assert video_main([str(tmp_path)]) == 2
    assert capsys.readouterr().err.startswith("error: no center_*.jpg frames")
