"""The drive server's socket: bound before the model loads, listening only once the server can answer.

Binding first reports a port or host that cannot be used at once, with its true cause, instead of
after seconds of loading; the port is then ours. Listening last keeps the simulator's connection
attempts refused (it keeps dialling) rather than queued unanswered while the model loads.
"""
from __future__ import annotations

import errno
import socket
import sys

import simulator_config

BACKLOG = 50  # eventlet.listen's default
SIMULATOR = simulator_config.connection()  # where the simulator dials: its host and port are fixed


class ServerError(OSError):
    """The server cannot listen; the message (one line) says why and what to do."""


def bind(host: str, port: int, option: str = "--port") -> socket.socket:
    """A TCP socket bound to host:port (IPv4, as the simulator dials), not yet listening; or ServerError
    whose advice names `option`, the command-line option that chose the port."""
    try:
        address = socket.getaddrinfo(host, port, socket.AF_INET, socket.SOCK_STREAM)[0][4]
    except (socket.gaierror, UnicodeError) as e:
        raise ServerError(f"--host {host} is not an IPv4 address or host name this machine knows ({e}): "
                          f"use {SIMULATOR['host']} (where the simulator dials) or 0.0.0.0 (every interface)") from None
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        if not sys.platform.startswith("win"):  # on Windows SO_REUSEADDR would let a second server share the port
            # Not SO_REUSEPORT (eventlet's default): with it a second server on the same port would
            # start silently and the kernel would split the simulator's connections between the two.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
    except OSError as e:
        sock.close()
        raise ServerError(f"cannot listen on {host}:{port} ({e.strerror or e}): {_advice(e, host, port, option)}") from None
    return sock


def listen(sock: socket.socket, option: str = "--port") -> None:
    """Start accepting connections on a socket from `bind`; ServerError if another server got there first."""
    try:
        sock.listen(BACKLOG)
    except OSError as e:
        host, port = sock.getsockname()
        raise ServerError(f"cannot listen on {host}:{port} ({e.strerror or e}): {_advice(e, host, port, option)}") from None


def _advice(error: OSError, host: str, port: int, option: str = "--port") -> str:
    if error.errno == errno.EADDRINUSE:
        return f"another program (perhaps another drive server) listens there; stop it or pass another {option}"
    if isinstance(error, PermissionError):
        if port < 1024:
            return (f"ports below 1024 need administrator rights; pass {option} 1024 or above "
                    f"(the simulator dials {SIMULATOR['port']})")
        return f"the system does not let this program listen there; pass another {option}"
    if error.errno == errno.EADDRNOTAVAIL:
        return (f"{host} is not an address of this machine; use {SIMULATOR['host']} (where the simulator dials) "
                "or 0.0.0.0")
    return "pass another --host or --port"
