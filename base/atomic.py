"""Atomic file writes: a temp file in the same folder, then `os.replace`.

A crash, a full disk or Ctrl-C mid-write leaves the previous version intact, never a torn file under
the real name. Kept free of TensorFlow so the simulator and the drive server can use it cheaply.
"""
from __future__ import annotations

import contextlib
import json
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any


@contextlib.contextmanager
def _temp_beside(path: Path) -> Iterator[Path]:
    """A fresh temp path in `path`'s folder (same suffix, so writers that go by it still work);
    removed unless the caller moved it onto `path`. Not created here, so the writer's file gets the
    usual permissions."""
    temp = path.with_name(f".{path.stem}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp{path.suffix}")
    try:
        yield temp
    finally:
        temp.unlink(missing_ok=True)


def write_atomic(path: str | Path, write: Callable[[Path], Any]) -> Path:
    """Let `write(temp)` fill a temp file beside `path`, then move it onto `path` in one step."""
    path = Path(path)
    with _temp_beside(path) as temp:
        write(temp)
        os.replace(temp, path)
    return path


def write_text_atomic(path: str | Path, text: str) -> Path:
    return write_atomic(path, lambda temp: temp.write_text(text, encoding="utf-8"))


def write_json_atomic(path: str | Path, data: Any) -> Path:
    return write_text_atomic(path, json.dumps(data, indent=2) + "\n")
