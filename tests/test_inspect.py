"""`python -m training.inspect`: the figures a user checks before training, and clear errors."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest
from recordings import image_name, write_recording

from training.inspect import main

ROOT_ARGS = [sys.executable, "-m", "training.inspect"]


def run_json(capsys, *args: str) -> dict:
    assert main([*args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_json_counts_rows_samples_and_steering(tmp_path, capsys):
    write_recording(tmp_path / "a", [0.0] * 30 + [0.005, -0.5, 0.5, 1.0] * 5, style="windows")
    write_recording(tmp_path / "b", [0.25] * 20, style="bare")
    summary = run_json(capsys, str(tmp_path), "--bins", "5", "--bin-cap", "10")
    assert summary["rows"] == 70 and summary["images_missing"] == 0
    mean = ((0.005 + 1.0) * 5 + 0.25 * 20) / 70
    assert summary["steering"] == pytest.approx({"min": -0.5, "max": 1.0, "mean": mean, "zero_fraction": 35 / 70})
    assert summary["train_rows"] + summary["val_rows"] == 70
    assert summary["samples_with_side_cameras"] == 3 * summary["train_rows"]
    assert summary["balance"]["cap"] == 10 and max(summary["balance"]["counts_after"]) <= 10
    assert summary["samples_after_balance"] == sum(summary["balance"]["counts_after"])
    assert [(r["rows"], r["images_found"]) for r in summary["recordings"]] == [(50, 150), (20, 60)]


def test_missing_images_fail_unless_skipped(tmp_path, capsys):
    write_recording(tmp_path, [0.1] * 12, style="relative")
    (tmp_path / "IMG" / image_name("center", 3)).unlink()
    assert main([str(tmp_path)]) == 2
    error = capsys.readouterr().err
    assert error.startswith("error: 1 of 36 images are missing") and error.count("\n") == 1
    summary = run_json(capsys, str(tmp_path), "--skip-missing")
    assert summary["rows"] == 12 and summary["rows_used"] == 11 and summary["images_missing"] == 1
    assert summary["recordings"][0]["first_missing"] == [f"IMG/{image_name('center', 3)}"]


def test_report_and_plots(tmp_path, capsys):
    write_recording(tmp_path / "rec", [0.0, 0.3, -0.3] * 10)
    assert main([str(tmp_path / "rec"), "--plots", str(tmp_path / "plots")]) == 0
    report = capsys.readouterr().out
    assert "training samples: 90 with side cameras (pure pursuit back to the path in 1.3 s)" in report  # one block: all train
    assert main([str(tmp_path / "rec"), "--return-s", "2"]) == 0
    assert "training samples: 90 with side cameras (pure pursuit back to the path in 2 s)" in capsys.readouterr().out
    assert sorted(p.name for p in (tmp_path / "plots").iterdir()) == ["augmentation_grid.png",
                                                                      "steering_histograms.png"]
    assert (tmp_path / "plots" / "augmentation_grid.png").read_bytes()[:4] == b"\x89PNG"


def test_cli_exits_2_with_one_line_for_bad_input(tmp_path):
    write_recording(tmp_path / "good", [0.1, 0.2])
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "driving_log.csv").write_text("a.jpg,b.jpg,c.jpg,0,1,0,3\na.jpg,b.jpg,c.jpg,0,1,0,3,5\n")
    for args, expected in [([str(tmp_path / "bad")], "line 2 has 8 fields"),
                           ([str(tmp_path / "absent")], "absent does not exist"),
                           ([str(tmp_path / "good"), "--bins", "0"], "\"bins\" must be at least 1")]:
        result = subprocess.run([*ROOT_ARGS, *args], capture_output=True, text=True, timeout=60)
        assert result.returncode == 2, result.stderr
        assert result.stderr.startswith("error: ") and expected in result.stderr
        assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr


def test_real_recordings(realdata, capsys):
    summary = run_json(capsys, str(realdata))
    assert summary["rows"] == 5316 and summary["images_missing"] == 0
    assert {r["folder"].rsplit("/", 1)[1]: r["rows"] for r in summary["recordings"]} == {
        "udacity_sample_part": 1700, "udacity_sample_late": 1836, "track1_windows": 613, "track2_jungle": 1167}
    assert all(r["images_found"] == 3 * r["rows"] for r in summary["recordings"])
    assert 0 < summary["samples_after_balance"] < summary["samples_with_side_cameras"]
    assert 0.4 < summary["steering"]["zero_fraction"] < 0.7


def cut_to_a_third(path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])


def test_truncated_jpegs_are_counted_as_damaged_and_their_first_paths_shown(tmp_path, capsys):
    write_recording(tmp_path, [0.1] * 12, style="relative")
    for row in (2, 5):
        cut_to_a_third(tmp_path / "IMG" / image_name("center", row))
    assert main([str(tmp_path)]) == 2
    error = capsys.readouterr().err
    assert error.startswith("error: 2 of 36 images are damaged") and "--skip-missing" in error
    assert image_name("center", 2) in error and error.count("\n") == 1
    summary = run_json(capsys, str(tmp_path), "--skip-missing")
    assert summary["images_damaged"] == 2 and summary["images_missing"] == 0 and summary["rows_used"] == 10
    assert [p.rsplit("/", 1)[1] for p in summary["recordings"][0]["first_damaged"]] == \
        [image_name("center", 2), image_name("center", 5)]
    assert main([str(tmp_path), "--skip-missing"]) == 0
    assert "first damaged (JPEG cut off before its end marker)" in capsys.readouterr().out


def test_steering_outside_the_simulators_range_stops_with_file_and_line(tmp_path, capsys):
    log = write_recording(tmp_path, [0.1, 0.2, 50.0, 0.3], style="relative")
    assert main([str(tmp_path)]) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith(f"error: {log} line 3: steering is 50, outside the simulator's -1..1")


def test_rows_of_a_log_appended_twice_are_reported_and_dropped_before_the_split(tmp_path, capsys, caplog):
    log = write_recording(tmp_path, [0.1 * (i % 7) for i in range(40)], style="relative")
    log.write_text(log.read_text() * 2)
    summary = run_json(capsys, str(tmp_path))
    assert summary["rows"] == 80 and summary["rows_used"] == 40 and summary["duplicate_rows"] == 40
    assert "dropping 40 rows that are exact copies of earlier rows" in caplog.text
    assert main([str(tmp_path)]) == 0
    assert "40 rows are exact copies of earlier rows: dropped before the split" in capsys.readouterr().out
