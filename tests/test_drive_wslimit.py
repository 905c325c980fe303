"""A websocket message is bounded as a whole, across its fragments, not only frame by frame."""
from __future__ import annotations

import socket
import struct

import pytest
from eventlet import websocket

from drive import wslimit

LIMIT = 1000


def client_frame(payload: bytes, opcode: int, final: bool) -> bytes:
    """One masked client frame (RFC 6455 §5.2); opcode 1 starts a text message, 0 continues it."""
    mask = b"\x01\x02\x03\x04"
    length = bytes([0x80 | len(payload)]) if len(payload) < 126 else bytes([0x80 | 126]) + struct.pack("!H", len(payload))
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return bytes([(0x80 if final else 0) | opcode]) + length + mask + masked


def fragments(size: int, count: int) -> bytes:
    return b"".join(client_frame(b"x" * size, 1 if i == 0 else 0, final=i == count - 1) for i in range(count))


@pytest.fixture
def connection(monkeypatch):
    """A server-side eventlet websocket with a LIMIT-byte bound, and the client's end of its socket."""
    monkeypatch.setattr(websocket.RFC6455WebSocket.Message, "push", wslimit.original())  # restored afterwards
    wslimit.install()
    server, client = socket.socketpair()
    with server, client:
        yield websocket.RFC6455WebSocket(server, {}, max_frame_length=LIMIT), client


def test_a_message_whose_fragments_pass_the_limit_together_closes_the_connection_with_1009(connection) -> None:
    ws, client = connection
    client.sendall(fragments(400, 4))  # each fragment under the limit, the message 1600 bytes
    assert ws.wait() is None  # no message delivered
    close = client.recv(200)
    assert close[0] == 0x88 and struct.unpack("!H", close[2:4])[0] == wslimit.MESSAGE_TOO_BIG


def test_a_fragmented_message_within_the_limit_arrives_whole(connection) -> None:
    ws, client = connection
    client.sendall(fragments(300, 3) + fragments(100, 1))
    assert ws.wait() == "x" * 900
    assert ws.wait() == "x" * 100  # the count starts again with every message
