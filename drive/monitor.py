"""What the user sees while driving: a status line about once a second, and an optional per-frame CSV."""
from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Callable

from base.atomic import PendingFile

STATUS_EVERY_S = 1.0
CSV_HEADER = "time_s,speed_mph,steering,throttle,latency_ms\n"


class Monitor:
    """Collects one sample per served frame; reports a status line through `report`.

    The CSV is written to a temporary file beside `csv_path` and moved into place by `close()`, so
    an earlier log of the same name is only replaced by a complete new one.
    """

    def __init__(self, report: Callable[[str], None], csv_path: str | Path | None = None) -> None:
        self._report = report
        self._start = time.monotonic()
        self._window_start = self._start
        self._latencies: list[float] = []
        self._csv_file = PendingFile(csv_path) if csv_path else None
        self._csv = None
        if self._csv_file:
            self._csv = open(self._csv_file.temp, "w", encoding="utf-8", newline="\n")
            self._csv.write(CSV_HEADER)

    def frame(self, speed_mph: float, steering: float, throttle: float, latency_s: float) -> None:
        now = time.monotonic()
        self._latencies.append(latency_s)
        if self._csv:
            self._csv.write(f"{now - self._start:.4f},{speed_mph:.3f},{steering:.5f},{throttle:.5f},"
                            f"{latency_s * 1e3:.3f}\n")
        elapsed = now - self._window_start
        if elapsed >= STATUS_EVERY_S:
            self._report(f"{len(self._latencies) / elapsed:5.1f} frames/s | latency median "
                         f"{statistics.median(self._latencies) * 1e3:5.2f} ms | {speed_mph:5.1f} mph | "
                         f"steering {steering:+.3f} | throttle {throttle:+.2f}")
            self._latencies.clear()
            self._window_start = now
            if self._csv:
                self._csv.flush()

    def close(self) -> None:
        if self._csv:
            self._csv.close()
            self._csv_file.commit()
            self._csv = None
