"""Measuring on ONE core: the process pinned to one CPU and OpenCV to one thread, then both restored."""
from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import cv2


@contextlib.contextmanager
def one_core() -> Iterator[None]:
    affinity = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    threads = cv2.getNumThreads()
    if affinity:
        os.sched_setaffinity(0, {min(affinity)})
    cv2.setNumThreads(1)
    try:
        yield
    finally:
        cv2.setNumThreads(threads)
        if affinity:
            os.sched_setaffinity(0, affinity)
