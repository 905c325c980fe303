"""A bound on a whole websocket message, fragments together, for eventlet.

eventlet checks `max_frame_length` against each frame's header only, and a message may come in any
number of fragments (frames): four 10 MB fragments of one 40 MB message each pass a 16 MB limit and
are stacked in memory whole. `install()` makes a message count what it has received across its
fragments and fail the connection (status 1009, "message too big") as soon as the total passes the
limit, so at most the limit plus one socket read is ever held for a message.

A large message also yields to the other connections after every megabyte it reads: eventlet switches
greenlets only when a read would block, and a client sending megabytes over loopback never lets it
block, so every other connection would wait until the whole message was read.
"""
from __future__ import annotations

import warnings

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # eventlet announces its maintenance mode on import (a plain Warning)
    import eventlet
    from eventlet import websocket

MESSAGE_TOO_BIG = 1009  # RFC 6455 close status
YIELD_EVERY = 1 << 20  # bytes of one message read between yields; a camera frame is ~27 KB and never yields
_Message = websocket.RFC6455WebSocket.Message
_original_push = _Message.push


def bounded_push(self: _Message, data: bytes, final: bool = False) -> None:
    """`Message.push`, failing the connection once the message's fragments together pass its limit."""
    self.received_bytes = getattr(self, "received_bytes", 0) + len(data)
    if self.received_bytes > self.max_frame_length:
        raise websocket.FailedConnectionError(
            MESSAGE_TOO_BIG, f"Incoming message is above the length limit of {self.max_frame_length} bytes.")
    _original_push(self, data, final)
    if self.received_bytes >= getattr(self, "next_yield", YIELD_EVERY):
        self.next_yield = self.received_bytes + YIELD_EVERY
        eventlet.sleep(0)


def install() -> None:
    """Bound every eventlet websocket message in this process by its connection's limit (idempotent)."""
    _Message.push = bounded_push


def original() -> object:
    """eventlet's own `Message.push`, which bounds nothing, kept for comparison in tests."""
    return _original_push
