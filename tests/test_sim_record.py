"""Recordings by the headless simulator, checked against the real simulator's log format."""
from __future__ import annotations

import re
from pathlib import Path

import cv2
import numpy as np
import pytest

from base.logs import read_recordings
from sim.record import main as record_main
from sim.record import record_session

LAPS = 0.03  # about 30 m of lake from a standing start: ~70 samples
NAME = re.compile(r"^(center|left|right)_(\d{4}_\d\d_\d\d_\d\d_\d\d_\d\d_\d{3})\.jpg$")
# How the simulator's C# float.ToString() prints: 7 significant digits, "E-05" for small values.
NUMBER = re.compile(r"^-?\d+(\.\d+)?(E[-+]\d\d)?$")


def rows_of(log: Path) -> list[list[str]]:
    return [line.split(",") for line in log.read_text(encoding="utf-8").splitlines()]


def stamp_ms(path: str) -> int:
    parts = [int(p) for p in NAME.match(Path(path).name)[2].split("_")]
    h, m, s, ms = parts[3:]
    return ((parts[2] * 24 + h) * 60 + m) * 60_000 + s * 1000 + ms


def test_a_recording_is_written_exactly_like_the_simulators(tmp_path, capsys):
    out = tmp_path / "lake"
    assert record_main(["--track", "lake", "--laps", str(LAPS), "--out", str(out), "--recovery"]) == 0
    assert "recorded" in capsys.readouterr().out
    log = out / "driving_log.csv"
    raw = log.read_bytes()
    assert b"\r" not in raw and raw.endswith(b"\n") and not raw.startswith(b"center")
    rows = rows_of(log)
    assert len(rows) > 40
    for row in rows:
        assert len(row) == 7
        names = [Path(p).name for p in row[:3]]
        assert [NAME.match(n)[1] for n in names] == ["center", "left", "right"]
        assert len({NAME.match(n)[2] for n in names}) == 1  # one time stamp per sample
        assert all(Path(p).is_absolute() and Path(p).parent == out.resolve() / "IMG" and Path(p).is_file() for p in row[:3])
        assert all(NUMBER.match(v) for v in row[3:]), row[3:]
    numbers = np.array([[float(v) for v in row[3:]] for row in rows])
    steering, throttle, brake, speed = numbers.T
    assert (np.abs(steering) <= 1).all() and ((throttle >= 0) & (throttle <= 1)).all()
    assert ((brake >= 0) & (brake <= 1)).all() and ((speed >= 0) & (speed <= 30)).all()
    assert speed[-1] > 10  # mph, from a standing start
    gaps = np.diff([stamp_ms(row[0]) for row in rows])
    assert gaps.mean() == pytest.approx(1000 / 15, abs=1)  # 15 samples per simulated second
    frame = cv2.imread(rows[5][1])
    assert frame.shape == (160, 320, 3)
    assert Path(rows[5][1]).read_bytes()[:2] == b"\xff\xd8"  # JPEG


def test_sessions_append_and_never_overwrite(tmp_path):
    log = record_session("lake", LAPS, tmp_path, seed=1, progress=False)
    first = log.read_bytes()
    record_session("lake", LAPS, tmp_path, seed=2, progress=False)
    both = log.read_bytes()
    assert both.startswith(first) and len(both) > len(first)
    rows = rows_of(log)
    n_first = first.count(b"\n")
    assert stamp_ms(rows[n_first][0]) > stamp_ms(rows[n_first - 1][0])
    assert len(list((tmp_path / "IMG").iterdir())) == 3 * len(rows)
    assert not list(tmp_path.glob(".*partial*"))


def test_the_same_seed_records_the_same_session(tmp_path):
    a = rows_of(record_session("lake", LAPS, tmp_path / "a", seed=3, recovery=True, progress=False))
    b = rows_of(record_session("lake", LAPS, tmp_path / "b", seed=3, recovery=True, progress=False))
    assert [r[3:] for r in a] == [r[3:] for r in b]
    assert [Path(r[0]).name for r in a] == [Path(r[0]).name for r in b]
    assert Path(a[20][2]).read_bytes() == Path(b[20][2]).read_bytes()


def test_training_reads_a_recording_like_any_real_log(tmp_path):
    log = record_session("lake", LAPS, tmp_path, progress=False)
    table = read_recordings([tmp_path])
    rows = rows_of(log)
    assert len(table) == len(rows)
    assert table["steering"].to_numpy() == pytest.approx([float(r[3]) for r in rows])
    assert [Path(p).name for p in table["center"]] == [Path(r[0]).name for r in rows]


def test_same_shape_as_a_real_linux_recording(realdata):
    real = (realdata / "track2_jungle" / "driving_log.csv").read_text(encoding="utf-8").splitlines()[0].split(",")
    assert len(real) == 7
    assert [NAME.match(Path(p).name)[1] for p in real[:3]] == ["center", "left", "right"]
    assert all(NUMBER.match(v) or re.match(r"^\d+\.\d+$", v) for v in real[3:])


def test_help_speaks_to_users_with_defaults_and_an_example(capsys):
    with pytest.raises(SystemExit):
        record_main(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "sim.expert" not in text and "sample_hz" not in text  # internal names
    assert "(default: lake)" in text and "(default: 0)" in text and "example: python -m sim.record" in text
