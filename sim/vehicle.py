"""The car: a kinematic bicycle model with throttle, brake and a fixed time step.

Steering is normalised −1..1 (× the maximum wheel angle, positive turns right), throttle −1..1
(negative brakes, then reverses, as in the simulator), brake 0..1. Speeds are in m/s inside, mph
at the edges (telemetry and logs). The model has no randomness: the same inputs give the same path.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import simulator_config
from base.kinematics import MPS_PER_MPH, Steering, bicycle_step
from sim.pose import Pose


@dataclass(frozen=True)
class VehicleParams:
    steering: Steering
    top_speed_mps: float
    reverse_top_speed_mps: float
    acceleration_mps2: float
    brake_deceleration_mps2: float
    coast_deceleration_mps2: float
    time_step_s: float

    @classmethod
    def from_config(cls) -> VehicleParams:
        v = simulator_config.load()["vehicle"]
        return cls(
            steering=Steering.from_config(),
            top_speed_mps=float(v["top_speed_mph"]) * MPS_PER_MPH,
            reverse_top_speed_mps=float(v["reverse_top_speed_mph"]) * MPS_PER_MPH,
            acceleration_mps2=float(v["acceleration_mps2"]),
            brake_deceleration_mps2=float(v["brake_deceleration_mps2"]),
            coast_deceleration_mps2=float(v["coast_deceleration_mps2"]),
            time_step_s=1.0 / float(v["physics_hz"]),
        )


class Vehicle:
    def __init__(self, pose: Pose, speed_mps: float = 0.0, params: VehicleParams | None = None) -> None:
        self.params = params or VehicleParams.from_config()
        self.pose = pose
        self.speed_mps = speed_mps  # signed: negative when reversing
        self.steering = 0.0  # the wheel angle now, normalised
        self.throttle = 0.0  # the accelerator input now

    @property
    def speed_mph(self) -> float:
        """Speed as the simulator reports it: the magnitude, in mph."""
        return abs(self.speed_mps) / MPS_PER_MPH

    @property
    def steering_deg(self) -> float:
        return self.steering * math.degrees(self.params.steering.max_wheel_angle_rad)

    def reset(self, pose: tuple[float, float, float]) -> None:
        """Put the car at `pose` (x, y, heading), keeping its speed."""
        self.pose = Pose(*pose)

    def step(self, steering: float, throttle: float, brake: float = 0.0) -> None:
        """Advance one time step with these inputs (clamped to their ranges)."""
        p = self.params
        dt = p.time_step_s
        self.steering = p.steering.wheel_after(self.steering, steering, dt)
        self.throttle = min(1.0, max(-1.0, throttle))
        brake = min(1.0, max(0.0, brake))
        v = self.speed_mps
        if self.throttle >= 0 or v <= 0:
            v += self.throttle * p.acceleration_mps2 * dt
        else:  # a negative throttle brakes first and reverses only once the car has stopped
            v = max(0.0, v + self.throttle * p.brake_deceleration_mps2 * dt)
        slow = (brake * p.brake_deceleration_mps2 + p.coast_deceleration_mps2) * dt  # rolling resistance and drag
        v = math.copysign(max(0.0, abs(v) - slow), v)
        self.speed_mps = v = min(p.top_speed_mps, max(-p.reverse_top_speed_mps, v))
        self.pose = Pose(*bicycle_step(self.pose, v, self.steering, dt, p.steering))
