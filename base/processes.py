"""Servers in their own processes: free loopback ports, start one, wait until it listens, stop it.

The simulator and the drive server meet only over the socket, as the real simulator and `drive.py`
do, so whatever runs both (the demo, tests, benchmarks) starts the server as a process: its eventlet
hub and websocket patch (drive.wsmask) are process-wide anyway. The readiness wait reads the
server's output line by line (no polling); afterwards a thread keeps draining it, so the server
never blocks on a full pipe, and keeps the lines for inspection.
"""
from __future__ import annotations

import contextlib
import os
import queue
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Iterator, Sequence

# The line `python drive.py` prints once it listens: the one thing orchestration waits for.
DRIVE_READY = "drive server ready on"
ROOT = Path(__file__).resolve().parent.parent
START_TIMEOUT_S = 180.0  # TensorFlow import and ONNX conversion take 5–20 s on a loaded 2-core machine
STOP_TIMEOUT_S = 15.0


def free_loopback_ports(count: int = 1) -> list[int]:
    """`count` different TCP ports on 127.0.0.1 that were free a moment ago (held together while
    chosen, so they differ)."""
    with contextlib.ExitStack() as stack:
        sockets = [stack.enter_context(socket.create_server(("127.0.0.1", 0))) for _ in range(count)]
        return [s.getsockname()[1] for s in sockets]


def free_loopback_port() -> int:
    return free_loopback_ports(1)[0]


class ServerProcess(subprocess.Popen):
    """A running server; `output` holds every line it printed so far (stdout and stderr), `started` the
    `time.perf_counter()` just before it was started."""

    output: list[str]
    started: float
    _printed: threading.Condition

    def wait_for_output(self, text: str, start: int = 0, count: int = 1, timeout: float = 10.0) -> list[str]:
        """The lines from `output[start:]` on that contain `text`, once there are `count` of them."""
        def matches() -> list[str] | None:
            found = [line for line in self.output[start:] if text in line]
            return found if len(found) >= count else None

        with self._printed:
            found = self._printed.wait_for(matches, timeout)
        if found is None:
            raise TimeoutError(f"the server printed fewer than {count} lines with {text!r} within {timeout:g} s")
        return found


@contextlib.contextmanager
def drive_server(model: str | Path, port: int, host: str = "127.0.0.1",
                 extra_args: Sequence[str] = (), root: Path = ROOT) -> Iterator[ServerProcess]:
    """`python -m drive MODEL --host HOST --port PORT *extra_args`, ready to accept the simulator; `root`:
    the checkout whose drive server runs (another one to compare against, in benchmarks).

    Raises RuntimeError with the server's output if it exits or stays silent before it is ready.
    """
    command = ["-m", "drive", str(model), "--host", host, "--port", str(port), *extra_args]
    with serve_command(command, DRIVE_READY, root) as proc:
        yield proc


@contextlib.contextmanager
def serve_command(python_args: Sequence[str], ready_prefix: str, root: Path = ROOT) -> Iterator[ServerProcess]:
    """`python *python_args` in the repository root (or `root`), yielded once it prints a line starting with
    `ready_prefix`."""
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    started = time.perf_counter()
    proc = ServerProcess([sys.executable, *python_args], cwd=root, env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True, encoding="utf-8", errors="replace")
    proc.output = []
    proc.started = started
    proc._printed = threading.Condition()
    lines: queue.Queue[str | None] = queue.Queue()

    def drain() -> None:
        for line in proc.stdout:
            with proc._printed:
                proc.output.append(line.rstrip("\n"))
                proc._printed.notify_all()
            lines.put(line)
        lines.put(None)

    reader = threading.Thread(target=drain, name="server-output", daemon=True)
    reader.start()
    try:
        _wait_ready(proc, lines, ready_prefix)
        yield proc
    finally:
        _stop(proc)
        reader.join(timeout=STOP_TIMEOUT_S)


def _wait_ready(proc: ServerProcess, lines: queue.Queue, ready_prefix: str) -> None:
    while True:
        try:
            line = lines.get(timeout=START_TIMEOUT_S)
        except queue.Empty:
            raise RuntimeError(f"the server printed nothing for {START_TIMEOUT_S:g} s:\n"
                               + "\n".join(proc.output[-20:])) from None
        if line is None:
            proc.wait()
            raise RuntimeError(f"the server exited with code {proc.returncode} before it was ready:\n"
                               + "\n".join(proc.output[-20:]))
        if line.startswith(ready_prefix):
            return


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
