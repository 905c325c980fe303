"""The Socket.IO endpoint the simulator dials: python-socketio 4 + python-engineio 3.13 on eventlet.

That stack is the one that works with the simulator's old client (docs/architecture.md, "How a frame
flows"): it accepts `EIO=4` websockets that never send a Socket.IO CONNECT packet. Handlers run inline in the
connection's receive loop (`async_handlers=False`): one frame's work is about a millisecond, a
greenlet per message would only add scheduling, and the simulator's concurrent telemetry loops are
then served one after the other, never interleaved.

Message size: the simulator's frames are ~27 KB. A websocket message up to `max_message_bytes` is
read and answered (an oversized image gets the safe reply from `Pilot`), because a message that is
not answered stops the simulator's loop for good. Beyond `max_message_bytes`, counted over all the
fragments of a message (`drive.wslimit`), the transport closes the connection (websocket status
1009); the simulator then reconnects and starts new loops.

A packet Socket.IO cannot parse (broken JSON, an unknown packet type) is one warning line
(`OneLineErrors`), not engineio's traceback per packet.
"""
from __future__ import annotations

import functools
import logging
import os
import signal
import socket
import warnings
from typing import Callable

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # eventlet announces its maintenance mode on import (a plain Warning)
    import eventlet
    import eventlet.greenio
    import eventlet.wsgi
    from eventlet.green import socket as green_socket
import socketio

from drive import wslimit, wsmask
from drive.pilot import Pilot
from drive.telemetry import DEFAULT_MAX_MESSAGE_BYTES

log = logging.getLogger(__name__)


def create_app(pilot: Pilot, max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES) -> socketio.WSGIApp:
    """The WSGI app: `telemetry` in, one `steer` or `manual` out, to the sender only."""
    wsmask.install()
    wslimit.install()
    # python-socketio/engineio log every packet, image included, at INFO: far too much on a hot path.
    for name in ("socketio", "engineio"):
        logging.getLogger(name).setLevel(logging.WARNING)
    engineio_log = logging.getLogger("engineio.server")
    if not any(isinstance(f, OneLineErrors) for f in engineio_log.filters):
        engineio_log.addFilter(OneLineErrors())
    sio = socketio.Server(async_mode="eventlet", async_handlers=False, logger=False, engineio_logger=False,
                          max_http_buffer_size=max_message_bytes)
    # engineio 3 bounds only long-polling bodies by max_http_buffer_size; websocket frames are
    # bounded by eventlet's max_frame_length, set here on this server's copy of the driver table.
    eio = sio.eio
    eio._async = dict(eio._async, websocket=functools.partial(eio._async["websocket"],
                                                              max_frame_length=max_message_bytes))

    @sio.on("connect")
    def connect(sid: str, environ: dict) -> None:
        log.info("simulator connected (%s from %s)", sid, environ.get("REMOTE_ADDR", "?"))
        if pilot.dashboard:
            pilot.dashboard.simulator_connected(True)

    @sio.on("disconnect")
    def disconnect(sid: str) -> None:
        log.info("simulator disconnected (%s)", sid)
        if pilot.dashboard:
            pilot.dashboard.simulator_connected(False)

    @sio.on("telemetry")
    def telemetry(sid: str, data: object = None, *extra: object) -> None:
        # Extra arguments are ignored rather than left to raise a TypeError that would close the connection.
        event, payload = pilot.on_telemetry(data)
        sio.emit(event, payload, room=sid)

    return socketio.WSGIApp(sio)


class OneLineErrors(logging.Filter):
    """engineio logs an exception in a packet handler (a packet that does not parse) with its traceback,
    once per packet: a client sending garbage would flood the console. Keep one warning line instead."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and record.exc_info[1] is not None:
            error = record.exc_info[1]
            record.msg, record.args = "malformed packet ignored (%s: %.200s)", (type(error).__name__, error)
            record.levelno, record.levelname = logging.WARNING, "WARNING"
            record.exc_info, record.exc_text = None, None
        return True


def serve(app: socketio.WSGIApp, sock: socket.socket,
          stop_on: tuple[signal.Signals, ...] = (signal.SIGINT, signal.SIGTERM),
          dashboard: tuple[socket.socket, Callable] | None = None) -> None:
    """Serve on the listening socket `sock` (`drive.listening.listen`) until one of `stop_on` arrives
    (Ctrl-C, SIGTERM), then return normally. `dashboard`: a second listening socket and the WSGI app
    served on it by the same hub (`drive.dashboard`).

    A KeyboardInterrupt raised by a signal handler lands in whichever greenlet happens to run and
    can be swallowed there, so the handler only writes a byte to a socket pair the main greenlet
    waits on (the self-pipe pattern), and the main greenlet stops the server.
    """
    wake, waker = green_socket.socketpair()
    server = eventlet.spawn(eventlet.wsgi.server, eventlet.greenio.GreenSocket(sock), app, log_output=False)
    server.link(lambda _: os.write(waker.fileno(), b"\0"))  # the server ending on its own also wakes us
    page = None
    if dashboard:
        page = eventlet.spawn(eventlet.wsgi.server, eventlet.greenio.GreenSocket(dashboard[0]), dashboard[1],
                              log_output=False)
    previous = {sig: signal.signal(sig, lambda *_: os.write(waker.fileno(), b"\0")) for sig in stop_on}
    try:
        wake.recv(1)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        server.kill()
        if page:
            page.kill()
        wake.close()
        waker.close()
