"""sim.drive against live drive servers (ours and one written the classic way), and its scoring."""
from __future__ import annotations

import csv
import json
import math
import threading
from pathlib import Path

import cv2
import numpy as np
import pytest

from base.processes import drive_server, serve_command
from base.quiet_tensorflow import NOISE, has_gpu
from evaluate.autonomy import PENALTY_S
from evaluate.interventions import Scorecard
from sim.drive import DriveFiles, DriveServer, drive_session
from sim.drive import main as drive_main
from sim.pose import Pose
from sim.tracks import load_track
from sim.vehicle import Vehicle
from sim.wire import SimulatorConnectionError


@pytest.fixture(scope="module")
def hard_right_model(tmp_path_factory) -> Path:
    """An NVIDIA model that always answers steering +1: the car circles right and leaves the road."""
    from training.model import build_model

    model = build_model()
    layer = model.get_layer("steering")
    kernel, bias = layer.get_weights()
    layer.set_weights([np.zeros_like(kernel), np.ones_like(bias)])
    path = tmp_path_factory.mktemp("model") / "hard_right.keras"
    model.save(path)
    return path


def test_no_server_is_one_clear_error(free_port, capsys):
    with pytest.raises(SimulatorConnectionError, match=f"no drive server on 127.0.0.1:{free_port}"):
        drive_session("lake", 1, DriveServer("127.0.0.1", free_port, connect_timeout_s=0), progress=False)
    assert drive_main(["--port", str(free_port), "--laps", "1", "--connect-timeout", "0.5"]) == 2
    captured = capsys.readouterr()
    assert captured.err == (f"error: no drive server on 127.0.0.1:{free_port} after waiting 0.5 s (Connection "
                            "refused): start it with `python drive.py MODEL`\n")
    assert captured.out == (f"waiting for a drive server on 127.0.0.1:{free_port} (start it with `python drive.py "
                            "MODEL`; giving up after 0.5 s)\n")  # said once, however often it redialled


def test_started_before_the_drive_server_it_waits_for_it_and_drives(free_port, hard_right_model):
    waiting, results = threading.Event(), []

    def drive() -> None:
        try:
            server = DriveServer("127.0.0.1", free_port, on_waiting=lambda line: (results.append(line), waiting.set()))
            results.append(drive_session("lake", 1, server, max_seconds=2.0, progress=False))
        except BaseException as e:  # handed to the test thread, which asserts on it
            results.append(e)
            waiting.set()

    client = threading.Thread(target=drive, name="sim.drive")
    client.start()
    try:
        assert waiting.wait(timeout=120), "sim.drive never said it was waiting"
        assert results == [f"waiting for a drive server on 127.0.0.1:{free_port} (start it with `python drive.py "
                           f"MODEL`; giving up after 120 s)"]
        with drive_server(hard_right_model, free_port, extra_args=["--quiet"]):
            client.join(timeout=300)
    finally:
        client.join(timeout=300)
    assert not client.is_alive()
    line, report = results
    assert isinstance(report, dict), report
    assert report["frames"] == 30 and report["max_abs_offset_m"] > 0.5  # it drove, steered by the server


def test_leaving_the_road_is_an_intervention_and_the_car_is_put_back():
    track = load_track("lake")
    car = Vehicle(Pose(*track.pose_at(50.0)), speed_mps=8.0)
    card = Scorecard(track, s_last=50.0, period_s=1 / 15)
    card.observe(car)
    assert card.interventions == []
    car.reset(Pose(*track.pose_at(52.0, offset=track.half_width_m + 0.2)))
    card.observe(car)
    assert len(card.interventions) == 1
    back = track.locate(car.pose.x, car.pose.y)
    assert abs(back.offset) < 0.05 and car.pose.heading == pytest.approx(back.heading, abs=1e-6)
    assert car.speed_mps == 8.0
    report = card.report()
    assert report["autonomy_percent"] == pytest.approx((1 - PENALTY_S / card.elapsed_s) * 100, abs=0.01)
    assert report["max_abs_offset_m"] == pytest.approx(track.half_width_m + 0.2, abs=0.05)


def test_drives_the_drive_server_in_lockstep_and_scores_the_run(tmp_path, free_port, hard_right_model):
    server_log = tmp_path / "server.csv"
    out = {k: tmp_path / f"run.{k}" for k in ("json", "png", "mp4")}
    with drive_server(hard_right_model, free_port, extra_args=["--log-csv", str(server_log), "--quiet"]) as server:
        files = DriveFiles(report=out["json"], plot=out["png"], video=out["mp4"])
        report = drive_session("lake", 1, DriveServer("127.0.0.1", free_port), files, max_seconds=15.0, progress=False)
    if not has_gpu():  # TensorFlow's no-GPU start-up lines stay out of the drive server's output
        assert not [line for line in server.output if NOISE.search(line) or "cuda" in line.lower()], server.output
    assert report["frames"] == 225 and report["elapsed_s"] == pytest.approx(15.0)  # 15 Hz of simulated time
    for key in ("autonomy_percent", "interventions", "laps_completed", "mean_abs_offset_m", "max_abs_offset_m",
                "mean_speed_mph", "frames", "elapsed_s"):
        assert key in report
    assert report["interventions"] >= 2 and report["laps_completed"] == 0 and not report["finished"]
    assert report["autonomy_percent"] == pytest.approx((1 - report["interventions"] * 6 / 15.0) * 100)
    assert report["max_abs_offset_m"] > load_track("lake").half_width_m
    assert report["mean_speed_mph"] > 2  # the server's throttle moved the car
    assert json.loads(out["json"].read_text()) == report
    assert cv2.imread(str(out["png"])) is not None
    video = cv2.VideoCapture(str(out["mp4"]))
    assert int(video.get(cv2.CAP_PROP_FRAME_COUNT)) == 225
    video.release()
    with open(server_log, newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 225  # one reply per frame: lockstep
    steering_key = next(k for k in rows[0] if "steer" in k)
    assert all(math.isclose(float(r[steering_key]), 1.0) for r in rows)


def test_drives_a_server_written_the_classic_way(free_port, hard_right_model):
    from benchmarks.classic_drive import READY

    with serve_command(["-m", "benchmarks.classic_drive", str(hard_right_model), "--port", str(free_port)], READY):
        report = drive_session("lake", 1, DriveServer("127.0.0.1", free_port), max_seconds=2.0, progress=False)
    assert report["frames"] == 30
    assert report["max_abs_offset_m"] > 0.5  # it steered: the classic server's `steer` replies arrived
    assert report["mean_speed_mph"] > 1
