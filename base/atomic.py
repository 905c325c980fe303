"""Atomic file writes: a temp file in the same folder, then `os.replace`. The one place the project does it.

A crash, a full disk or Ctrl-C mid-write leaves the previous version intact, never a torn file under
the real name; a full disk is reported with the real name, not the temp file's. JSON is written
strictly (no NaN or Infinity, which other tools refuse): a figure that is not finite is `null`.
Kept free of TensorFlow so the simulator and the drive server can use it cheaply.
"""
from __future__ import annotations

import errno
import json
import math
import os
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

DISK_FULL = (errno.ENOSPC, errno.EDQUOT)  # no space left, or over the user's quota


def temp_beside(path: Path) -> Path:
    """A fresh temp path in `path`'s folder, hidden, with the same suffix (writers such as OpenCV's video
    writer pick the format by it). Not created here, so the writer's file gets the usual permissions."""
    return path.with_name(f".{path.stem}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp{path.suffix}")


class PendingFile:
    """A file written over time (a video, a per-frame log) under a temp name beside `path`:
    `commit()` moves it onto `path` in one step, `discard()` removes it."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.temp = temp_beside(self.path)

    def commit(self) -> Path:
        os.replace(self.temp, self.path)
        return self.path

    def discard(self) -> None:
        self.temp.unlink(missing_ok=True)


def write_atomic(path: str | Path, write: Callable[[Path], Any]) -> Path:
    """Let `write(temp)` fill a temp file beside `path`, then move it onto `path` in one step."""
    pending = PendingFile(path)
    try:
        write(pending.temp)
        return pending.commit()
    except OSError as e:
        if e.errno in DISK_FULL:  # whatever the writer named (often the temp file, or nothing): the real path
            raise OSError(e.errno, e.strerror or os.strerror(e.errno), str(path)) from e
        raise
    finally:
        pending.discard()  # nothing left once committed; the half-written temp file otherwise


def write_bytes_atomic(path: str | Path, data: bytes) -> Path:
    return write_atomic(path, lambda temp: temp.write_bytes(data))


def write_text_atomic(path: str | Path, text: str) -> Path:
    return write_atomic(path, lambda temp: temp.write_text(text, encoding="utf-8"))


def write_json_atomic(path: str | Path, data: Any) -> Path:
    """`data` as strict JSON: NaN and ±Infinity (a best loss before any epoch, say) are written as null."""
    return write_text_atomic(path, json.dumps(finite(data), indent=2, allow_nan=False) + "\n")


def finite(data: Any) -> Any:
    """`data` with every float that is not finite, at any depth of dicts, lists and tuples, replaced by None."""
    if isinstance(data, float):
        return data if math.isfinite(data) else None
    if isinstance(data, dict):
        return {key: finite(value) for key, value in data.items()}
    if isinstance(data, (list, tuple)):
        return [finite(value) for value in data]
    return data


def symlink_atomic(link: str | Path, target: str | Path) -> Path:
    """Point the symlink `link` at `target` (as given: relative to the link's folder, or absolute),
    replacing an earlier link in one step."""
    link = Path(link)
    temp = temp_beside(link)
    try:
        temp.symlink_to(target, target_is_directory=True)
        os.replace(temp, link)
    finally:
        temp.unlink(missing_ok=True)
    return link
