"""The whole loop in miniature: the headless simulator records, training fits, the drive server
serves the trained model, and the simulator drives through it. Quality is the benchmark's job
(`python -m studies.closed_loop`); this proves the pieces fit."""
from __future__ import annotations

import json

import pytest

from base.logs import read_recordings
from base.processes import drive_server
from sim.drive import DriveServer, drive_session
from sim.record import record_session
from training import fit


def test_record_train_serve_and_drive(tmp_path, free_port):
    log = record_session("lake", laps=0.1, out=tmp_path / "rec", seed=1, recovery=True, progress=False)
    rows = read_recordings([log.parent])
    assert len(rows) > 60 and rows["steering"].abs().max() > 0.05  # the expert steered

    assert fit.main(["--data", str(log.parent), "--out", str(tmp_path / "models"), "--epochs", "1",
                     "--batch-size", "32", "--val-block", "15", "--workers", "1"]) == 0
    run = (tmp_path / "models" / "latest").resolve()
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["train_samples"] > 0 and metrics["val_samples"] > 0

    with drive_server(run, free_port, extra_args=["--quiet"]) as server:
        report = drive_session("lake", 1, DriveServer("127.0.0.1", free_port), max_seconds=4.0, progress=False)
    assert server.returncode is not None  # stopped by the context manager
    assert report["frames"] == 60 and report["elapsed_s"] == pytest.approx(4.0)  # lockstep at 15 Hz
    assert report["mean_speed_mph"] > 1  # the server's throttle moved the car
    assert report["autonomy_percent"] == pytest.approx((1 - report["interventions"] * 6 / 4.0) * 100)
