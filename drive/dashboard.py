"""The drive server's live view in the browser: `python drive.py MODEL --dashboard [PORT]`.

A second WSGI app, served on its own port by the same eventlet hub as the simulator's socket, with
plain HTTP only (no Socket.IO: the simulator's pinned python-socketio 4 would need a JavaScript
client of its protocol version, which would have to ship too):

- `/` and `/dashboard.js`: the page and its script, from `drive/web/` (nothing is fetched elsewhere);
- `/events`: Server-Sent Events, at most `EVENTS_HZ` a second, each with the latest numbers and every
  (time, steering, throttle, speed) sample since the previous event, so the page's plot misses none;
- `/camera.jpg`: the latest frame the model got, the JPEG as the simulator sent it (no work);
- `/saliency.jpg`: the rows the model sees with VisualBackProp drawn over them (`evaluate.saliency`).

Driving comes first. Per frame the drive loop only stores references and appends one tuple to a
bounded deque (`Dashboard.frame`, about a microsecond); everything else happens when the page asks,
between frames. Nothing queues: every request gets the latest state, the page asks for the next
image only once the last one arrived, and saliency is computed at most `SALIENCY_HZ` times a second
in a worker thread (`eventlet.tpool`, one ONNX Runtime thread, which releases the GIL), so the hub
keeps answering the simulator meanwhile; a request that comes sooner gets the last image again.
"""
from __future__ import annotations

import collections
import json
import logging
import statistics
import time
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from base.frames import CROP_BOTTOM, CROP_TOP
from drive.controller import TOP_SPEED_MPH

log = logging.getLogger(__name__)

DEFAULT_PORT = 4568  # beside the simulator's 4567
HOST = "127.0.0.1"  # the page shows the camera: this machine only
EVENTS_HZ = 20.0
SALIENCY_HZ = 10.0
CAMERA_HZ = 15.0  # how often the page asks for the camera image
PLOT_WINDOW_S = 10.0  # the page's steering and throttle plot
HISTORY = 4096  # samples kept for the page's plot: over 10 s even at the simulator's fastest
STATS_WINDOW_S = 1.0  # frames per second and latency median over this much time
# What the page needs to know, sent with every state so that no number is written twice.
PAGE_CONFIG = {"camera_hz": CAMERA_HZ, "saliency_hz": SALIENCY_HZ, "window_s": PLOT_WINDOW_S,
               "top_mph": TOP_SPEED_MPH}
SALIENCY_SCALE = 2  # the 320×75 crop drawn twice as large
JPEG_QUALITY = 85
WEB = Path(__file__).parent / "web"
STATIC = {"/": ("index.html", "text/html; charset=utf-8"),
          "/dashboard.js": ("dashboard.js", "text/javascript; charset=utf-8")}


class Dashboard:
    """What the page shows, updated by the drive loop, read by the page's requests."""

    def __init__(self, set_speed_mph: float, target_mph: Callable[[float], float],
                 saliency: Callable[[np.ndarray], tuple[float, np.ndarray]] | None = None,
                 saliency_note: str = "", clock: Callable[[], float] = time.monotonic) -> None:
        self.set_speed_mph = set_speed_mph
        self._clock = clock  # a parameter so that tests can step time themselves
        self._target_mph = target_mph
        self._saliency = saliency
        self.saliency_note = saliency_note if saliency is None else ""
        self.frames = 0
        self.connected = 0  # simulator connections open
        self._samples: collections.deque = collections.deque(maxlen=HISTORY)
        self._jpeg = b""
        self._frame: np.ndarray | None = None
        self._saliency_jpeg = b""
        self._saliency_frame = -1
        self._saliency_time = -np.inf
        self._saliency_busy = False
        self._start = self._clock()

    # --- the drive loop's side: as cheap as it can be --------------------------------------------
    def frame(self, frame: np.ndarray, jpeg: bytes, speed_mph: float, steering: float, throttle: float,
              latency_s: float) -> None:
        self.frames += 1
        self._frame, self._jpeg = frame, jpeg
        self._samples.append((self._clock() - self._start, steering, throttle, speed_mph, latency_s, self.frames))

    def simulator_connected(self, connected: bool) -> None:
        self.connected = max(0, self.connected + (1 if connected else -1))

    # --- the page's side -------------------------------------------------------------------------
    def state(self, since_frame: int = 0) -> dict:
        """The numbers the page shows, and the samples after frame number `since_frame`."""
        now = self._clock() - self._start
        new, recent = [], []
        for sample in reversed(self._samples):  # newest first: stop at what is neither new nor recent
            is_new, is_recent = sample[5] > since_frame, sample[0] > now - STATS_WINDOW_S
            if not (is_new or is_recent):
                break
            if is_new:
                new.append(sample)
            if is_recent:
                recent.append(sample)
        last = self._samples[-1] if self._samples else (0.0, 0.0, 0.0, 0.0, 0.0, 0)
        return {
            "frame": self.frames,
            "connected": self.connected > 0,
            "time_s": round(now, 3),
            "steering": last[1], "throttle": last[2], "speed_mph": last[3],
            "set_speed_mph": self.set_speed_mph, "target_mph": self._target_mph(last[1]),
            "fps": len(recent) / STATS_WINDOW_S,
            "latency_ms": statistics.median(s[4] for s in recent) * 1e3 if recent else None,
            "saliency": self._saliency is not None, "saliency_note": self.saliency_note,
            "samples": [[round(s[0], 3), round(s[1], 4), round(s[2], 4), round(s[3], 2)] for s in reversed(new)],
            "config": PAGE_CONFIG,
        }

    def saliency_jpeg(self) -> bytes:
        """The latest frame's model rows with saliency drawn on; the previous image while one is being
        made or when it is younger than 1/SALIENCY_HZ s."""
        frame, number = self._frame, self.frames
        if (self._saliency is None or frame is None or self._saliency_busy or number == self._saliency_frame
                or self._clock() - self._saliency_time < 1 / SALIENCY_HZ):
            return self._saliency_jpeg
        from eventlet import tpool

        self._saliency_busy = True
        try:
            self._saliency_jpeg = tpool.execute(self._draw_saliency, frame)
            self._saliency_frame, self._saliency_time = number, self._clock()
        except Exception as e:  # the page must not take the drive server down
            log.warning("saliency failed (%s: %s)", type(e).__name__, e)
        finally:
            self._saliency_busy = False
        return self._saliency_jpeg

    def _draw_saliency(self, frame: np.ndarray) -> bytes:
        import cv2

        from evaluate.saliency import overlay

        _, mask = self._saliency(frame)
        crop = overlay(frame[CROP_TOP:CROP_BOTTOM], mask[CROP_TOP:CROP_BOTTOM])
        crop = cv2.resize(crop, None, fx=SALIENCY_SCALE, fy=SALIENCY_SCALE, interpolation=cv2.INTER_NEAREST)
        return cv2.imencode(".jpg", crop[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])[1].tobytes()

    def events(self) -> Iterator[bytes]:
        """The `/events` stream: the latest state, at most EVENTS_HZ a second, never a backlog."""
        import eventlet

        sent = 0
        yield b"retry: 1000\n\n"
        while True:
            state = self.state(since_frame=sent)
            sent = state["frame"]
            yield f"data: {json.dumps(state, separators=(',', ':'))}\n\n".encode()
            eventlet.sleep(1 / EVENTS_HZ)  # paces the stream; a slow page simply gets fewer, fuller events

    def app(self, environ: dict, start_response: Callable) -> list[bytes] | Iterator[bytes]:
        """The dashboard's WSGI app."""
        path = environ.get("PATH_INFO", "/")
        no_cache = [("Cache-Control", "no-store")]
        if path in STATIC:
            name, kind = STATIC[path]
            body = (WEB / name).read_bytes()
            start_response("200 OK", [("Content-Type", kind), ("Content-Length", str(len(body)))] + no_cache)
            return [body]
        if path == "/events":
            environ["eventlet.minimum_write_chunk_size"] = 0  # send each event at once, not 4 KB later
            start_response("200 OK", [("Content-Type", "text/event-stream")] + no_cache)
            return self.events()
        if path in ("/camera.jpg", "/saliency.jpg"):
            body = self._jpeg if path == "/camera.jpg" else self.saliency_jpeg()
            if not body:
                start_response("204 No Content", no_cache)
                return [b""]
            start_response("200 OK", [("Content-Type", "image/jpeg"), ("Content-Length", str(len(body)))] + no_cache)
            return [body]
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"not found: the dashboard is at /\n"]
