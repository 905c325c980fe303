"""The drive server's socket: each way a port or host can be unusable gets its own cause and advice."""
from __future__ import annotations

import errno
import socket

import pytest

from drive.listening import ServerError, bind, listen


def test_a_busy_port_names_another_program(free_port):
    with socket.create_server(("127.0.0.1", free_port)):
        with pytest.raises(ServerError, match="Address already in use.*another program .*pass another --port"):
            bind("127.0.0.1", free_port)


def test_a_port_that_needs_root_says_so_not_that_another_server_runs(monkeypatch):
    def refused(self, address):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(socket.socket, "bind", refused)  # this machine's tests may run as root
    with pytest.raises(ServerError) as caught:
        bind("127.0.0.1", 80)
    message = str(caught.value)
    assert "(Permission denied): ports below 1024 need administrator rights; pass --port 1024 or above" in message
    assert "another" not in message


def test_an_address_of_another_machine_is_named_as_such():
    with pytest.raises(ServerError, match="192.0.2.1 is not an address of this machine; use 127.0.0.1"):
        bind("192.0.2.1", 4567)  # TEST-NET-1: never assigned to a machine


def test_a_host_name_that_does_not_resolve():
    with pytest.raises(ServerError, match="--host no-such-host.invalid is not an IPv4 address or host name"):
        bind("no-such-host.invalid", 4567)


def test_bound_is_refused_until_listening_then_accepted(free_port):
    sock = bind("127.0.0.1", free_port)
    with sock:
        with pytest.raises(ConnectionRefusedError):  # what the simulator meets while the model loads: it redials
            socket.create_connection(("127.0.0.1", free_port), timeout=5).close()
        listen(sock)
        socket.create_connection(("127.0.0.1", free_port), timeout=5).close()


def test_a_second_server_on_the_port_is_refused_when_it_starts_listening(free_port):
    with bind("127.0.0.1", free_port) as first:
        listen(first)
        with pytest.raises(ServerError, match="another program"):
            with bind("127.0.0.1", free_port) as second:
                listen(second)
