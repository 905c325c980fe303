"""Udacity's own test as the replay's rule: "No tire may leave the drivable portion of the track surface."

A car is out when one of its four tyres has left the drivable surface that `evaluate.surface` estimates
for the recorded row the car is at: a tyre has left when its centre (the wheel hub, so half its width)
is past an edge. The margin is the smallest distance from a tyre to an edge, negative when out.

The footprint (simulator.json, vehicle.footprint): the Udacity car prefab's wheel hubs
(udacity/self-driving-car-sim, Assets/1_SelfDrivingCar/Prefabs/Car.prefab, WheelHub* transforms):
x = ±1.0 m, front axle z = +1.27 m, rear axle z = −1.6 m, in the car frame the cameras are placed in
(their positions in simulator.json come from the same prefab), which is the pose origin the replay
moves (`base.kinematics`).

The recorded car's own track is always drivable: a replayed car is judged against what the recorded
driver did, never charged for following them where they left the road (`with_recorded_track`); the
estimate itself still marks those rows (docs/surface.md checks them).

Confidence: the estimate says how sure it is of every edge, and the rule judges by the edge wherever
some frame saw one, sure or not: a low confidence marks an edge seen by few frames or by frames that
disagree, and the validation (docs/surface.md) found no better stand-in for it than the estimate
itself. An edge of confidence 0 no frame saw (the estimate only says the road reaches at least that
far): a tyre past it, and past no seen edge, cannot prove a departure, so the car is put back on the
path uncharged, counted as `unseen_edge` with the steps beyond the cameras' evidence (`verdict`).
The confidence is the station's (the lower of its two edges'), so a tyre past a seen edge where the
other side was unseen counts as unseen too. Where nothing is known (no frame saw the ground there, e.g. under a car that has just
started), the recorded car's own tyres are taken as on the road: the edges are put `UNKNOWN_REACH_M`
outside them, so that a car is judged there only by how far it strays from the recorded one.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

import simulator_config
from evaluate.replay import Footage
from evaluate.rules import CarState
from evaluate.surface import Surface, surface_of

UNKNOWN_REACH_M = 1.0


@dataclass(frozen=True)
class Footprint:
    """Where the four tyres are in the car frame: `track_width_m` apart, axles `front_m` and `rear_m` ahead."""

    track_width_m: float
    front_m: float
    rear_m: float

    @classmethod
    def from_config(cls) -> Footprint:
        f = simulator_config.load()["vehicle"]["footprint"]
        return cls(float(f["track_width_m"]), float(f["front_axle_m"]), float(f["rear_axle_m"]))

    @property
    def tyres(self) -> np.ndarray:
        """(4, 2): (right, forward) of the front left, front right, rear left and rear right tyres."""
        half = self.track_width_m / 2
        return np.array([[-half, self.front_m], [half, self.front_m], [-half, self.rear_m], [half, self.rear_m]])

    def placed(self, along_m: np.ndarray, lateral_m: np.ndarray, heading_rad: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(right, forward) of each car's tyres (cars, 4) in the frame of its recorded row, for a car
        `along_m` ahead of that row's pose, `lateral_m` right of it and turned `heading_rad` right."""
        along, lateral, heading = (np.asarray(a, dtype=float)[:, None] for a in (along_m, lateral_m, heading_rad))
        c, s = np.cos(heading), np.sin(heading)
        x, z = self.tyres[:, 0][None], self.tyres[:, 1][None]
        return lateral + x * c + z * s, along + z * c - x * s

    def margins(self, surface: Surface, rows: np.ndarray, along_m: np.ndarray, lateral_m: np.ndarray,
                heading_rad: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(smallest tyre-to-edge distance per car, negative when a tyre is off; per tyre (cars, 4))."""
        per_tyre, _ = self.tyre_margins(surface, rows, along_m, lateral_m, heading_rad)
        return per_tyre.min(axis=1), per_tyre

    def tyre_margins(self, surface: Surface, rows: np.ndarray, along_m: np.ndarray, lateral_m: np.ndarray,
                     heading_rad: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per car and tyre (cars, 4): the distance to the edge (negative when off) and the edge's confidence."""
        x, z = self.placed(along_m, lateral_m, heading_rad)
        rows4 = np.repeat(np.asarray(rows, dtype=int)[:, None], 4, axis=1)
        left, right, confidence = surface.edges_at(rows4, z)
        half = self.track_width_m / 2
        left = np.where(np.isfinite(left), left, -half - UNKNOWN_REACH_M)
        right = np.where(np.isfinite(right), right, half + UNKNOWN_REACH_M)
        return np.minimum(x - left, right - x), confidence


class RoadRule:
    """Out when a tyre leaves the drivable surface estimated for the footage (computed once, then cached)."""

    name = "road"
    needs_evidence = True  # an edge read off a view stretched past the cameras' evidence proves nothing

    def __init__(self, footage: Footage | None, surface: Surface | None = None) -> None:
        """`surface`: the estimate to judge by (default: `footage`'s, from the cache or computed)."""
        self.footprint = Footprint.from_config()
        self.surface = with_recorded_track(surface if surface is not None else surface_of(footage), self.footprint)

    def check(self, state: CarState) -> tuple[np.ndarray, np.ndarray]:
        out, margin, _ = self.verdict(state)
        return out, margin

    def verdict(self, state: CarState) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(out: a tyre past an edge some frame saw; the smallest margin; unseen: a tyre past an edge no
        frame saw (confidence 0) and none past a seen one, which proves nothing)."""
        per_tyre, confidence = self.footprint.tyre_margins(self.surface, state.rows, state.along_m, state.lateral_m,
                                                           state.heading_rad)
        off = per_tyre < 0
        seen_off = (off & (confidence > 0)).any(axis=1)
        return seen_off, per_tyre.min(axis=1), off.any(axis=1) & ~seen_off


def with_recorded_track(surface: Surface, footprint: Footprint) -> Surface:
    """The surface with the recorded car's own track added: at every row and station at least the
    footprint's width about the recorded path. Where the recorded driver left the surface (the windows
    exit, the jungle's corner cuts), a replayed car is not charged for following them, nor again and
    again after being put back on their path; it is charged for straying further off than they did."""
    half = footprint.track_width_m / 2
    return Surface(surface.stations_m, np.fmin(surface.left_m, -half), np.fmax(surface.right_m, half), surface.confidence)
