"""The argument types of the command lines (the drive server, the headless simulator, the replay), each checked
without importing anything slow."""
from __future__ import annotations

import argparse
from pathlib import Path

from simulator_config import TRACKS_DIR


def port_number(text: str) -> int:
    """argparse type: a TCP port, 1–65535 (0, "any free port", would leave the simulator nothing to dial)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, not {text!r}") from None
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be a port from 1 to 65535, not {value}")
    return value


def positive_float(text: str) -> float:
    """argparse type: a number above zero (laps, seconds)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number, not {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be positive, not {text}")
    return value


def track_name(text: str) -> str:
    """argparse type: a track name from simulator_config/tracks/ or the path of a track JSON file.

    Only whether it names a file is checked here, in milliseconds; `sim.tracks.load_track` (which
    needs SciPy, a second to import) checks the file itself once the arguments are all good.
    """
    names = track_names()
    if text in names or Path(text).expanduser().is_file():
        return text
    if text.endswith(".json") or "/" in text or "\\" in text:
        raise argparse.ArgumentTypeError(f"track file {text} does not exist: give an existing JSON file "
                                         f"or a track name ({', '.join(names)})")
    raise argparse.ArgumentTypeError(f"unknown track {text!r}: use one of {', '.join(names)} or the path "
                                     "of a track JSON file")


def track_names() -> list[str]:
    """The tracks that ship with the project, by name."""
    return sorted(p.stem for p in TRACKS_DIR.glob("*.json"))
