"""Vectorised websocket unmasking for eventlet.

Every frame a websocket client sends is XOR-masked with a 4-byte key. eventlet's
`RFC6455WebSocket._apply_mask` undoes it one byte at a time in Python, about 3 ms for one 27 KB
telemetry frame: more than the whole rest of the drive server's work per frame. `install()` swaps
in a NumPy XOR with the same signature and result (tests/test_drive_wsmask.py checks it against the
original), hundreds of times faster.
"""
from __future__ import annotations

import warnings

import numpy as np

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # eventlet announces its maintenance mode on import (a plain Warning)
    from eventlet import websocket

_original_apply_mask = websocket.RFC6455WebSocket._apply_mask


def apply_mask(data: bytes, mask: tuple[int, ...] | list[int], length: int | None = None, offset: int = 0) -> bytes:
    """`data[:length]` XOR the 4-byte `mask`, starting at byte `offset` of the mask cycle."""
    if length is None:
        length = len(data)
    shift = offset % 4
    key = np.frombuffer(bytes(mask[shift:]) + bytes(mask[:shift]), dtype=np.uint8)  # np.roll took 5 µs of 13
    whole = length // 4 * 4
    out = np.empty(length, dtype=np.uint8)
    # Four bytes per step: one uint32 XOR covers a whole turn of the mask.
    out[:whole].view(np.uint32)[:] = np.frombuffer(data, dtype=np.uint32, count=whole // 4) ^ key.view(np.uint32)[0]
    out[whole:] = np.frombuffer(data, dtype=np.uint8, count=length)[whole:] ^ key[: length - whole]
    return out.tobytes()


def install() -> None:
    """Make every eventlet websocket in this process unmask with `apply_mask` (idempotent)."""
    websocket.RFC6455WebSocket._apply_mask = staticmethod(apply_mask)


def original() -> object:
    """eventlet's own byte-by-byte implementation, kept for comparison in tests and benchmarks."""
    return _original_apply_mask
