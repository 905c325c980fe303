"""Reading simulator logs: every variant in the wild, missing images, malformed rows, the real recordings."""
from __future__ import annotations

import logging
from pathlib import Path

import pytest
from recordings import image_name, write_recording

from base.logs import COLUMNS, LogError, find_logs, read_recordings

STEERING = [0.0, -0.25, 0.5, 1.0, -1.0]


@pytest.mark.parametrize("style, header, sep, newline, number_format", [
    ("windows", False, ", ", "\n", "{}"),  # as the simulator writes it on Windows
    ("absolute", False, ",", "\n", "{}"),  # as written on Linux
    ("relative", True, ", ", "\n", "{}"),  # Udacity's sample data
    ("bare", False, ",", "\r\n", "{}"),  # bare names, CRLF
    ("elsewhere", False, ",", "\n", "{:E}"),  # another machine's POSIX paths (with a space), E-notation
    ("relative", True, ",", "\r\n", "{:.6e}"),
])
def test_every_log_variant_reads_the_same(tmp_path, style, header, sep, newline, number_format):
    folder = tmp_path / "my recording"  # a space in the path
    write_recording(folder, STEERING, style=style, header=header, sep=sep, newline=newline,
                    number_format=number_format)
    rows = read_recordings([folder])
    assert list(rows.columns) == COLUMNS
    assert rows["steering"].tolist() == pytest.approx(STEERING)
    assert rows["throttle"].tolist() == pytest.approx([0.5] * 5)
    assert rows["speed"].tolist() == pytest.approx([30.0 * i / 5 for i in range(5)])
    assert rows["row"].tolist() == list(range(5))
    assert set(rows["recording"]) == {str(folder)}
    for camera in ("center", "left", "right"):
        paths = [Path(p) for p in rows[camera]]
        assert all(p.is_absolute() and p.is_file() for p in paths)
        assert [p.name for p in paths] == sorted(p.name for p in paths)  # log order kept
        assert all(p.name.startswith(camera) for p in paths)


def test_finds_recordings_recursively_once_each_in_order(tmp_path):
    write_recording(tmp_path / "b", [0.1])
    write_recording(tmp_path / "a" / "deeper", [0.2, 0.3])
    assert find_logs([tmp_path, tmp_path / "b"]) == [tmp_path / "a" / "deeper" / "driving_log.csv",
                                                     tmp_path / "b" / "driving_log.csv"]
    rows = read_recordings([tmp_path])
    assert rows["steering"].tolist() == pytest.approx([0.2, 0.3, 0.1])
    assert rows["row"].tolist() == [0, 1, 0]


def test_missing_images_fail_with_count_and_first_paths(tmp_path):
    write_recording(tmp_path, STEERING, style="relative")
    for name in (image_name("center", 1), image_name("right", 3)):
        (tmp_path / "IMG" / name).unlink()
    (tmp_path / "IMG" / image_name("left", 4)).write_bytes(b"")  # empty: unreadable
    with pytest.raises(LogError) as error:
        read_recordings([tmp_path])
    message = str(error.value)
    assert "\n" not in message
    assert message.startswith("3 of 15 images are missing or unreadable")
    first = message.split("(first: ")[1].split(";")[0].split(", ")
    assert first[:2] == [f"IMG/{image_name('center', 1)}", f"IMG/{image_name('right', 3)}"]
    assert first[2] == str(tmp_path / "IMG" / image_name("left", 4))  # present but empty
    assert "--skip-missing" in message


def test_skip_missing_drops_those_rows_and_warns_with_the_count(tmp_path, caplog):
    write_recording(tmp_path, STEERING, style="windows")
    (tmp_path / "IMG" / image_name("left", 2)).unlink()
    with caplog.at_level(logging.WARNING, logger="base.logs"):
        rows = read_recordings([tmp_path], skip_missing=True)
    assert rows["row"].tolist() == [0, 1, 3, 4]
    assert "skipping 1 rows with 1 missing or unreadable images" in caplog.text


@pytest.mark.parametrize("content, hint", [
    ("a.jpg,b.jpg,c.jpg,0,12,0,0,3,5\n", "a decimal comma"),  # in two numbers
    ("a.jpg,b.jpg,c.jpg,-0,1234,0,0,7,843922E-05\n", "a decimal comma"),  # as a German Windows writes them
    ("a.jpg,b.jpg,c.jpg,0.1,0.5,0,3,note\n", "not a row the simulator writes"),
    ("<html><body>Not Found</body></html>\n", "not a row the simulator writes"),
    ("a.jpg;b.jpg;c.jpg;0,1;0,5;0;3\n", "not a row the simulator writes"),
])
def test_a_row_with_the_wrong_field_count_blames_a_decimal_comma_only_where_there_is_one(tmp_path, content, hint):
    (tmp_path / "driving_log.csv").write_text(content, encoding="utf-8")
    with pytest.raises(LogError, match=r"line 1 has \d+ fields, expected 7") as error:
        read_recordings([tmp_path])
    assert hint in str(error.value)
    assert ("decimal comma" in str(error.value)) == (hint == "a decimal comma")


@pytest.mark.parametrize("content, expected", [
    ("a.jpg,b.jpg,c.jpg,0,1,0,3\na.jpg,b.jpg,c.jpg,0,1,0,3\na.jpg,b.jpg,c.jpg,0,12,0,0,3,5\n",
     "driving_log.csv line 3 has 9 fields, expected 7"),  # a decimal comma in two numbers
    ("center,left,right,steering,throttle,brake,speed\n\na.jpg,b.jpg,c.jpg,0,1,0,3\n"
     "a.jpg,b.jpg,c.jpg,0,1,0,fast\n", "driving_log.csv line 4: speed is 'fast', not a number"),
    ("a.jpg,b.jpg,c.jpg,,1,0,3\n", "driving_log.csv line 1: steering is '', not a number"),
    ("", "driving_log.csv has no data rows"),
    ("center,left,right,steering,throttle,brake,speed\r\n", "driving_log.csv has no data rows"),
])
def test_malformed_logs_name_the_file_and_line(tmp_path, content, expected):
    (tmp_path / "driving_log.csv").write_text(content, encoding="utf-8", newline="")
    with pytest.raises(LogError, match=expected) as error:
        read_recordings([tmp_path])
    assert str(tmp_path / "driving_log.csv") in str(error.value)
    assert "\n" not in str(error.value)


def test_folders_without_logs_and_absent_paths_fail_clearly(tmp_path):
    with pytest.raises(LogError, match=r"no driving_log.csv found in .*: record into that folder first"):
        read_recordings([tmp_path])
    with pytest.raises(LogError, match=r"nowhere does not exist: pass a recording folder"):
        read_recordings([tmp_path / "nowhere"])
    with pytest.raises(LogError, match="no data paths given"):
        read_recordings([])


def test_real_recordings_read_completely(realdata):
    rows = read_recordings([realdata])
    counts = rows.groupby("recording").size()
    assert counts.to_dict() == {str(realdata / "track1_windows"): 613, str(realdata / "track2_jungle"): 1167,
                                str(realdata / "udacity_sample_part"): 1700, str(realdata / "udacity_sample_late"): 1836}
    assert rows[["steering", "throttle", "brake", "speed"]].notna().all().all()
    assert rows["steering"].between(-1, 1).all()
    windows = rows[rows["recording"] == str(realdata / "track1_windows")]
    assert windows["center"].iloc[0] == str(realdata / "track1_windows" / "IMG" / "center_2020_05_09_22_16_18_016.jpg")
    assert windows["speed"].iloc[0] == pytest.approx(7.843922e-05, rel=1e-3)
