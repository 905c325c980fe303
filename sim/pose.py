"""Where the car is: the one coordinate convention every part of the simulator shares.

World: x east, y north, metres on flat ground. Heading: radians counter-clockwise from +x.
Car frame (as in the simulator's car prefab): x right, y up, z forward, origin on the ground.
"""
from __future__ import annotations

import math
from typing import NamedTuple


class Pose(NamedTuple):
    x: float
    y: float
    heading: float

    def forward(self) -> tuple[float, float]:
        return math.cos(self.heading), math.sin(self.heading)

    def right(self) -> tuple[float, float]:
        return math.sin(self.heading), -math.cos(self.heading)

    def to_world(self, right_m: float, forward_m: float) -> tuple[float, float]:
        """The world position of the car-frame ground point (x = right_m, z = forward_m)."""
        (fx, fy), (rx, ry) = self.forward(), self.right()
        return self.x + right_m * rx + forward_m * fx, self.y + right_m * ry + forward_m * fy
