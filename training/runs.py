"""The run folder: where one training run keeps its models, history, plots and figures.

Every file here is written atomically (`base.atomic`), so a crash, a full disk or Ctrl-C
mid-write leaves the previous version intact, never a torn file.
"""
from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any

import keras

from base.atomic import write_atomic
from base.runtime import BEST_MODEL  # the model a run folder's drive and evaluation use

log = logging.getLogger(__name__)

LAST_MODEL = "last.keras"  # end of the latest epoch, optimizer state included: what --resume loads
PROGRESS = "progress.json"  # epochs done and best validation loss so far, written after last.keras
CONFIG = "config.json"
METRICS = "metrics.json"
HISTORY = "history.csv"
LOSS_PLOT = "loss.png"
LATEST = "latest"


class RunError(ValueError):
    """A run folder cannot be created, written or resumed; the message says what to do."""


def save_model_atomic(model: keras.Model, path: Path) -> Path:
    return write_atomic(path, lambda temp: model.save(temp))


def create_run_dir(out: str | Path) -> Path:
    """A new, empty `out/<timestamp>/` (suffixed if that second is taken); earlier runs untouched.

    A small probe write fails here, before any training, when the folder is read-only or the disk full.
    """
    out = Path(out)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    try:
        out.mkdir(parents=True, exist_ok=True)
        for n in range(100):
            run_dir = out / (stamp if n == 0 else f"{stamp}-{n}")
            try:
                run_dir.mkdir()
            except FileExistsError:
                continue
            try:
                probe = run_dir / ".write-test"
                probe.write_bytes(b"\0" * 65536)
                probe.unlink()
            except OSError:
                shutil.rmtree(run_dir, ignore_errors=True)
                raise
            return run_dir
    except OSError as e:
        raise RunError(f"cannot create a run folder in {out} ({e.strerror or e}): pass --out a writable folder") from e
    raise RunError(f"{out} already holds 100 runs started this second: pass --out another folder")


def scratch_run_dir() -> Path:
    """Where a cluster worker other than the chief writes its copy of the run, discarded at the end
    (Keras's own multi-worker advice: every worker saves, only the chief's copy is kept)."""
    return Path(tempfile.mkdtemp(prefix="training-worker-"))


def discard_run_dir(run_dir: Path) -> None:
    """Remove a run folder this process created and that holds nothing to keep (no finished epoch)."""
    shutil.rmtree(run_dir)


def point_latest(run_dir: Path) -> Path | None:
    """Make `<out>/latest` a relative symlink to `run_dir`, replaced in one step."""
    link = run_dir.parent / LATEST
    temp = run_dir.parent / f".{LATEST}.{os.getpid()}.tmp"
    try:
        temp.unlink(missing_ok=True)
        temp.symlink_to(run_dir.name, target_is_directory=True)
        os.replace(temp, link)
    except OSError as e:
        temp.unlink(missing_ok=True)
        log.warning("could not point %s at %s (%s); use the run folder's path instead", link, run_dir, e)
        return None
    return link


def read_progress(run_dir: Path) -> dict[str, Any]:
    """`{"epochs_done", "best_val_loss"}` of a run that can be resumed, or a RunError saying why not."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise RunError(f"--resume {run_dir}: no such folder; pass a run folder such as models/latest")
    missing = [name for name in (LAST_MODEL, PROGRESS, CONFIG) if not (run_dir / name).is_file()]
    if missing:
        raise RunError(
            f"--resume {run_dir}: {', '.join(missing)} missing (no finished epoch to continue from); "
            "start a new run without --resume"
        )
    try:
        progress = json.loads((run_dir / PROGRESS).read_text(encoding="utf-8"))
        return {"epochs_done": int(progress["epochs_done"]), "best_val_loss": float(progress["best_val_loss"])}
    except (ValueError, KeyError, TypeError) as e:
        raise RunError(f"--resume {run_dir}: {PROGRESS} is unreadable ({e}); start a new run") from e


def resolve_model_path(path: str | Path) -> Path:
    """A model file, or the best model of a run folder (`models/latest` included)."""
    path = Path(path)
    if path.is_dir():
        path = path / BEST_MODEL
    if not path.is_file():
        raise RunError(f"{path} does not exist: pass a model file or a run folder holding {BEST_MODEL}")
    return path
