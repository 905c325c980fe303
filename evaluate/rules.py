"""What counts as an intervention in the replay: a rule judges where every car driven in lockstep stands.

`evaluate.replay` moves each car one recorded step, then describes where it is against the recorded
path (`CarState`, one entry per car) and asks its rule which cars are out and by how much they are
in. A car out is put back on the path and charged the simulator's penalty. `LineRule` is NVIDIA's
yardstick (DAVE-2, arXiv 1604.07316): how far the car strays from the driver's line. `RoadRule`
(`evaluate.road_rule`, built from the footage) asks instead whether a tyre left the drivable surface.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

import numpy as np

import simulator_config

_REPLAY = simulator_config.load()["replay"]
RULE_NAMES = ("road", "line")  # as a user names them (`evaluate.rule_choice`, training's val_rule); the first the default


@dataclass(frozen=True)
class CarState:
    """Where each car driven in lockstep stands, one entry per car."""

    rows: np.ndarray  # int: the recorded row (absolute index in the Footage) nearest along the path
    along_m: np.ndarray  # metres along the recorded path from that row's recorded pose to the car's nearest path point
    lateral_m: np.ndarray  # signed offset of the car's pose origin right of the recorded path
    heading_rad: np.ndarray  # heading error, car turned right (clockwise from above) of the path positive


class Rule(Protocol):
    name: str  # "road", "line 1 m", "line 2 m" ... shown in reports
    # True when the rule judges by what the recorded frames show (the surface): beyond the cameras' evidence
    # (`evaluate.replay.Evidence`) it cannot judge, and the replay puts the car back uncharged.
    needs_evidence: bool

    def check(self, state: CarState) -> tuple[np.ndarray, np.ndarray]:
        """(out: bool per car, margin_m per car: distance to the limit, negative when out)"""
        ...


@dataclass(frozen=True)
class LineRule:
    """Out when the car is more than `max_offset_m` from the recorded path sideways, or turned more than
    `max_heading_error_deg` off it (a car at full lock swings round long before it strays far)."""

    max_offset_m: float = float(_REPLAY["max_offset_m"])
    max_heading_error_deg: float = float(_REPLAY["max_heading_error_deg"])
    # Geometry alone, as NVIDIA's and every earlier figure here: a line rule judges as far out as it reaches,
    # so its figures stay comparable with the history (and the on-policy rounds keep their 2 m reach).
    needs_evidence = False

    @property
    def name(self) -> str:
        return f"line {self.max_offset_m:g} m"

    def check(self, state: CarState) -> tuple[np.ndarray, np.ndarray]:
        """The margin is the offset's distance to its limit; 0 for a car out by its heading alone (inside the
        offset limit, yet out)."""
        margin = self.max_offset_m - np.abs(np.asarray(state.lateral_m, dtype=float))
        turned = np.abs(np.asarray(state.heading_rad, dtype=float)) > math.radians(self.max_heading_error_deg)
        out = (margin < 0) | turned
        return out, np.where(turned, np.minimum(margin, 0.0), margin)
