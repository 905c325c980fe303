"""SimulatorClient speaks like the simulator: checked byte by byte against a minimal websocket server."""
from __future__ import annotations

import base64
import hashlib
import json
import socket
import struct
import threading

import pytest

from drive.wsmask import apply_mask
from sim.wire import SimulatorClient, SimulatorConnectionError, steering_degrees

WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
OPEN = '0{"sid":"abc","upgrades":[],"pingInterval":25000,"pingTimeout":60000}'


class CaptureServer:
    """One websocket connection: records the request line and every text frame the client sends."""

    def __init__(self, script: list[str], hang_up: bool = False, open_packet: str = OPEN,
                 greeting: tuple[str, ...] = ()) -> None:
        self.open_packet = open_packet
        self.greeting = greeting  # frames sent unasked right after the open packet
        self.script = script  # frames sent after the open packet, one per frame received ("" = none)
        self.hang_up = hang_up  # close right after the script instead of waiting for the client to
        self.request_line = ""
        self.received: list[str] = []
        self.done = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        conn, _ = self._listener.accept()
        with conn, self._listener:
            stream = conn.makefile("rb")
            self.request_line = stream.readline().decode().strip()
            headers = {}
            while (line := stream.readline().decode().strip()):
                name, value = line.split(":", 1)
                headers[name.lower()] = value.strip()
            accept = base64.b64encode(hashlib.sha1(headers["sec-websocket-key"].encode() + WS_GUID).digest())
            conn.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                         b"Sec-WebSocket-Accept: " + accept + b"\r\n\r\n")
            for text in (self.open_packet, *self.greeting):
                conn.sendall(_frame(text))
            for reply in self.script:
                text = _read_frame(stream)
                if text is None:
                    break
                self.received.append(text)
                if reply:
                    conn.sendall(_frame(reply))
            self.done.set()
            while not self.hang_up and _read_frame(stream) is not None:
                pass


def _frame(text: str) -> bytes:
    payload = text.encode()
    assert len(payload) < 126
    return bytes([0x81, len(payload)]) + payload


def _read_frame(stream) -> str | None:
    header = stream.read(2)
    if len(header) < 2 or header[0] & 0x0F == 8:
        return None
    assert header[1] & 0x80, "client frames must be masked"
    length = header[1] & 0x7F
    if length == 126:
        length = struct.unpack("!H", stream.read(2))[0]
    elif length == 127:
        length = struct.unpack("!Q", stream.read(8))[0]
    mask = stream.read(4)
    return apply_mask(stream.read(length), tuple(mask)).decode()


def test_client_dials_like_the_simulator_and_sends_string_values() -> None:
    server = CaptureServer(script=['42["steer",{"steering_angle":"0.1","throttle":"0.2"}]', "3"])
    with SimulatorClient().connect("127.0.0.1", server.port) as sim:
        assert sim.open_info["sid"] == "abc"
        name, data = sim.request(steering_degrees(-0.25), 0.5, 12.34567, b"\xff\xd8jpeg\xff\xd9")
        sim.ping()
        assert server.done.wait(5)
    assert server.request_line == "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1"
    telemetry, ping = server.received
    assert not telemetry.startswith("40")  # never a Socket.IO CONNECT packet
    assert ping == "2"
    event, payload = json.loads(telemetry[2:])
    assert telemetry.startswith("42") and event == "telemetry"
    assert payload == {"steering_angle": "-6.2500", "throttle": "0.5000", "speed": "12.3457",
                       "image": base64.b64encode(b"\xff\xd8jpeg\xff\xd9").decode()}
    assert (name, data) == ("steer", {"steering_angle": "0.1", "throttle": "0.2"})


def test_client_answers_server_pings_and_skips_connect_packets() -> None:
    server = CaptureServer(script=["2", '42["manual",{}]'])
    with SimulatorClient().connect("127.0.0.1", server.port) as sim:
        sim.send_event("telemetry", {})
        # The server pings first; receive() must answer "3" and then return the event.
        assert sim.receive() == ("manual", {})
        assert server.done.wait(5)
    assert server.received == ['42["telemetry",{}]', "3"]


def test_client_pings_once_a_ping_interval_has_passed() -> None:
    # pingInterval 0: every event is due a ping first, as an Engine.IO 3 server needs to keep the connection
    server = CaptureServer(script=["", "", "", ""], open_packet=OPEN.replace("25000", "0"))
    with SimulatorClient().connect("127.0.0.1", server.port) as sim:
        sim.send_event("telemetry", {})
        sim.send_event("telemetry", {})
        assert server.done.wait(5)
    assert server.received == ["2", '42["telemetry",{}]'] * 2


def test_flush_returns_what_the_server_sent_unasked_before_its_pong() -> None:
    # A classic server emits `steer` on connect; left on the wire, it would pass for the reply to the first frame.
    greeting = '42["steer",{"steering_angle":"0.0","throttle":"0.0"}]'
    server = CaptureServer(script=["3", '42["steer",{"steering_angle":"0.3","throttle":"0.1"}]'], greeting=("40", greeting))
    with SimulatorClient().connect("127.0.0.1", server.port) as sim:
        assert sim.flush() == [("steer", {"steering_angle": "0.0", "throttle": "0.0"})]
        assert sim.request(0.0, 0.0, 0.0, b"jpeg") == ("steer", {"steering_angle": "0.3", "throttle": "0.1"})
        assert server.done.wait(5)
    assert server.received[0] == "2"


def test_flush_of_a_quiet_server_is_empty() -> None:
    server = CaptureServer(script=["3"])
    with SimulatorClient().connect("127.0.0.1", server.port) as sim:
        assert sim.flush() == []
        assert server.done.wait(5)


def test_no_server_is_a_clear_error(free_port: int) -> None:
    with pytest.raises(SimulatorConnectionError, match=rf"no drive server on 127.0.0.1:{free_port}.*python drive.py MODEL"):
        SimulatorClient().connect("127.0.0.1", free_port, timeout=2)


def test_receive_times_out_when_nothing_comes() -> None:
    server = CaptureServer(script=[""])
    with SimulatorClient().connect("127.0.0.1", server.port) as sim:
        sim.send_event("telemetry", {})
        with pytest.raises(TimeoutError):
            sim.receive(timeout=0.2)


def test_closed_connection_is_reported() -> None:
    server = CaptureServer(script=[], hang_up=True)
    with SimulatorClient().connect("127.0.0.1", server.port) as sim:
        with pytest.raises(SimulatorConnectionError):
            sim.receive(timeout=5)
