"""The vectorised websocket unmasking gives exactly eventlet's result, and install() puts it in place."""
from __future__ import annotations

import os

import pytest
from eventlet import websocket

from drive import wsmask


@pytest.mark.parametrize("length", [0, 1, 3, 4, 5, 126, 27_001, 65_536])
@pytest.mark.parametrize("offset", [0, 1, 2, 3, 6])
def test_apply_mask_equals_eventlets_byte_by_byte_version(length: int, offset: int) -> None:
    data = os.urandom(length + 7)  # longer than `length`: only the first `length` bytes count
    mask = (0x12, 0xAB, 0x00, 0xFF)
    assert wsmask.apply_mask(data, mask, length=length, offset=offset) == \
        wsmask.original()(data, mask, length=length, offset=offset)


def test_apply_mask_defaults_to_whole_data_and_takes_list_masks() -> None:
    data = os.urandom(1001)
    mask = [7, 8, 9, 10]  # eventlet builds client masks as lists
    assert wsmask.apply_mask(data, mask) == wsmask.original()(data, mask)


def test_install_replaces_eventlets_unmasking_for_every_websocket(monkeypatch) -> None:
    # Restored afterwards (the raw staticmethod, not the function the class hands out): later tests get eventlet as it was.
    monkeypatch.setattr(websocket.RFC6455WebSocket, "_apply_mask", websocket.RFC6455WebSocket.__dict__["_apply_mask"])
    wsmask.install()
    data = os.urandom(100)
    assert websocket.RFC6455WebSocket._apply_mask is wsmask.apply_mask
    assert websocket.RFC6455WebSocket._apply_mask(data, (1, 2, 3, 4), None, 0) == \
        wsmask.original()(data, (1, 2, 3, 4))
