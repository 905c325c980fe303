"""A stand-in for the dashboard page (drive/web/dashboard.js), for measuring what an open dashboard costs.

It asks the drive server's dashboard for what the page asks for, as often: the `/events` stream, and
`/camera.jpg` (up to 15 a second) and `/saliency.jpg` (up to 10) whenever a newer frame was
announced, one request at a time. A process of its own, so its work does not share the measuring
client's interpreter; stopped by its parent.

    python -m benchmarks.dashboard_viewer PORT
"""
from __future__ import annotations

import http.client
import json
import sys
import threading
import time

from drive.dashboard import CAMERA_HZ, SALIENCY_HZ

READY = "viewing the dashboard"
RATES_HZ = {"/camera.jpg": CAMERA_HZ, "/saliency.jpg": SALIENCY_HZ}  # as dashboard.js pulls them


def main(port: int) -> None:
    latest = {"frame": 0}
    events = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    events.request("GET", "/events")
    stream = events.getresponse()

    def follow() -> None:
        for line in stream:
            if line.startswith(b"data: "):
                latest["frame"] = json.loads(line[6:])["frame"]

    threading.Thread(target=follow, name="events", daemon=True).start()
    images = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    shown = {path: -1 for path in RATES_HZ}
    due = {path: 0.0 for path in RATES_HZ}
    print(READY, flush=True)
    while True:
        now = time.monotonic()
        for path, hz in RATES_HZ.items():
            if now >= due[path] and latest["frame"] != shown[path]:
                shown[path] = latest["frame"]
                images.request("GET", f"{path}?frame={shown[path]}")
                images.getresponse().read()
                due[path] = now + 1 / hz
        time.sleep(max(0.0, min(due.values()) - time.monotonic()) or 0.005)


if __name__ == "__main__":
    main(int(sys.argv[1]))
