"""The drive server under attack: a 40 MB message in four 10 MB fragments, and a PNG decompression bomb.

Each probe runs against a drive server in its own process (the default model, untrained) while a
second connection drives with real frames, one request in flight at a time. Reported per probe: the
server's memory growth (peak resident memory during the probe, sampled every 5 ms, minus before it),
the time from the first byte of the attack to the server's answer (its reply, or its closing the
connection), and the worst and median round trip of a second connection (its own process) during the probe. Before the
probes, the plain drive round trip (median of real frames, nothing else running; with `--baseline`
both servers side by side, measured in turn block by block).

`--baseline DIR` runs the same probes, in the same run, against the drive server of another checkout
(e.g. `git worktree add ../before <commit>`): the classic figures to compare with.

Each probe runs three rounds (one with `--quick`): the medians over the rounds, and the worst round.

    python -m benchmarks.hostile_input [--quick] [--baseline DIR]
"""
from __future__ import annotations

import argparse
import base64
import contextlib
import multiprocessing
import statistics
import struct
import tempfile
import threading
import time
import zlib
from pathlib import Path

import websocket

from base.processes import ROOT, ServerProcess, drive_server, free_loopback_port, free_loopback_ports
from benchmarks.drive_latency import real_frames
from benchmarks.table import markdown
from sim.wire import SimulatorClient, SimulatorConnectionError

MESSAGE_MB, FRAGMENTS = 40, 4
BOMB_SIDE = 12000  # pixels: a 12000×12000 RGB PNG of one colour is about 0.4 MB, 432 MB decoded
NUMBERS = {"steering_angle": "0", "throttle": "0", "speed": "10"}
PLAIN_BLOCKS, WARMUP = 6, 10  # the plain round trips: blocks per server, taken in turn; unmeasured ones per block


def png_bomb(side: int = BOMB_SIDE) -> bytes:
    """A valid side×side RGB PNG, all black: tiny compressed, huge decoded (streamed, never held whole)."""
    squeeze = zlib.compressobj(9)
    row = bytes(1 + 3 * side)  # filter byte + pixels
    idat = b"".join(squeeze.compress(row) for _ in range(side)) + squeeze.flush()

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", idat) + chunk(b"IEND", b""))


def fragmented_message(megabytes: int, fragments: int) -> list[bytes]:
    """One Socket.IO telemetry event of `megabytes` MB as `fragments` masked websocket frames, ready to send."""
    head, tail = '42["telemetry",{"speed":"10","image":"', '"}]'
    text = head + "A" * ((megabytes << 20) - len(head) - len(tail)) + tail
    step = -(-len(text) // fragments)
    frames = []
    for i in range(fragments):
        opcode = websocket.ABNF.OPCODE_TEXT if i == 0 else websocket.ABNF.OPCODE_CONT
        frames.append(websocket.ABNF.create_frame(text[i * step:(i + 1) * step], opcode,
                                                  fin=int(i == fragments - 1)).format())
    return frames


class Sampler:
    """Peak resident memory of a process, sampled every 5 ms from /proc while running."""

    def __init__(self, pid: int) -> None:
        self.pid, self.peak_kb, self._stop = pid, 0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def rss_kb(self) -> int:
        with open(f"/proc/{self.pid}/status") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))

    def _run(self) -> None:
        while not self._stop.wait(0.005):
            self.peak_kb = max(self.peak_kb, self.rss_kb())

    def __enter__(self) -> Sampler:
        self.before_kb = self.peak_kb = self.rss_kb()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def growth_mb(self) -> float:
        return (self.peak_kb - self.before_kb) / 1024


def _drive(port: int, frames: list[bytes], driving, stop, trips) -> None:
    """The second connection's loop (in its own process, so the attacker's and the sampler's work in this
    one does not delay it): round trip after round trip until `stop`, then all (start, seconds) to `trips`."""
    done = []
    with SimulatorClient().connect("127.0.0.1", port) as client:
        i = 0
        while not stop.is_set():
            start = time.perf_counter()  # CLOCK_MONOTONIC: the same clock in every process
            client.request(0.0, 0.3, 12.0, frames[i % len(frames)], timeout=60)
            done.append((start, time.perf_counter() - start))
            i += 1
            if i == 5:  # connected and past its first frames: the attack may start
                driving.set()
    trips.put(done)


class Driver:
    """A second connection driving with real frames, round trip after round trip, until the block ends."""

    def __init__(self, port: int, frames: list[bytes]) -> None:
        context = multiprocessing.get_context("spawn")  # not fork: this process has TensorFlow's threads
        self._driving, self._stop, self._trips = context.Event(), context.Event(), context.Queue()
        self._process = context.Process(target=_drive, args=(port, frames, self._driving, self._stop, self._trips),
                                        daemon=True)
        self.trips: list[tuple[float, float]] = []

    def __enter__(self) -> Driver:
        self._process.start()
        if not self._driving.wait(timeout=120):
            raise RuntimeError("the second connection could not drive")
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self.trips = self._trips.get(timeout=120)
        self._process.join()

    def during(self, start: float, end: float) -> list[float]:
        return [seconds for begun, seconds in self.trips if begun < end and begun + seconds > start]


def send_fragments(port: int, frames: list[bytes]) -> tuple[list[float], str]:
    """Seconds from the first byte of the fragmented message to the server's answer, and what it was."""
    client = SimulatorClient().connect("127.0.0.1", port)
    sock = client._connected().sock
    start = time.perf_counter()
    try:
        for frame in frames:
            sock.sendall(frame)
        name, _ = client.receive(timeout=60)
        return [time.perf_counter() - start], f"'{name}' reply"
    except (OSError, SimulatorConnectionError):
        return [time.perf_counter() - start], "connection closed"
    finally:
        client.close()


def send_bombs(port: int, bomb: bytes, count: int) -> tuple[list[float], str]:
    message = NUMBERS | {"image": base64.b64encode(bomb).decode()}
    with SimulatorClient().connect("127.0.0.1", port) as client:
        times = []
        for _ in range(count):
            client.send_event("telemetry", message)
            start = time.perf_counter()
            name, _ = client.receive(timeout=60)
            times.append(time.perf_counter() - start)
    return times, f"'{name}' reply"


def probe(server: ServerProcess, port: int, frames: list[bytes], attack) -> dict:
    with Driver(port, frames) as driver, Sampler(server.pid) as memory:
        seen = len(server.output)
        start = time.perf_counter()
        replies, answer = attack()
        end = time.perf_counter()
    others = driver.during(start, end)
    safe = sum("bad frame" in line for line in server.output[seen:])
    return {"growth_mb": memory.growth_mb, "reply_ms": 1000 * max(replies), "answer": answer, "safe": safe,
            "other_worst_ms": 1000 * max(others), "other_p50_ms": 1000 * statistics.median(others),
            "other_trips": len(others)}


def measure(root: Path, model: Path, frames: list[bytes], quick: bool, rounds: int) -> dict:
    """`rounds` rounds of both probes on one server of checkout `root`."""
    port = free_loopback_port()
    fragments, bomb = fragmented_message(MESSAGE_MB, FRAGMENTS), png_bomb()
    with drive_server(model, port, extra_args=["--quiet"], root=root) as server:
        results = {"fragments": [], "bomb": []}
        for _ in range(rounds):
            results["fragments"].append(probe(server, port, frames, lambda: send_fragments(port, fragments)))
            results["bomb"].append(probe(server, port, frames, lambda: send_bombs(port, bomb, 3)))
    return results


def plain_medians(model: Path, frames: list[bytes], roots: list[Path], trips: int) -> list[float]:
    """The median plain round trip (ms) of a server of each checkout in `roots`: all running side by side,
    measured in turn block by block, so the machine's drift (other programs) falls on all alike."""
    ports = free_loopback_ports(len(roots))
    times: list[list[float]] = [[] for _ in roots]
    with contextlib.ExitStack() as servers:
        for root, port in zip(roots, ports):
            servers.enter_context(drive_server(model, port, extra_args=["--quiet"], root=root))
        clients = [servers.enter_context(SimulatorClient().connect("127.0.0.1", port)) for port in ports]
        for block in range(PLAIN_BLOCKS):
            for which in (range(len(roots)) if block % 2 == 0 else reversed(range(len(roots)))):
                for i in range(WARMUP + trips // PLAIN_BLOCKS):
                    start = time.perf_counter()
                    clients[which].request(0.0, 0.3, 12.0, frames[i % len(frames)])
                    if i >= WARMUP:
                        times[which].append(time.perf_counter() - start)
    return [1000 * statistics.median(values) for values in times]


def _median(rounds: list[dict], metric: str) -> object:
    values = [probe_round[metric] for probe_round in rounds]
    return statistics.median(values) if isinstance(values[0], (int, float)) else "; ".join(sorted(set(values)))


def run(quick: bool = False, baseline: Path | None = None, rounds: int = 3) -> list[dict]:
    from training.model import build_model

    frames = real_frames(50)
    with tempfile.TemporaryDirectory() as tmp:
        model = Path(tmp) / "model.keras"
        build_model().save(model)
        plain = plain_medians(model, frames, [ROOT, baseline] if baseline else [ROOT], 300 if quick else 1200)
        ours = measure(ROOT, model, frames, quick, rounds)
        before = measure(baseline, model, frames, quick, rounds) if baseline else None
    rows = [{"section": "plain driving", "metric": "drive round trip, median (servers side by side, in turn)",
             "value": plain[0], "unit": "ms", "classic": plain[1] if baseline else None,
             "ratio": plain[1] / plain[0] if baseline else None}]
    for key, what in (("fragments", f"{MESSAGE_MB} MB message in {FRAGMENTS} fragments"),
                      ("bomb", f"PNG bomb {BOMB_SIDE}×{BOMB_SIDE} ({len(png_bomb()) / 1e3:.0f} KB), 3 frames")):
        for metric, unit in (("growth_mb", "MB"), ("reply_ms", "ms"), ("other_worst_ms", "ms"),
                             ("other_p50_ms", "ms"), ("answer", ""), ("safe", "lines")):
            label = {"growth_mb": "server memory growth", "reply_ms": "slowest answer to the attack",
                     "other_worst_ms": "other connection's worst round trip",
                     "other_p50_ms": "other connection's median round trip", "answer": "the answer",
                     "safe": "'bad frame' (safe reply) log lines"}[metric]
            label += f", median of {rounds} rounds" if metric != "answer" else ""
            value, classic = _median(ours[key], metric), before and _median(before[key], metric)
            ratio = classic / value if isinstance(value, float) and classic and value > 0 else None
            rows.append({"section": what, "metric": label, "value": value, "unit": unit, "classic": classic,
                         "ratio": ratio})
        for metric, label in (("reply_ms", "slowest answer, worst round"),
                              ("other_worst_ms", "other connection's worst round trip, worst round")):
            value = max(r[metric] for r in ours[key])
            classic = before and max(r[metric] for r in before[key])
            rows.append({"section": what, "metric": label, "value": value, "unit": "ms", "classic": classic,
                         "ratio": classic / value if classic else None})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer plain round trips, one round (a smoke run)")
    parser.add_argument("--baseline", type=Path, metavar="DIR",
                        help="another checkout whose drive server gets the same probes (the 'before' column)")
    args = parser.parse_args()
    print(markdown(run(args.quick, args.baseline, rounds=1 if args.quick else 3), ours="this server",
                   classic=f"{args.baseline.name}'s server" if args.baseline else "classic"))


if __name__ == "__main__":
    main()
