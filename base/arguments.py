"""Argument types shared by the command lines of the drive server and the headless simulator."""
from __future__ import annotations

import argparse


def port_number(text: str) -> int:
    """argparse type: a TCP port, 1–65535 (0, "any free port", would leave the simulator nothing to dial)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, not {text!r}") from None
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be a port from 1 to 65535, not {value}")
    return value
