"""Scoring a drive the way NVIDIA scored theirs (Bojarski et al., 2016).

An intervention is counted whenever the car leaves the road (|offset from the centre line| > half
the road width); the car is then put back on the centre line, heading along it, at the same speed.
Each intervention is charged `headless.intervention_penalty_s` (6 s, NVIDIA's figure for a human
taking over), so autonomy = (1 − interventions × 6 s / elapsed simulated s) × 100 — it goes below
zero when the car leaves the road more than once every 6 s.

The headless simulator (`sim.drive`) keeps the score with it; the track and the car are described
here only by what scoring asks of them, so this layer needs nothing of the simulator's.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Protocol

from evaluate.autonomy import autonomy_percent


class Where(Protocol):
    s: float  # metres along the centre line
    offset: float  # metres from it, signed


class Track(Protocol):
    name: str
    length_m: float
    half_width_m: float

    def locate(self, x: float, y: float) -> Where: ...

    def pose_at(self, s: float) -> tuple[float, float, float]: ...


class Position(Protocol):
    x: float
    y: float


class Vehicle(Protocol):
    pose: Position
    speed_mph: float

    def reset(self, pose: tuple[float, float, float]) -> None: ...


@dataclass
class Scorecard:
    track: Track
    s_last: float
    period_s: float  # simulated time between two observations
    frames: int = 0
    progress_m: float = 0.0  # forward along the centre line, across the start line too
    abs_offset_sum: float = 0.0
    max_abs_offset_m: float = 0.0
    speed_sum: float = 0.0
    path: list[tuple[float, float]] = field(default_factory=list)  # car positions, NaN where it was put back
    interventions: list[tuple[float, float, float]] = field(default_factory=list)  # (x, y, time)

    @property
    def elapsed_s(self) -> float:
        return self.frames * self.period_s

    def observe(self, vehicle: Vehicle) -> None:
        """Score the car after one control period; intervene if it has left the road."""
        where = self.track.locate(vehicle.pose.x, vehicle.pose.y)
        length = self.track.length_m
        self.progress_m += (where.s - self.s_last + length / 2) % length - length / 2
        self.s_last = where.s
        self.frames += 1
        self.abs_offset_sum += abs(where.offset)
        self.max_abs_offset_m = max(self.max_abs_offset_m, abs(where.offset))
        self.speed_sum += vehicle.speed_mph
        self.path.append((vehicle.pose.x, vehicle.pose.y))
        if abs(where.offset) > self.track.half_width_m:
            self.interventions.append((vehicle.pose.x, vehicle.pose.y, self.elapsed_s))
            vehicle.reset(self.track.pose_at(where.s))
            self.path.append((math.nan, math.nan))  # the map shows a break, not a jump, where the car was moved

    @property
    def laps(self) -> float:
        return self.progress_m / self.track.length_m

    def report(self) -> dict:
        elapsed = max(self.elapsed_s, 1e-9)
        n = max(self.frames, 1)
        return {
            "track": self.track.name,
            "autonomy_percent": round(autonomy_percent(len(self.interventions), elapsed), 2),
            "interventions": len(self.interventions),
            "laps_completed": max(0, math.floor(self.laps + 1e-9)),
            "distance_m": round(self.progress_m, 1),
            "mean_abs_offset_m": round(self.abs_offset_sum / n, 3),
            "max_abs_offset_m": round(self.max_abs_offset_m, 3),
            "mean_speed_mph": round(self.speed_sum / n, 2),
            "frames": self.frames,
            "elapsed_s": round(self.elapsed_s, 2),
            "intervention_times_s": [round(t, 2) for _, _, t in self.interventions],
        }
