"""`split.json`: which rows of which recordings a training run held out, and the logs as they were.

Per recording, `held_out` lists every row range kept out of training and `test` the ones of them that
also chose nothing (not the epoch kept): the rest validated. A run made before test blocks existed has
no `test`: all its held-out rows validated.

A run's validation split is rebuilt from the files only at the moment it is made; a recording that
grows later (the simulator and `sim.record` append to logs) would silently move frames between the
two sides. So the run keeps, per recording, the row ranges it held out and a hash of the log file,
and every later use of "the held-out rows" checks the log is still the one it trained on.
"""
from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from base.atomic import write_json_atomic
from base.logformat import CAMERAS, LOG_NAME
from base.logs import COLUMNS, SHOWN_PATHS, LogError, Recording, read_log

log = logging.getLogger(__name__)

SPLIT = "split.json"
BLOCKS = ("all", "validation", "test")  # which held-out rows `held_out_rows` reads


class SplitError(ValueError):
    """The held-out rows of a run are not known or no longer match the recordings; the message says why."""


def log_digest(log_path: Path) -> str:
    return hashlib.sha256(Path(log_path).read_bytes()).hexdigest()


def save_split(run_dir: Path, rows: pd.DataFrame, val_rows: pd.DataFrame, test_rows: pd.DataFrame | None = None) -> Path:
    """Write `run_dir/split.json` from all rows used and the validation and test rows (as `base.logs` reads them)."""
    return write_json_atomic(run_dir / SPLIT, {"recordings": _describe(rows, val_rows, test_rows)})


def held_out_rows(run_dir: Path, folders: list[str | Path] | None = None, blocks: str = "all",
                  empty_ok: bool = False) -> pd.DataFrame:
    """The rows `run_dir` held out of training, read from their recordings now (in log order): `blocks`
    "all" of them, those that "validation" used to choose the epoch, or the "test" ones that chose nothing.

    `folders`: only these recordings (each must be one the run used). Raises SplitError when the run
    has no split.json, a recording's log changed since the run was made, or images of held-out rows
    have gone missing since; and when there are no such rows, unless `empty_ok` (then no rows).
    """
    if blocks not in BLOCKS:
        raise ValueError(f"blocks must be one of {', '.join(BLOCKS)}, not {blocks}")
    split = _read(run_dir)
    entries = {entry["folder"]: entry for entry in split["recordings"]}
    if folders:
        wanted = [str(Path(f).resolve()) for f in folders]
        unknown = [f for f in wanted if f not in entries]
        if unknown:
            raise SplitError(f"{unknown[0]} is not a recording {run_dir} was trained on: pass "
                             f"{' '.join(entries)} or leave out the held-out selection")
        entries = {f: entries[f] for f in wanted}
    # Test stretches are drawn over all recordings at once: one recording may have no validation rows
    # (and, in runs made before every recording was tested, none tested), so whether the run kept test
    # blocks is the whole run's question.
    parted = blocks != "all" and _kept_test_blocks(split)
    if blocks == "test" and not parted:
        log.warning("%s kept no test blocks (made before them, or with --test-share 0): its held-out rows, which it "
                    "validated on, stand in for them", run_dir)
    parts = []
    for entry in entries.values():
        recording = _unchanged_log(run_dir, entry)
        rows = recording.rows
        keep = _within(len(rows), entry["held_out"])
        if parted:
            tested = _within(len(rows), entry.get("test", []))
            keep &= tested if blocks == "test" else ~tested
        held = rows[keep]
        # Training used complete rows only, so a held-out row without its images lost them since.
        if not held["complete"].all():
            named = set(held[list(CAMERAS)].to_numpy().ravel())
            lost = [image for image in recording.missing_images + recording.damaged_images if image in named]
            raise SplitError(f"{int((~held['complete']).sum())} held-out rows of {recording.log} have lost images since "
                             f"{run_dir} was trained (first: {', '.join(lost[:SHOWN_PATHS])}): restore them")
        parts.append(held[COLUMNS])
    rows = pd.concat(parts, ignore_index=True)
    if rows.empty and not empty_ok:
        hint = (f"pass other recordings of it ({' '.join(entry['folder'] for entry in split['recordings'])})"
                if folders else "retrain it holding out more (--val-fraction)")
        raise SplitError(f"{run_dir} has no {'held-out' if blocks == 'all' else blocks} rows in "
                         f"{' '.join(Path(folder).name for folder in entries)}: {hint}")
    return rows


def check_unchanged(run_dir: Path) -> None:
    """Raise SplitError unless every recording `run_dir` was trained on still has the log it had."""
    for entry in _read(run_dir)["recordings"]:
        _unchanged_log(run_dir, entry)


def has_test_blocks(run_dir: Path) -> bool:
    """Whether `run_dir` kept test blocks (runs made before they existed validated on all their held-out rows)."""
    return _kept_test_blocks(_read(run_dir))


def _kept_test_blocks(split: dict[str, Any]) -> bool:
    return any(entry.get("test") for entry in split["recordings"])


def check_same_split(run_dir: Path, rows: pd.DataFrame, val_rows: pd.DataFrame,
                     test_rows: pd.DataFrame | None = None) -> None:
    """Raise SplitError unless `rows`, `val_rows` and `test_rows`, as training reads and splits the data now,
    are the recordings and held-out rows `run_dir` was trained on (what --resume must continue with)."""
    stored = {entry["folder"]: entry for entry in _read(run_dir)["recordings"]}
    now = {entry["folder"]: entry for entry in _describe(rows, val_rows, test_rows)}
    for folder in stored.keys() - now.keys():
        raise SplitError(f"{folder}, which {run_dir} was trained on, is not in the data now: resume with the "
                         "run's own --data")
    for folder in now.keys() - stored.keys():
        raise SplitError(f"{folder} is not one of the recordings {run_dir} was trained on: resume with the run's "
                         "own --data, or start a new run")
    for folder, entry in sorted(now.items()):
        if entry["log_sha256"] != stored[folder]["log_sha256"]:
            _unchanged_log(run_dir, stored[folder])
        if (entry["held_out"], entry["test"], entry["rows"]) != (stored[folder]["held_out"],
                                                                  stored[folder].get("test", []), stored[folder]["rows"]):
            raise SplitError(f"the rows of {folder} held out for validation and test differ from the ones {run_dir} held out "
                             "(--val-fraction, --test-share, --val-block, --seed or --skip-missing changed?): resume "
                             "with the run's own settings")


def _describe(rows: pd.DataFrame, val_rows: pd.DataFrame, test_rows: pd.DataFrame | None) -> list[dict[str, Any]]:
    test_rows = val_rows.iloc[:0] if test_rows is None else test_rows
    recordings = []
    for folder, members in rows.groupby("recording", sort=True):
        validated, tested = (part.loc[part["recording"] == folder, "row"].to_numpy() for part in (val_rows, test_rows))
        recordings.append({
            "folder": str(Path(folder).resolve()),
            "rows": int(len(members)),
            "log_sha256": log_digest(Path(folder) / LOG_NAME),
            "held_out": _ranges(np.sort(np.concatenate([validated, tested]))),
            "test": _ranges(np.sort(tested)),
        })
    return recordings


def _within(count: int, ranges: list[list[int]]) -> np.ndarray:
    """A mask of `count` rows, True within the [start, stop) `ranges`."""
    mask = np.zeros(count, dtype=bool)
    for start, stop in ranges:
        mask[start:stop] = True
    return mask


def _unchanged_log(run_dir: Path, entry: dict[str, Any]) -> Recording:
    """The recording of a split.json entry as it is now; SplitError (saying what changed) unless its log is
    the one the run was trained on."""
    log_path = Path(entry["folder"]) / LOG_NAME
    if not log_path.is_file():
        raise SplitError(f"{log_path}, which {run_dir} was trained on, does not exist any more: restore it")
    if log_digest(log_path) == entry["log_sha256"]:
        return read_log(log_path)
    try:
        now = f"{int(read_log(log_path).rows['complete'].sum())} usable rows now"
    except LogError:
        now = "it does not read any more"
    raise SplitError(f"{log_path} changed since {run_dir} was trained on it ({entry['rows']} usable rows then, "
                     f"{now}): the rows it held out for validation are no longer known; retrain, or evaluate "
                     "on the whole recording")


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
