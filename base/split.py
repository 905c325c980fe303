"""`split.json`: which rows of which recordings a training run held out, and the logs as they were.

A run's validation split is rebuilt from the files only at the moment it is made; a recording that
grows later (the simulator and `sim.record` append to logs) would silently move frames between the
two sides. So the run keeps, per recording, the row ranges it held out and a hash of the log file,
and every later use of "the held-out rows" checks the log is still the one it trained on.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from base.atomic import write_json_atomic
from base.logs import LOG_NAME, read_recordings

SPLIT = "split.json"


class SplitError(ValueError):
    """The held-out rows of a run are not known or no longer match the recordings; the message says why."""


def log_digest(log_path: Path) -> str:
    return hashlib.sha256(Path(log_path).read_bytes()).hexdigest()


def save_split(run_dir: Path, rows: pd.DataFrame, val_rows: pd.DataFrame) -> Path:
    """Write `run_dir/split.json` from all rows used and the held-out ones (both as `base.logs` reads them)."""
    recordings = []
    for folder, members in rows.groupby("recording", sort=True):
        held = np.sort(val_rows.loc[val_rows["recording"] == folder, "row"].to_numpy())
        log_path = Path(folder) / LOG_NAME
        recordings.append({
            "folder": str(Path(folder).resolve()),
            "rows": int(len(members)),
            "log_sha256": log_digest(log_path),
            "held_out": _ranges(held),
        })
    return write_json_atomic(run_dir / SPLIT, {"recordings": recordings})


def held_out_rows(run_dir: Path, folders: list[str | Path] | None = None) -> pd.DataFrame:
    """The rows `run_dir` held out for validation, read from their recordings now (in log order).

    `folders`: only these recordings (each must be one the run used). Raises SplitError when the run
    has no split.json or a recording's log changed since the run was made.
    """
    split = _read(run_dir)
    entries = {entry["folder"]: entry for entry in split["recordings"]}
    if folders:
        wanted = [str(Path(f).resolve()) for f in folders]
        unknown = [f for f in wanted if f not in entries]
        if unknown:
            raise SplitError(f"{unknown[0]} is not a recording {run_dir} was trained on: pass "
                             f"{' '.join(entries)} or leave out the held-out selection")
        entries = {f: entries[f] for f in wanted}
    parts = []
    for folder, entry in entries.items():
        log_path = Path(folder) / LOG_NAME
        if not log_path.is_file():
            raise SplitError(f"{log_path}, which {run_dir} was trained on, does not exist any more: restore it")
        if log_digest(log_path) != entry["log_sha256"]:
            raise SplitError(f"{log_path} changed since {run_dir} was trained on its {entry['rows']} rows: its "
                             "held-out rows are no longer known; retrain, or use the whole recording")
        rows = read_recordings([folder])
        keep = np.zeros(len(rows), dtype=bool)
        for start, stop in entry["held_out"]:
            keep[(rows["row"] >= start) & (rows["row"] < stop)] = True
        parts.append(rows[keep])
    return pd.concat(parts, ignore_index=True)


def _read(run_dir: Path) -> dict[str, Any]:
    path = Path(run_dir) / SPLIT
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SplitError(f"{run_dir} has no {SPLIT}: it was trained before runs kept their split; "
                         "retrain it with `python -m training.fit`") from None
    except (OSError, json.JSONDecodeError) as e:
        raise SplitError(f"cannot read {path} ({e}): retrain the run") from None


def _ranges(rows: np.ndarray) -> list[list[int]]:
    """Sorted row numbers → [start, stop) ranges of consecutive rows."""
    if not len(rows):
        return []
    breaks = np.flatnonzero(np.diff(rows) != 1) + 1
    return [[int(run[0]), int(run[-1]) + 1] for run in np.split(rows, breaks)]
