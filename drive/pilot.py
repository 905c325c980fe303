"""The drive server's per-frame work, free of any socket: telemetry in, exactly one reply out.

`Pilot.on_telemetry` never raises: an empty message is answered with `manual`, a frame it cannot
drive from with a safe `steer` (and one log line), a good frame with the model's steering and the
speed controller's throttle. Values in replies are strings, as the simulator's `float.Parse` needs.
"""
from __future__ import annotations

import logging
import math
import time

from base.runners import Runner
from drive.controller import Command, SpeedController, clamp, safe_command
from drive.dashboard import Dashboard
from drive.monitor import Monitor
from drive.recorder import Recorder
from drive.telemetry import DEFAULT_MAX_IMAGE_BYTES, BadTelemetry, parse

log = logging.getLogger(__name__)

Reply = tuple[str, dict]


def steer_message(command: Command) -> dict:
    return {"steering_angle": f"{command.steering:.6f}", "throttle": f"{command.throttle:.6f}"}


class Pilot:
    def __init__(self, runner: Runner, controller: SpeedController, monitor: Monitor | None = None,
                 recorder: Recorder | None = None, max_image_bytes: int = DEFAULT_MAX_IMAGE_BYTES,
                 dashboard: Dashboard | None = None) -> None:
        self.runner = runner
        self.controller = controller
        self.monitor = monitor
        self.recorder = recorder
        self.dashboard = dashboard
        self.max_image_bytes = max_image_bytes
        self.last = Command(0.0, 0.0)
        self.bad_in_a_row = 0
        self.last_speed: float | None = None
        self.manual = False

    def on_telemetry(self, data: object) -> Reply:
        """The reply (event name, payload) to one telemetry message."""
        received = time.perf_counter()
        if not data:
            if not self.manual:
                log.info("manual override: the simulator sends empty telemetry while W/S is held; replying 'manual'")
                self.manual = True
                self.controller.reset()
            return "manual", {}
        self.manual = False
        try:
            telemetry = parse(data, self.max_image_bytes)
        except BadTelemetry as e:
            return self._bad_frame(str(e))
        try:
            prediction = self.runner.predict_one(telemetry.frame)
        except Exception as e:  # the simulator stops its loop without a reply, so nothing may escape
            return self._bad_frame(f"inference failed ({type(e).__name__}: {e})")
        if not math.isfinite(prediction):  # clamp() would turn NaN into full lock
            return self._bad_frame(f"the model returned {prediction}")
        steering = clamp(prediction)
        throttle = self.controller.throttle(telemetry.speed_mph, steering, time.monotonic())
        command = Command(steering, throttle)
        if telemetry.note:
            log.warning("frame adapted: %s", telemetry.note)
        self.last, self.bad_in_a_row, self.last_speed = command, 0, telemetry.speed_mph
        if self.recorder:
            self.recorder.record(telemetry.jpeg, command, telemetry.speed_mph)
        latency = time.perf_counter() - received
        if self.monitor:
            self.monitor.frame(telemetry.speed_mph, steering, throttle, latency)
        if self.dashboard:
            self.dashboard.frame(telemetry.frame, telemetry.jpeg, telemetry.speed_mph, steering, throttle, latency)
        return "steer", steer_message(command)

    def _bad_frame(self, reason: str) -> Reply:
        self.bad_in_a_row += 1
        command = safe_command(self.last, self.bad_in_a_row, self.last_speed)
        action = "braking" if command.throttle < 0 else "easing off"
        log.warning("bad frame (%d in a row): %s; %s, keeping steering %+.3f, throttle %+.2f",
                    self.bad_in_a_row, reason, action, command.steering, command.throttle)
        self.last = command
        return "steer", steer_message(command)
