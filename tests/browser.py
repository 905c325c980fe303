"""Headless Chromium for the tests, driven over the DevTools protocol (websocket-client, already pinned)."""
from __future__ import annotations

import base64
import contextlib
import itertools
import json
import os
import queue
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Iterator

import pytest

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--remote-debugging-port=0", "--remote-allow-origins=*", "--window-size=1280,900"]
LISTENING = "DevTools listening on ws://"
START_TIMEOUT_S = 60.0


def chromium() -> str:
    """The Chromium executable; the test is skipped, saying why, where there is none."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if path := shutil.which(name):
            return path
    pytest.skip("headless Chromium not found: install Debian's package (`apt-get install -y chromium`, "
                "as .ci/run does) to run the browser test")


class Page:
    """One page of a running Chromium: evaluate JavaScript, take screenshots."""

    def __init__(self, websocket_url: str) -> None:
        import websocket

        self._ws = websocket.create_connection(websocket_url, timeout=START_TIMEOUT_S, suppress_origin=True)
        self._ids = itertools.count(1)

    def call(self, method: str, params: dict | None = None, timeout: float = START_TIMEOUT_S) -> dict:
        number = next(self._ids)
        self._ws.settimeout(timeout)
        self._ws.send(json.dumps({"id": number, "method": method, "params": params or {}}))
        while True:  # events the page sends meanwhile are not what was asked
            message = json.loads(self._ws.recv())
            if message.get("id") == number:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message["result"]

    def load(self, url: str, timeout: float = START_TIMEOUT_S) -> None:
        """Navigate to `url` and return once its load event fired."""
        self.call("Page.enable")
        self.call("Page.navigate", {"url": url})
        self._ws.settimeout(timeout)
        while json.loads(self._ws.recv()).get("method") != "Page.loadEventFired":
            pass

    def evaluate(self, expression: str, timeout: float = START_TIMEOUT_S):
        """The value of `expression`; a promise is awaited (up to `timeout` seconds)."""
        result = self.call("Runtime.evaluate", {"expression": expression, "awaitPromise": True, "returnByValue": True},
                           timeout=timeout)
        if "exceptionDetails" in result:
            raise RuntimeError(f"the page raised: {result['exceptionDetails']}")
        return result["result"].get("value")

    def screenshot(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(self.call("Page.captureScreenshot", {"format": "png"})["data"]))

    def close(self) -> None:
        self._ws.close()


@contextlib.contextmanager
def open_page(url: str) -> Iterator[Page]:
    """Headless Chromium showing `url` (loaded), in a new profile; stopped and the profile removed afterwards."""
    executable = chromium()
    # Chromium's helper processes can outlive the browser and still write to the profile while it is
    # removed: they share a process group of their own, stopped as a whole, and a file written after
    # that does not fail the test.
    with tempfile.TemporaryDirectory(prefix="chromium-", ignore_cleanup_errors=True) as profile:
        proc = subprocess.Popen([executable, *FLAGS, f"--user-data-dir={profile}", "about:blank"], stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, text=True, errors="replace", start_new_session=True)
        page = None
        try:
            port = _devtools_port(proc)
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=START_TIMEOUT_S) as answer:
                targets = [t for t in json.load(answer) if t.get("type") == "page"]
            page = Page(targets[0]["webSocketDebuggerUrl"])
            page.load(url)
            yield page
        finally:
            if page:
                page.close()
            _signal_group(proc, signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                pass
            _signal_group(proc, signal.SIGKILL)
            proc.wait()


def _signal_group(proc: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:  # the whole group has exited
        pass


def _devtools_port(proc: subprocess.Popen) -> int:
    """Chromium's DevTools port, from the line it prints once it listens (within START_TIMEOUT_S)."""
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:  # reads all Chromium says, so that it never blocks on a full pipe
        for line in proc.stderr:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, name="chromium-output", daemon=True).start()
    seen = []
    deadline = time.monotonic() + START_TIMEOUT_S
    while (left := deadline - time.monotonic()) > 0:
        try:
            line = lines.get(timeout=left)
        except queue.Empty:
            break
        if line is None:
            raise RuntimeError("Chromium exited before its DevTools listened:\n" + "\n".join(seen[-20:]))
        if LISTENING in line:
            return int(line.split(LISTENING, 1)[1].split("/", 1)[0].rsplit(":", 1)[1])
        seen.append(line.rstrip())
    raise RuntimeError(f"Chromium's DevTools did not listen within {START_TIMEOUT_S:g} s:\n" + "\n".join(seen[-20:]))
