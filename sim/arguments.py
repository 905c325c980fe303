"""Argument types shared by the simulator's command lines."""
from __future__ import annotations

import argparse


def positive_float(text: str) -> float:
    """argparse type: a number above zero (laps, seconds)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number, not {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be positive, not {text}")
    return value
