"""`drive.py MODEL --dashboard`: the live view, in a real browser while the headless simulator drives."""
from __future__ import annotations

import json
import subprocess
import sys
import urllib.request

import numpy as np
import pytest

from base.processes import ROOT, drive_server, free_loopback_ports
from drive.dashboard import Dashboard
from tests.browser import open_page
from tests.sim_helpers import write_track

ARTIFACTS = ROOT / "test-artifacts"
# Resolves once the page has shown 30 frames past the first it saw, at least three different steering
# values and a saliency image; the browser checks on each event, the test only awaits the answer.
SHOWN = """new Promise(resolve => {
  const seen = new Set(); let first = null;
  const check = () => {
    const frame = Number(document.getElementById("frame-count").textContent);
    if (frame > 0) { if (first === null) first = frame; seen.add(document.getElementById("steering").textContent); }
    const saliency = document.getElementById("saliency").naturalWidth;
    if (first !== null && frame >= first + 30 && seen.size >= 3 && saliency > 0)
      resolve({first, last: frame, steering: [...seen], saliency,
               simulator: document.getElementById("simulator").textContent,
               fps: document.getElementById("fps").textContent});
    else setTimeout(check, 50);
  };
  check();
})"""


def test_the_page_shows_the_drive_live_while_the_headless_simulator_drives(untrained_onnx, tmp_path):
    port, page_port = free_loopback_ports(2)
    track = write_track(tmp_path)
    with drive_server(untrained_onnx, port, extra_args=["--quiet", "--dashboard", str(page_port)]) as server:
        assert f"dashboard on http://127.0.0.1:{page_port}/" in server.output
        # Its progress bar goes to a file: an unread pipe would fill and stall the simulator.
        simulator_log = open(tmp_path / "sim_drive.log", "w")
        simulator = subprocess.Popen([sys.executable, "-m", "sim.drive", "--track", str(track), "--laps", "20",
                                      "--port", str(port)], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=simulator_log)
        try:
            with open_page(f"http://127.0.0.1:{page_port}/") as page:
                shown = page.evaluate(SHOWN, timeout=120)
                page.screenshot(ARTIFACTS / "dashboard.png")
        finally:
            simulator.terminate()
            simulator.wait(timeout=30)
            simulator_log.close()
    assert shown["last"] >= shown["first"] + 30  # the frame counter advances
    assert len(shown["steering"]) >= 3  # the steering shown changes
    assert shown["saliency"] == 640 and shown["simulator"] == "connected"
    assert float(shown["fps"]) > 0
    assert (ARTIFACTS / "dashboard.png").stat().st_size > 10_000


def test_events_carry_every_sample_once_and_the_latest_numbers():
    now = [0.0]
    dashboard = Dashboard(15.0, lambda steering: 15.0 - 5 * abs(steering), clock=lambda: now[0])
    frame = np.zeros((160, 320, 3), np.uint8)
    for i in range(5):
        now[0] += 0.1
        dashboard.frame(frame, b"jpeg", 10.0 + i, i / 10, 0.5, 0.002)
    first = dashboard.state()
    assert [s[1] for s in first["samples"]] == [0.0, 0.1, 0.2, 0.3, 0.4]
    assert first["frame"] == 5 and first["steering"] == 0.4 and first["target_mph"] == pytest.approx(13.0)
    assert first["latency_ms"] == pytest.approx(2.0) and first["fps"] == 5
    dashboard.frame(frame, b"jpeg", 20.0, -0.5, 0.1, 0.002)
    second = dashboard.state(since_frame=first["frame"])
    assert [s[1] for s in second["samples"]] == [-0.5]  # only what the page has not had
    assert not second["saliency"] and not second["connected"]


def test_the_page_and_its_script_are_served_from_the_project_and_fetch_nothing_else(untrained_onnx, free_port):
    page_port = free_port
    while page_port == free_port:
        (page_port,) = free_loopback_ports(1)
    with drive_server(untrained_onnx, free_port, extra_args=["--quiet", "--dashboard", str(page_port)]):
        html = urllib.request.urlopen(f"http://127.0.0.1:{page_port}/", timeout=10).read().decode()
        script = urllib.request.urlopen(f"http://127.0.0.1:{page_port}/dashboard.js", timeout=10).read().decode()
        events = urllib.request.urlopen(f"http://127.0.0.1:{page_port}/events", timeout=10)
        events.readline(), events.readline()  # the retry interval and its blank line
        state = json.loads(events.readline().decode().removeprefix("data: "))
        events.close()
    assert '<script src="/dashboard.js">' in html and "EventSource" in script
    assert "http" not in html.replace(f"http://127.0.0.1:{page_port}", "") and "http" not in script
    assert state["frame"] == 0 and state["connected"] is False and state["saliency"] is True


def test_a_dashboard_port_in_use_is_one_line_before_anything_loads(untrained_onnx, free_port, capsys):
    import socket

    from drive.cli import main

    with socket.create_server(("127.0.0.1", 0)) as taken:
        busy = taken.getsockname()[1]
        assert main([str(untrained_onnx), "--port", str(free_port), "--dashboard", str(busy)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: cannot listen on 127.0.0.1:{busy}") and "pass another --dashboard" in err
    assert err.count("\n") == 1
