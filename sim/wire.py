"""A Socket.IO client that talks exactly like the Udacity simulator (docs/architecture.md, "How a frame flows").

Websocket only, `EIO=4` in the URL, no Socket.IO CONNECT packet (`40`), its own Engine.IO pings,
every telemetry value a string with four decimals (C# "N4"), steering in degrees and speed in mph.
Used by the headless simulator (`sim.drive`), the drive server's tests and the latency benchmark.
"""
from __future__ import annotations

import base64
import json
import socket
import time
from typing import Callable

import websocket

import simulator_config

MAX_WHEEL_ANGLE_DEG = simulator_config.max_wheel_angle_deg()
DEFAULT_PING_INTERVAL_S = 25.0  # the simulator's own, used until the server's open packet says otherwise
REDIAL_S = 0.2  # the simulator redials at once, in a tight loop; this costs nothing while waiting
# Engine.IO packet types (protocol 3, which the simulator's client speaks whatever its URL says).
_OPEN, _CLOSE, _PING, _PONG, _MESSAGE = "0", "1", "2", "3", "4"
# Socket.IO packet types inside an Engine.IO message.
_SIO_CONNECT, _SIO_DISCONNECT, _SIO_EVENT = "0", "1", "2"


class SimulatorConnectionError(ConnectionError):
    """No drive server answered, or it closed the connection; the message says what to do."""


class SimulatorClient:
    """One simulator connection. Not thread-safe: use one client per thread."""

    def __init__(self) -> None:
        self._ws: websocket.WebSocket | None = None
        self.address = ""
        self.open_info: dict = {}  # the server's Engine.IO open packet (sid, pingInterval, ...)
        self._ping_interval_s = DEFAULT_PING_INTERVAL_S
        self._last_ping = 0.0

    def connect(self, host: str, port: int, timeout: float = 5.0, wait_s: float = 0.0,
                on_waiting: Callable[[str], None] | None = None) -> "SimulatorClient":
        """Dial the server like the simulator and read its Engine.IO open packet.

        While nothing listens on host:port the simulator keeps dialling, so users may start it
        before the drive server; so does this, for up to `wait_s` seconds, calling `on_waiting`
        once with a line for the user. `timeout` bounds each attempt once a server accepted it.
        """
        self.address = f"{host}:{port}"
        url = f"ws://{host}:{port}/socket.io/?EIO=4&transport=websocket"
        deadline = time.monotonic() + wait_s
        waiting = False
        while True:
            try:
                self._ws = websocket.create_connection(url, timeout=timeout, enable_multithread=False)
                self._ws.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                packet = self._ws.recv()
                break
            except (ConnectionRefusedError, ConnectionResetError, ConnectionAbortedError) as e:
                self.close()
                if time.monotonic() + REDIAL_S > deadline:  # nothing listens there (yet)
                    waited = f" after waiting {wait_s:g} s" if wait_s else ""
                    raise SimulatorConnectionError(
                        f"no drive server on {self.address}{waited} ({e.strerror or e}): start it with "
                        "`python drive.py MODEL`") from None
                if not waiting and on_waiting:
                    on_waiting(f"waiting for a drive server on {self.address} (start it with `python drive.py "
                               f"MODEL`; giving up after {wait_s:g} s)")
                waiting = True
                time.sleep(REDIAL_S)
            except (OSError, websocket.WebSocketException) as e:
                self.close()
                raise SimulatorConnectionError(
                    f"cannot connect to a drive server on {self.address} ({e or type(e).__name__}): check the "
                    "host and port, and that `python drive.py MODEL` runs there") from None
        if not isinstance(packet, str) or not packet.startswith(_OPEN):
            raise SimulatorConnectionError(f"the server on {self.address} did not open an Engine.IO session "
                                           f"(sent {str(packet)[:40]!r}): is it a drive server?")
        self.open_info = json.loads(packet[1:])
        self._ping_interval_s = self.open_info.get("pingInterval", DEFAULT_PING_INTERVAL_S * 1000) / 1000
        self._last_ping = time.monotonic()
        return self

    def send_telemetry(self, steering_deg: float, throttle: float, speed_mph: float, jpeg: bytes) -> None:
        """Emit one `telemetry` event as the simulator does (all values strings, "N4" numbers)."""
        self.send_event("telemetry", {
            "steering_angle": f"{steering_deg:.4f}",
            "throttle": f"{throttle:.4f}",
            "speed": f"{speed_mph:.4f}",
            "image": base64.b64encode(jpeg).decode("ascii"),
        })

    def send_event(self, name: str, data: object, *more: object) -> None:
        """Emit any event with any JSON payload (for raw or deliberately bad messages; `more`: extra arguments).

        Like the simulator, pings first when a ping interval has passed: an Engine.IO 3 server
        (3.13) closes a connection that has not pinged for pingInterval + 5 s.
        """
        if time.monotonic() - self._last_ping >= self._ping_interval_s:
            self.ping()
        self._send(_MESSAGE + _SIO_EVENT + json.dumps([name, data, *more], separators=(",", ":")))

    def ping(self) -> None:
        """An Engine.IO ping, as the simulator sends every 25 s; the server answers `3`."""
        self._send(_PING)
        self._last_ping = time.monotonic()

    def receive(self, timeout: float = 5.0) -> tuple[str, dict]:
        """The next event (name, data); answers server pings and skips pongs and connect packets.

        Raises TimeoutError when nothing arrives within `timeout` seconds and
        SimulatorConnectionError when the server closes the connection.
        """
        deadline = time.monotonic() + timeout
        while True:
            event = self._next(deadline, timeout)
            if event is not None:
                return event

    def flush(self, timeout: float = 5.0) -> list[tuple[str, dict]]:
        """Ping, and return the events that arrive before the pong.

        An Engine.IO 3 server answers a ping in order with what it sends, so once the pong is in,
        nothing the server sent earlier (a classic server's `steer` on connect) is still on its way.
        """
        self.ping()
        deadline = time.monotonic() + timeout
        events = []
        while (event := self._next(deadline, timeout)) is not None:
            events.append(event)
        return events

    def _next(self, deadline: float, timeout: float) -> tuple[str, dict] | None:
        """The next event, or None for a pong."""
        ws = self._connected()
        while True:
            ws.settimeout(max(1e-3, deadline - time.monotonic()))
            try:
                packet = ws.recv()
            except websocket.WebSocketTimeoutException:
                raise TimeoutError(f"no event from the drive server on {self.address} within {timeout:g} s") from None
            except (OSError, websocket.WebSocketException) as e:
                raise SimulatorConnectionError(f"the drive server on {self.address} dropped the connection "
                                               f"({e or type(e).__name__})") from None
            if not packet or packet.startswith(_CLOSE):
                raise SimulatorConnectionError(f"the drive server on {self.address} closed the connection")
            if packet.startswith(_PING):
                self._send(_PONG + packet[1:])
            elif packet.startswith(_PONG):
                return None
            elif packet.startswith(_MESSAGE + _SIO_EVENT):
                payload = packet[2:]
                name, *args = json.loads(payload[payload.index("["):])  # skips a namespace or ack id
                return name, args[0] if args else {}
            elif packet.startswith(_MESSAGE + _SIO_DISCONNECT):
                raise SimulatorConnectionError(f"the drive server on {self.address} disconnected this client")
            # Socket.IO connect packets and no-ops carry nothing for the simulator

    def request(self, steering_deg: float, throttle: float, speed_mph: float, jpeg: bytes,
                timeout: float = 5.0) -> tuple[str, dict]:
        """Send one telemetry message and return the reply."""
        self.send_telemetry(steering_deg, throttle, speed_mph, jpeg)
        return self.receive(timeout)

    def close(self) -> None:
        if self._ws is not None:
            try:
                self._ws.close(timeout=1)
            except (OSError, websocket.WebSocketException):
                pass  # the server is already gone: nothing left to close
            self._ws = None

    def __enter__(self) -> "SimulatorClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _send(self, text: str) -> None:
        try:
            self._connected().send(text)
        except (OSError, websocket.WebSocketException) as e:
            raise SimulatorConnectionError(f"cannot send to the drive server on {self.address} ({e})") from None

    def _connected(self) -> websocket.WebSocket:
        if self._ws is None:
            raise SimulatorConnectionError("not connected: call connect(host, port) first")
        return self._ws


def steering_degrees(normalised: float) -> float:
    """The simulator reports the wheel angle in degrees; commands are normalised −1..1."""
    return normalised * MAX_WHEEL_ANGLE_DEG
