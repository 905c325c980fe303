"""Test tracks for the headless simulator's tests, written to a temporary folder."""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

LINE_COLOUR = [255, 0, 255]  # magenta edge lines: no other pixel of a test frame has this colour
STRAIGHT_M = 200.0
RADIUS_M = 50.0


def oval_points() -> list[list[float]]:
    """A stadium: the bottom straight runs from (0, 0) east to (200, 0); the loop turns left."""
    pts = [[x, 0.0] for x in range(0, int(STRAIGHT_M), 10)]
    for k in range(16):
        a = -math.pi / 2 + math.pi * k / 16
        pts.append([STRAIGHT_M + RADIUS_M * math.cos(a), RADIUS_M + RADIUS_M * math.sin(a)])
    pts += [[x, 2 * RADIUS_M] for x in range(int(STRAIGHT_M), 0, -10)]
    for k in range(16):
        a = math.pi / 2 + math.pi * k / 16
        pts.append([RADIUS_M * math.cos(a), RADIUS_M + RADIUS_M * math.sin(a)])
    return [[round(x, 3), round(y, 3)] for x, y in pts]


def track_dict() -> dict[str, Any]:
    return {
        "name": "oval",
        "road_width_m": 8.0,
        "centre_line_m": oval_points(),
        "markings": {"edge_line_colour": LINE_COLOUR, "edge_line_width_m": 0.3, "edge_line_inset_m": 0.3,
                     "curbs": "none", "curb_width_m": 0.8, "curb_stripe_m": 1.0,
                     "curb_colours": [[200, 40, 40], [230, 230, 230]]},
        "colours": {"road": [100, 100, 100], "shoulder": [90, 80, 60], "ground": [40, 140, 40],
                    "ground_alt": [50, 120, 40], "sky_top": [40, 80, 200], "sky_horizon": [150, 180, 230],
                    "hills": [90, 110, 90], "haze": [170, 190, 200], "water": [40, 80, 140]},
        "texture_seed": 3,
        "scenery": {"hill_height_deg": 0.0, "water": [], "objects": []},
    }


def write_track(folder: Path, name: str = "oval", **changes: Any) -> Path:
    """A valid track file, with top-level keys replaced by `changes`."""
    data = track_dict() | changes
    path = folder / f"{name}.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path
