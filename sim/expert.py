"""The scripted driver that records training laps: pure pursuit on the centre line.

Speed: a target that wanders slowly within `expert.target_speed_mph` along the track (so the data
covers a range of speeds), lowered before curves to keep the lateral acceleration in bounds.

Recovery episodes (`recovery=True`): every few seconds the car is steered to drift toward one edge
(to a random depth, up to near the edge), then the expert brings it back. The LABEL of every
sample, drift included, is what the expert would steer in that state (pure pursuit on the centre
line), never the drift command: frames of a car heading for the edge are labelled with the
correction that brings it back, which is what a learner needs to see.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

import simulator_config
from sim.tracks import Track
from sim.vehicle import MPS_PER_MPH, Vehicle

RECOVERED_OFFSET_M = 0.3  # a recovery ends once the car is this close to the centre line ...
RECOVERED_HEADING_RAD = math.radians(3)  # ... and this well aligned with it
RECOVERY_TIMEOUT_S = 6.0


@dataclass(frozen=True)
class ExpertControls:
    """The expert's wheel and pedals for one step, and the label recorded for it."""

    steering: float  # what the car is given
    throttle: float
    brake: float
    label: float  # the expert's steering in this state: what is recorded


class Expert:
    def __init__(self, track: Track, seed: int = 0, recovery: bool = False) -> None:
        self.track = track
        self.cfg = simulator_config.load()["expert"]
        self.rng = np.random.default_rng(seed)
        self.recovery = recovery
        lo, hi = self.cfg["target_speed_mph"]
        # A slowly wandering target speed: a few sine waves along the track, scaled into [lo, hi].
        waves = [(self.rng.uniform(0, 2 * math.pi), k) for k in (1, 2, 3)]
        s = np.linspace(0, 2 * math.pi, 512, endpoint=False)
        raw = sum(math.sqrt(1 / k) * np.sin(k * s * track.length_m / 400 + phase) for phase, k in waves)
        self.speed_profile = lo + (hi - lo) * (raw - raw.min()) / (raw.max() - raw.min())
        self.phase = "cruise"
        self.timer = self._interval()
        self.drift_offset = 0.0
        self.drift_lookahead = 1.0

    def _interval(self) -> float:
        return float(self.rng.uniform(*self.cfg["recovery_interval_s"]))

    def target_speed_mps(self, s: float, speed_mps: float) -> float:
        profile = self.speed_profile[int(s / self.track.length_m * len(self.speed_profile)) % len(self.speed_profile)]
        # Look as far ahead as it takes to brake gently (2 m/s²) to any curve's speed.
        ahead = 10.0 + speed_mps**2 / 4.0
        curvature = self.track.curvature_ahead(s, ahead)
        curve_limit = math.sqrt(self.cfg["lateral_acceleration_mps2"] / max(curvature, 1e-6))
        return min(profile * MPS_PER_MPH, curve_limit)

    def pursue(self, vehicle: Vehicle, offset: float = 0.0, lookahead_scale: float = 1.0) -> float:
        """Pure-pursuit steering (normalised) toward the line `offset` metres right of the centre."""
        p = vehicle.params.steering
        lookahead = lookahead_scale * max(self.cfg["lookahead_min_m"], self.cfg["lookahead_s"] * abs(vehicle.speed_mps))
        # Pure pursuit steers the rear axle, half a wheelbase behind the car's centre.
        rear_x, rear_y = vehicle.pose.to_world(0.0, -p.wheelbase_m / 2)
        here = self.track.locate(rear_x, rear_y)
        tx, ty, _ = self.track.pose_at(here.s + lookahead, offset)
        dx, dy = tx - rear_x, ty - rear_y
        alpha = math.atan2(dy, dx) - vehicle.pose.heading
        distance = math.hypot(dx, dy)
        delta = math.atan2(2 * p.wheelbase_m * math.sin(alpha), distance)  # positive: target to the left
        return max(-1.0, min(1.0, -delta / p.max_wheel_angle_rad))

    def command(self, vehicle: Vehicle) -> ExpertControls:
        """What to do for the next time step."""
        dt = vehicle.params.time_step_s
        where = self.track.locate(vehicle.pose.x, vehicle.pose.y)
        label = self.pursue(vehicle)
        steering = label
        if self.recovery:
            steering = self._recovery_step(vehicle, where.offset, where.heading, label, dt)
        target = self.target_speed_mps(where.s, vehicle.speed_mps)
        error_mph = (target - vehicle.speed_mps) / MPS_PER_MPH
        # Feed-forward holds the speed against drag; the proportional part closes the gap.
        hold = vehicle.params.coast_deceleration_mps2 / vehicle.params.acceleration_mps2
        throttle = min(1.0, max(0.0, hold + self.cfg["speed_gain_per_mph"] * error_mph))
        brake = min(1.0, max(0.0, -0.1 * (error_mph + 1.0)))
        return ExpertControls(steering=steering, throttle=0.0 if brake > 0 else throttle, brake=brake, label=label)

    def _recovery_step(self, vehicle: Vehicle, offset: float, track_heading: float, label: float, dt: float) -> float:
        self.timer -= dt
        if self.phase == "cruise":
            if self.timer > 0:
                return label
            lo, hi = self.cfg["recovery_depth_of_half_width"]
            side = float(self.rng.choice([-1.0, 1.0]))
            self.drift_offset = side * float(self.rng.uniform(lo, hi)) * self.track.half_width_m
            self.drift_lookahead = float(self.rng.uniform(1.0, 2.0))
            self.phase, self.timer = "drift", float(self.cfg["recovery_drift_s"])
        if self.phase == "drift":
            reached = offset * math.copysign(1.0, self.drift_offset) >= 0.95 * abs(self.drift_offset)
            if not reached and self.timer > 0:
                return self.pursue(vehicle, self.drift_offset, self.drift_lookahead)
            self.phase, self.timer = "recover", RECOVERY_TIMEOUT_S
        heading_error = abs((vehicle.pose.heading - track_heading + math.pi) % (2 * math.pi) - math.pi)
        if self.timer <= 0 or (abs(offset) < RECOVERED_OFFSET_M and heading_error < RECOVERED_HEADING_RAD):
            self.phase, self.timer = "cruise", self._interval()
        return label
