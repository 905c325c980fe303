"""Simulator recordings (`driving_log.csv` + `IMG/`) → one pandas table of rows with resolved image paths.

Every log variant found in the wild reads the same way: with or without the Udacity header; absolute
Windows or POSIX paths, relative paths or bare file names; `", "` separators; CRLF line ends;
E-notation numbers; paths with spaces. A listed path that does not exist here is looked up by file
name in the `IMG/` folder beside the log, which is where a recording copied from another machine keeps them.

A JPEG cut off before its end marker (an interrupted copy, a full disk) is listed as damaged, not
trained on: libjpeg would decode it without an error, the missing part grey. Steering outside the
simulator's −1..1 stops the reading with the file and line; exact copies of an earlier row (a log
appended twice) are dropped, with a warning, before any split.
"""
from __future__ import annotations

import csv
import dataclasses
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from base.frames import JPEG_START, jpeg_truncated
from base.logformat import CAMERAS, FIELDS, IMAGE_DIR, LOG_NAME, NUMBERS

log = logging.getLogger(__name__)

COLUMNS = [*FIELDS, "recording", "row"]
SHOWN_PATHS = 3  # how many offending paths an error message or summary lists
STEERING_LIMIT = 1.0  # normalised steering: the simulator clamps the wheel to ±25°, written as ±1
JPEG_TAIL = 4096  # bytes read from a JPEG's end to find its end marker (past any zero padding)


class LogError(ValueError):
    """A recording that cannot be used as it is; the message (one line) says what to do."""


@dataclass(frozen=True)
class Recording:
    """One log: every data row (image paths resolved), and which of its images are missing or damaged."""

    log: Path
    rows: pd.DataFrame  # COLUMNS plus `complete` (all three images present, readable and whole)
    missing_images: list[str]  # not found or not readable, as written in the log, in log order
    damaged_images: list[str] = dataclasses.field(default_factory=list)  # found but cut off (resolved paths)

    @property
    def folder(self) -> str:
        return str(self.log.parent)


def find_logs(paths: Sequence[str | Path]) -> list[Path]:
    """The `driving_log.csv` files in `paths` (each a log, a recording folder or a folder searched recursively)."""
    if not paths:
        raise LogError("no data paths given: pass recording folders (driving_log.csv beside IMG/)")
    found: dict[Path, Path] = {}
    for path in map(Path, paths):
        if not path.exists():
            raise LogError(f"{path} does not exist: pass a recording folder (driving_log.csv beside IMG/) "
                           "or a folder that contains some")
        logs = [path] if path.is_file() else sorted(path.rglob(LOG_NAME))
        if not logs:
            raise LogError(f"no {LOG_NAME} found in {path}: record into that folder first, "
                           "or pass the folder that holds your recordings")
        for found_log in logs:
            found.setdefault(found_log.resolve(), found_log)  # a folder given twice is read once
    return list(found.values())


def scan_recordings(paths: Sequence[str | Path]) -> list[Recording]:
    """Every recording under `paths`, all rows kept; see `read_recordings` for the usual table."""
    return [read_log(log_path) for log_path in find_logs(paths)]


def read_recordings(paths: Sequence[str | Path], skip_missing: bool = False) -> pd.DataFrame:
    """All rows of every recording under `paths`, in log order, with columns `COLUMNS`.

    Rows whose images are missing, unreadable or damaged raise LogError, or with `skip_missing` are
    dropped with a warning that gives the count. Exact copies of an earlier row are dropped.
    """
    return select_rows(scan_recordings(paths), skip_missing)


def select_rows(recordings: Sequence[Recording], skip_missing: bool) -> pd.DataFrame:
    """The rows of `recordings` as one table; missing or damaged images fail or, with `skip_missing`, drop
    their rows; an exact copy of an earlier row is dropped with a warning."""
    missing = [(rec, rec.missing_images) for rec in recordings if rec.missing_images]
    damaged = [(rec, rec.damaged_images) for rec in recordings if rec.damaged_images]
    if (missing or damaged) and not skip_missing:
        listed = sum(len(CAMERAS) * len(r.rows) for r in recordings)
        if missing:
            rec, images = missing[0]
            total = sum(len(images) for _, images in missing)
            also = f"; {sum(len(i) for _, i in damaged)} more are damaged" if damaged else ""
            raise LogError(
                f"{total} of {listed} images are missing or unreadable{also}, {len(images)} of them in {rec.log} "
                f"(first: {', '.join(images[:SHOWN_PATHS])}; also looked by file name in "
                f"{rec.log.parent / IMAGE_DIR}): restore them, or pass --skip-missing (skip_missing) to drop their rows")
        rec, images = damaged[0]
        total = sum(len(images) for _, images in damaged)
        raise LogError(
            f"{total} of {listed} images are damaged (JPEG cut off before its end marker), {len(images)} of them in "
            f"{rec.log} (first: {', '.join(images[:SHOWN_PATHS])}): copy them again from the recording, or pass "
            "--skip-missing (skip_missing) to drop their rows")
    if missing or damaged:
        dropped = sum(int((~rec.rows["complete"]).sum()) for rec in recordings)
        n_damaged = sum(len(images) for _, images in damaged)
        log.warning("skipping %d rows with %d missing or unreadable images%s", dropped,
                    sum(len(images) for _, images in missing), f" and {n_damaged} damaged ones" if n_damaged else "")
    rows = pd.concat([rec.rows[rec.rows["complete"]] for rec in recordings], ignore_index=True)
    repeated = rows.duplicated(subset=list(FIELDS)).to_numpy()
    if repeated.any():
        # Exact copies would sit on both sides of the validation split; the first occurrence is kept.
        first = rows[repeated].iloc[0]
        log.warning("dropping %d rows that are exact copies of earlier rows (a log appended twice?), first: "
                    "%s in %s", int(repeated.sum()), first["center"], first["recording"])
        rows = rows[~repeated].reset_index(drop=True)
    return rows[COLUMNS]


def read_log(log_path: Path) -> Recording:
    """One `driving_log.csv` with every row kept; raises LogError naming the file and line of a bad row."""
    lines = _data_lines(log_path)
    records = list(csv.reader((text for _, text in lines), skipinitialspace=True))
    for (line_no, _), fields in zip(lines, records):
        if len(fields) != len(FIELDS):
            # "0,1234" or "7,843922E-05" split in two: only whole numbers after the three image paths.
            decimal_comma = len(fields) > len(FIELDS) and all(
                re.fullmatch(r"-?\d+([eE][-+]?\d+)?", field.strip()) for field in fields[len(CAMERAS):])
            raise LogError(
                f"{log_path} line {line_no} has {len(fields)} fields, expected {len(FIELDS)} "
                "(center,left,right,steering,throttle,brake,speed); " + (
                    "a decimal comma from the recording machine's locale does this: record with a '.' decimal "
                    "separator or fix the line" if decimal_comma else
                    "it is not a row the simulator writes: fix or delete that line, or check that the file is "
                    "the simulator's driving_log.csv"))
    table = pd.DataFrame(records, columns=list(FIELDS)).apply(lambda column: column.str.strip())
    for name in NUMBERS:
        values = pd.to_numeric(table[name], errors="coerce")
        bad = np.flatnonzero(values.isna().to_numpy() | ~np.isfinite(values.to_numpy(dtype=float)))
        if len(bad):
            line_no = lines[bad[0]][0]
            raise LogError(f"{log_path} line {line_no}: {name} is {table[name].iloc[bad[0]]!r}, not a number: "
                           "fix or delete that line")
        table[name] = values.astype(float)
    outside = np.flatnonzero(np.abs(table["steering"].to_numpy()) > STEERING_LIMIT)
    if len(outside):
        raise LogError(f"{log_path} line {lines[outside[0]][0]}: steering is {table['steering'].iloc[outside[0]]:g}, "
                       f"outside the simulator's -{STEERING_LIMIT:g}..{STEERING_LIMIT:g} (normalised: 1 is the full "
                       f"25° right){f' ({len(outside)} such rows)' if len(outside) > 1 else ''}: fix or delete that line")
    folder = log_path.parent
    image_dir = folder / IMAGE_DIR
    names_here = set(os.listdir(image_dir)) if image_dir.is_dir() else set()
    present = np.ones((len(table), len(CAMERAS)), dtype=bool)
    whole = np.ones((len(table), len(CAMERAS)), dtype=bool)
    for i, camera in enumerate(CAMERAS):
        resolved = [_resolve(raw, folder, image_dir, names_here) for raw in table[camera]]
        present[:, i] = [path is not None and _readable(path) for path in resolved]
        whole[:, i] = [not found or not _cut_off(path) for path, found in zip(resolved, present[:, i])]
        table[camera] = [str(path) if path is not None else raw for path, raw in zip(resolved, table[camera])]
    table["recording"] = str(folder)
    table["row"] = np.arange(len(table))
    table["complete"] = (present & whole).all(axis=1)
    return Recording(log_path, table, _listed(table, ~present), _listed(table, ~whole))


def _listed(table: pd.DataFrame, flagged: np.ndarray) -> list[str]:
    """The image fields of the flagged (row, camera) cells, in log order."""
    rows_at, cameras_at = np.nonzero(flagged)  # row-major: log order
    return [table[CAMERAS[c]].iloc[r] for r, c in zip(rows_at, cameras_at)]


def _data_lines(log_path: Path) -> list[tuple[int, str]]:
    """(1-based line number, text) of each non-blank data line; the header, if any, left out."""
    try:
        raw = log_path.read_bytes()
    except OSError as e:
        raise LogError(f"cannot read {log_path} ({e.strerror}): check the file's permissions") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("cp1252", errors="replace")  # the Windows simulator writes the ANSI code page
    lines = [(i, line) for i, line in enumerate(text.splitlines(), start=1) if line.strip()]
    if lines and lines[0][1].split(",")[0].strip().lower() == "center":
        lines = lines[1:]
    if not lines:
        raise LogError(f"{log_path} has no data rows: record some driving into it, or remove it")
    return lines


def _resolve(raw: str, folder: Path, image_dir: Path, names_here: set[str]) -> Path | None:
    """Where the image written as `raw` is on this machine: as written (relative to the log), else by name in IMG/."""
    if not raw:
        return None
    # Windows paths only mean something here through their parts: C:\...\IMG\x.jpg → IMG/x.jpg lookup.
    as_written = folder / raw.replace("\\", "/") if "\\" in raw else folder / raw
    if as_written.is_file():
        return as_written.absolute()
    name = re.split(r"[\\/]", raw)[-1]
    if name in names_here:
        return (image_dir / name).absolute()
    return None


def _cut_off(path: Path) -> bool:
    """A JPEG (by its start marker) that ends before its end marker; other files are left to the decoder."""
    try:
        with open(path, "rb") as f:
            if f.read(len(JPEG_START)) != JPEG_START:
                return False
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - JPEG_TAIL))
            return jpeg_truncated(f.read())
    except OSError:
        return False  # unreadable files are counted as missing


def _readable(path: Path) -> bool:
    try:
        return path.stat().st_size > 0 and os.access(path, os.R_OK)
    except OSError:
        return False
