"""Throttle and steering commands: a PI speed controller, and what to send when a frame is bad."""
from __future__ import annotations

from dataclasses import dataclass

import simulator_config

TOP_SPEED_MPH = float(simulator_config.load()["vehicle"]["top_speed_mph"])
# Frame gaps longer than this (a pause, manual driving) do not count as integration time.
MAX_STEP_S = 0.2
# Bad frames in a row after which the car brakes instead of coasting.
BAD_FRAMES_BEFORE_BRAKE = 3
# The speed controller's defaults (the drive CLI shows and overrides them).
DEFAULT_SET_SPEED_MPH = 15.0
DEFAULT_KP, DEFAULT_KI = 0.1, 0.05  # throttle per mph of error; per mph·second
DEFAULT_MAX_THROTTLE = 1.0
DEFAULT_CORNER_SLOWDOWN = 0.5
EASE_OFF = 0.5  # share of the last throttle kept on an isolated bad frame
BRAKE = -0.5
STOPPED_MPH = 0.5  # below this, braking would reverse the car: coast instead


@dataclass(frozen=True)
class Command:
    steering: float  # normalised −1..1, positive = right
    throttle: float  # −1..1; negative brakes (then reverses)


def clamp(value: float, low: float = -1.0, high: float = 1.0) -> float:
    return min(high, max(low, value))


class SpeedController:
    """PI control of the throttle toward a set speed, slowing down in sharp steering.

    The target drops linearly with |steering| to `(1 - corner_slowdown)` of the set speed at full
    lock, so the car enters bends slower. The integral uses elapsed time, not frame count, because
    the simulator runs several telemetry loops at once and the frame rate varies with them.
    """

    def __init__(self, set_speed_mph: float = DEFAULT_SET_SPEED_MPH, kp: float = DEFAULT_KP, ki: float = DEFAULT_KI,
                 max_throttle: float = DEFAULT_MAX_THROTTLE, corner_slowdown: float = DEFAULT_CORNER_SLOWDOWN) -> None:
        self.set_speed_mph = set_speed_mph
        self.kp, self.ki = kp, ki
        self.max_throttle = clamp(max_throttle, 0.0, 1.0)
        self.corner_slowdown = corner_slowdown
        self._integral = 0.0
        self._last_time: float | None = None

    def target_mph(self, steering: float) -> float:
        return self.set_speed_mph * (1.0 - self.corner_slowdown * min(1.0, abs(steering)))

    def throttle(self, speed_mph: float, steering: float, now: float) -> float:
        """Throttle for the measured speed at time `now` (seconds, monotonic), in [-1, max_throttle]."""
        error = self.target_mph(steering) - speed_mph
        step = 0.0 if self._last_time is None else min(MAX_STEP_S, max(0.0, now - self._last_time))
        self._last_time = now
        unclamped = self.kp * error + self.ki * (self._integral + error * step)
        throttle = clamp(unclamped, -1.0, self.max_throttle)
        if throttle == unclamped:  # integrate only while not saturated (no wind-up at start or on hills)
            self._integral += error * step
        return throttle

    def reset(self) -> None:
        """Forget the integral and timing, e.g. after manual driving."""
        self._integral = 0.0
        self._last_time = None


def safe_command(last: Command, bad_in_a_row: int, speed_mph: float | None) -> Command:
    """The reply to a frame that cannot be driven from: keep steering, ease off, then brake.

    `speed_mph` is the last known speed (None if never known); braking stops once the car stands,
    because a negative throttle on a standing car reverses it.
    """
    if bad_in_a_row < BAD_FRAMES_BEFORE_BRAKE:
        return Command(last.steering, EASE_OFF * max(last.throttle, 0.0))
    moving = speed_mph is None or speed_mph > STOPPED_MPH
    return Command(last.steering, BRAKE if moving else 0.0)
