"""The car's kinematic bicycle model: how a steering command turns into a path.

One definition for the headless simulator's vehicle, the replay of recordings and the labels of
synthesised viewpoints, so that all three move a car the same way. Steering is normalised −1..1
(× the maximum wheel angle, positive turns right); poses are (x, y, heading) on flat ground, heading
in radians counter-clockwise from +x, about the car's centre halfway between the axles.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

import simulator_config

MPS_PER_MPH = 0.44704


@dataclass(frozen=True)
class Steering:
    """The geometry that relates steering to curvature."""

    wheelbase_m: float
    max_wheel_angle_rad: float
    response_s: float = 0.0  # time constant of the wheels' first-order lag behind the command; 0: instant

    @classmethod
    def from_config(cls) -> Steering:
        vehicle = simulator_config.load()["vehicle"]
        return cls(float(vehicle["wheelbase_m"]), math.radians(simulator_config.max_wheel_angle_deg()),
                   float(vehicle["steering_response_s"]))

    def wheel_after(self, wheel: float, command: float, dt: float) -> float:
        """The wheel angle (normalised) `dt` seconds on, turning from `wheel` towards `command`.

        The simulator's car does not turn the instant the steering changes: Unity sets its wheels at once,
        but the body yaws through tyre forces that build up, and on real footage its yaw follows the logged
        steering as a first-order lag of about 0.1 s would (`studies.recorded_path`). This model has no
        tyres, so it lags the wheel. A replayed car without it answers its model faster than the simulator will."""
        command = min(1.0, max(-1.0, command))
        if self.response_s <= 0:
            return command
        return wheel + (1.0 - math.exp(-dt / self.response_s)) * (command - wheel)

    def slip_and_curvature(self, steering: float | np.ndarray) -> tuple[float, float] | tuple[np.ndarray, np.ndarray]:
        """(slip, yaw per metre travelled) at this steering: the velocity points `slip` radians right
        of the heading and the heading turns clockwise by the curvature times the distance.

        The one bicycle curvature: for one number (the replay and the vehicle step a car, where NumPy's
        per-call cost would dominate) or an array (training labels thousands of rows at once)."""
        if isinstance(steering, np.ndarray):
            delta = np.clip(steering, -1.0, 1.0) * self.max_wheel_angle_rad
            tan, atan, cos = np.tan, np.arctan, np.cos
        else:
            delta = min(1.0, max(-1.0, steering)) * self.max_wheel_angle_rad
            tan, atan, cos = math.tan, math.atan, math.cos
        slip = atan(0.5 * tan(delta))
        return slip, cos(slip) * tan(delta) / self.wheelbase_m

    def steering_for_curvature(self, curvature: float | np.ndarray) -> float | np.ndarray:
        """The inverse of `slip_and_curvature`: normalised steering (unclipped) that turns at `curvature`
        (1/m, positive to the right)."""
        # curvature = cos(atan(tan δ / 2)) tan δ / W  ⇔  tan δ = 2 k W / sqrt(4 − (k W)²)
        kw = np.clip(np.asarray(curvature, dtype=float) * self.wheelbase_m, -1.999, 1.999)
        delta = np.arctan(2 * kw / np.sqrt(4 - kw**2))
        result = delta / self.max_wheel_angle_rad
        return float(result) if np.ndim(result) == 0 else result


def bicycle_step(pose: tuple[float, float, float], speed_mps: float, steering: float, dt: float,
                 geometry: Steering) -> tuple[float, float, float]:
    """The pose after `dt` seconds at `speed_mps` (signed) and `steering` (Euler step; keep dt small)."""
    slip, curvature = geometry.slip_and_curvature(steering)
    x, y, heading = pose
    direction = heading - slip
    return (x + speed_mps * math.cos(direction) * dt,
            y + speed_mps * math.sin(direction) * dt,
            heading - speed_mps * curvature * dt)
