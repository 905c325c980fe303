"""Settings of the simulator side: connection, cameras, vehicle, recording, tracks.

Everything that describes the simulator (real or headless) is read from the JSON files in this
folder, so the drive server, the headless simulator and the training package agree on one set of
numbers.
"""
from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

CONFIG_DIR = Path(__file__).resolve().parent
TRACKS_DIR = CONFIG_DIR / "tracks"


@lru_cache(maxsize=None)
def load() -> dict[str, Any]:
    """The simulator settings from `simulator.json` (cached; treat as read-only)."""
    with open(CONFIG_DIR / "simulator.json", encoding="utf-8") as f:
        return json.load(f)


def connection() -> dict[str, Any]:
    return load()["connection"]


def image_size() -> tuple[int, int]:
    """(width, height) of every camera frame."""
    image = load()["image"]
    return image["width"], image["height"]


def max_wheel_angle_deg() -> float:
    return float(load()["vehicle"]["max_wheel_angle_deg"])
