"""The drive server in its own process, driven exactly as the simulator drives it (sim.wire).

How fast it answers is measured by `python -m benchmarks.drive_latency`, not asserted here."""
from __future__ import annotations

import base64
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import websocket

from base.processes import DRIVE_READY, ROOT, drive_server, free_loopback_port, serve_command
from base.runtime import load_runner
from sim.wire import SimulatorClient, SimulatorConnectionError
from training.model import build_model


def scene_jpeg(shift: int = 0) -> bytes:
    """A sky-and-road frame with texture, so its JPEG is about as large as a real one."""
    frame = np.random.default_rng(shift).integers(0, 40, (160, 320, 3), dtype=np.uint8)
    frame[:60] += np.uint8([190, 130, 80])
    frame[60:] += np.uint8([80, 85, 90])
    cv2.line(frame, (80 + shift, 160), (160 + shift, 60), (240, 240, 240), 3)
    return cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 75])[1].tobytes()


def floats(reply: tuple[str, dict]) -> tuple[float, float]:
    name, data = reply
    assert name == "steer" and set(data) == {"steering_angle", "throttle"}, reply
    assert all(isinstance(value, str) for value in data.values())
    steering, throttle = float(data["steering_angle"]), float(data["throttle"])
    assert -1 <= steering <= 1 and -1 <= throttle <= 1
    return steering, throttle


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("model") / "model.keras"
    build_model().save(path)
    return path


@pytest.fixture(scope="module")
def server(model: Path):
    port = free_loopback_port()
    with drive_server(model, port) as proc:
        proc.port = port
        yield proc


@pytest.fixture(scope="module")
def onnx_run(model: Path, tmp_path_factory) -> Path:
    """A run folder whose model.onnx the first start made (and kept) from its model.keras."""
    run = tmp_path_factory.mktemp("run")
    shutil.copy(model, run / "model.keras")
    load_runner(run)
    assert (run / "model.onnx").is_file()
    return run


@pytest.fixture
def client(server):
    with SimulatorClient().connect("127.0.0.1", server.port) as sim:
        yield sim


def test_real_frames_get_string_steer_commands(server, client, realdata: Path) -> None:
    paths = sorted((realdata / "track2_jungle" / "IMG").glob("center_*.jpg"))[:20]
    steerings = set()
    for path in paths:
        frame = cv2.imread(str(path))
        jpeg = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 75])[1].tobytes()
        steerings.add(floats(client.request(-3.125, 0.2, 14.9, jpeg))[0])
    assert len(steerings) > 1  # the model sees the frames: different frames, different steering


def test_two_loops_at_once_pings_and_reconnect(server) -> None:
    sim = SimulatorClient().connect("127.0.0.1", server.port)
    # The simulator sends a telemetry on each of its two "open" events before any reply arrives.
    sim.send_telemetry(0.0, 0.0, 0.0, scene_jpeg(0))
    sim.send_telemetry(0.0, 0.0, 0.0, scene_jpeg(5))
    sim.ping()
    replies = [floats(sim.receive()) for _ in range(2)]
    assert replies[0][1] > 0  # standing car, set speed 15 mph: accelerate
    for _ in range(5):  # both loops keep going
        sim.send_telemetry(0.0, 0.3, 5.0, scene_jpeg(0))
        sim.send_telemetry(0.0, 0.3, 5.0, scene_jpeg(5))
        floats(sim.receive())
        floats(sim.receive())
    with pytest.raises(TimeoutError):  # exactly one reply per telemetry: nothing extra is queued
        sim.receive(timeout=0.3)
    sim.close()
    with SimulatorClient().connect("127.0.0.1", server.port) as again:
        floats(again.request(0.0, 0.0, 3.0, scene_jpeg()))


def test_empty_telemetry_gets_manual(client) -> None:
    client.send_event("telemetry", {})
    assert client.receive() == ("manual", {})
    floats(client.request(0.0, 0.0, 3.0, scene_jpeg()))


def test_telemetry_with_extra_arguments_is_still_answered(client) -> None:
    client.send_event("telemetry", {}, {"unexpected": "second argument"})
    assert client.receive() == ("manual", {})
    floats(client.request(0.0, 0.0, 3.0, scene_jpeg()))


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


GOOD = scene_jpeg()
PNG_640 = cv2.imencode(".png", cv2.resize(cv2.imdecode(np.frombuffer(GOOD, np.uint8), cv2.IMREAD_COLOR), (640, 480)))[1]
BAD_MESSAGES = {
    "missing image": {"steering_angle": "0.0000", "throttle": "0.0000", "speed": "10.0000"},
    "non-base64 image": {"steering_angle": "0", "throttle": "0", "speed": "10", "image": "%%%not base64%%%"},
    "non-JPEG image": {"steering_angle": "0", "throttle": "0", "speed": "10", "image": _b64(b"hello world!")},
    "truncated JPEG": {"steering_angle": "0", "throttle": "0", "speed": "10", "image": _b64(GOOD[: len(GOOD) // 2])},
    "non-numeric speed": {"steering_angle": "0", "throttle": "0", "speed": "fast", "image": _b64(GOOD)},
    "4 MB payload": {"steering_angle": "0", "throttle": "0", "speed": "10", "image": "A" * (4 << 20)},
    "not an object": ["a", "list"],
}


@pytest.mark.parametrize("kind", BAD_MESSAGES)
def test_bad_message_gets_a_safe_reply_one_log_line_and_driving_resumes(server, client, kind: str) -> None:
    seen = len(server.output)
    for _ in range(3):
        floats(client.request(0.0, 0.5, 10.0, GOOD))
        client.send_event("telemetry", BAD_MESSAGES[kind])
        floats(client.receive())
    floats(client.request(0.0, 0.5, 10.0, GOOD))  # the next good frame is served normally
    bad_lines = server.wait_for_output("bad frame", start=seen, count=3)
    assert len(bad_lines) == 3 and all("(1 in a row)" in text for text in bad_lines)
    assert not any("Traceback" in text for text in server.output[seen:])


def test_a_packet_that_does_not_parse_is_one_warning_line_not_a_traceback(server, client) -> None:
    seen = len(server.output)
    for _ in range(2):
        client._send('42["telemetry", {"speed": "1", "image": broken')  # Socket.IO event with broken JSON
    floats(client.request(0.0, 0.5, 10.0, GOOD))  # the connection still drives
    lines = server.wait_for_output("malformed packet ignored", start=seen, count=2)
    assert len(lines) == 2 and all("WARNING" in line for line in lines)
    assert not any("Traceback" in text for text in server.output[seen:])


@pytest.mark.parametrize("kind", ["PNG 640×480", "decimal comma"])
def test_other_formats_and_locales_are_served(client, kind: str) -> None:
    data = {"steering_angle": "1,2500", "throttle": "0,3000", "speed": "12,5000", "image": _b64(GOOD)}
    if kind.startswith("PNG"):
        data = {"steering_angle": "0", "throttle": "0", "speed": "12.5", "image": _b64(PNG_640.tobytes())}
    client.send_event("telemetry", data)
    floats(client.receive())


def test_bad_frames_in_a_row_brake(client) -> None:
    kept, _ = floats(client.request(0.0, 0.5, 12.0, GOOD))
    replies = []
    for _ in range(4):
        client.send_event("telemetry", BAD_MESSAGES["truncated JPEG"])
        replies.append(floats(client.receive()))
    assert all(steering == kept for steering, _ in replies)
    assert replies[0][1] >= 0 and replies[-1][1] < 0


def test_model_that_cannot_drive_fails_before_listening(tmp_path: Path) -> None:
    import keras

    inputs = keras.Input((66, 200, 3))
    keras.Model(inputs, keras.layers.Dense(1)(keras.layers.Flatten()(inputs))).save(tmp_path / "small.keras")
    port = free_loopback_port()
    done = subprocess.run([sys.executable, "-m", "drive", str(tmp_path / "small.keras"), "--port", str(port)],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "(N, 160, 320, 3)" in errors[0]
    assert "Traceback" not in done.stderr and "ready" not in done.stdout


def test_second_server_on_a_busy_port_is_refused(server, model: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "drive", str(model), "--port", str(server.port)],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert f"error: cannot listen on 127.0.0.1:{server.port}" in done.stderr


def test_recording_log_csv_and_transport_limit(model: Path, tmp_path: Path) -> None:
    port = free_loopback_port()
    folder, csv_log = tmp_path / "run", tmp_path / "frames.csv"
    args = [str(folder), "--log-csv", str(csv_log), "--max-message-mb", "2"]
    with drive_server(model, port, extra_args=args) as proc:
        with SimulatorClient().connect("127.0.0.1", port) as sim:
            for i in range(8):
                floats(sim.request(0.0, 0.3, 8.0 + i, scene_jpeg(i)))
            # Over --max-message-mb the transport drops the connection; the simulator reconnects. The
            # server may close it while the message is still being sent, or the next read finds it closed.
            with pytest.raises(SimulatorConnectionError):
                sim.send_event("telemetry", {"speed": "1", "image": "A" * (3 << 20)})
                sim.receive()
        with SimulatorClient().connect("127.0.0.1", port) as sim:
            floats(sim.request(0.0, 0.3, 9.0, scene_jpeg()))
            # The limit holds for a whole message: four 1 MB fragments (each under 2 MB) are one 4 MB message.
            # Closed while still sending (a broken pipe), or the next read finds it closed.
            with pytest.raises((SimulatorConnectionError, OSError, websocket.WebSocketException)):
                send_fragmented(sim, '42["telemetry",{"speed":"1","image":"' + "A" * (4 << 20) + '"}]', 4)
                sim.receive()
        with SimulatorClient().connect("127.0.0.1", port) as sim:
            floats(sim.request(0.0, 0.3, 9.0, scene_jpeg(9)))
    assert proc.returncode == 0
    assert any("recorded 10 frames" in line for line in proc.output)
    assert len(list((folder / "IMG").glob("center_*.jpg"))) == 10
    assert len((folder / "driving_log.csv").read_text().splitlines()) == 10
    rows = csv_log.read_text().splitlines()
    assert rows[0] == "time_s,speed_mph,steering,throttle,latency_ms" and len(rows) == 11


def send_fragmented(sim: SimulatorClient, text: str, count: int) -> None:
    """`text` as one websocket text message in `count` fragments (frames), as any client may send it."""
    ws = sim._connected()
    step = -(-len(text) // count)
    for i in range(count):
        opcode = websocket.ABNF.OPCODE_TEXT if i == 0 else websocket.ABNF.OPCODE_CONT
        ws.send_frame(websocket.ABNF.create_frame(text[i * step:(i + 1) * step], opcode, fin=int(i == count - 1)))


def test_root_drive_py_help_explains_the_options_without_loading_tensorflow() -> None:
    done = subprocess.run([sys.executable, "drive.py", "--help"], cwd=ROOT, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0
    for option in ("MODEL", "IMAGE_FOLDER", "--host", "--port", "--speed", "--max-throttle", "--allow-unsafe",
                   "--log-csv"):
        assert option.lower() in done.stdout.lower()
    assert "Autonomous Mode" in done.stdout


@pytest.mark.parametrize("target", ["model.onnx", "run folder"])
def test_driving_an_onnx_model_imports_no_tensorflow_nor_pandas(onnx_run: Path, target: str) -> None:
    port = free_loopback_port()
    model = onnx_run / "model.onnx" if target == "model.onnx" else onnx_run
    command = ["-X", "importtime", "-m", "drive", str(model), "--port", str(port), "--quiet"]
    with serve_command(command, DRIVE_READY) as proc, SimulatorClient().connect("127.0.0.1", port) as sim:
        floats(sim.request(0.0, 0.0, 3.0, scene_jpeg()))  # a frame driven: inference imports what it needs
    imported = {line.split("|")[-1].strip() for line in proc.output if line.startswith("import time:")}
    assert {"onnxruntime", "eventlet", "socketio"} <= imported  # the check does see the server's imports
    heavy = sorted(name for name in imported if name.split(".")[0] in ("tensorflow", "keras", "tf2onnx", "pandas"))
    assert not heavy, heavy[:10]
