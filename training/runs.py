"""The run folder: where one training run keeps its models, history, plots and figures.

Every file here is written atomically (`base.atomic`), so a crash, a full disk or Ctrl-C
mid-write leaves the previous version intact, never a torn file.
"""
from __future__ import annotations

import json
import math
import logging
import os
import shutil
import tempfile
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from base.runtime import BEST_MODEL  # noqa: F401  (runs.BEST_MODEL: the model a run folder's drive and evaluation use)
from base.atomic import write_atomic

if TYPE_CHECKING:  # Keras is imported by whoever has a model to save, not by every user of this module
    import keras

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


def check_out(out: str | Path) -> None:
    """RunError now, before anything loads, when `out` cannot become a folder of runs: it is a file,
    or the nearest folder that exists is not writable. (`create_run_dir` still probes the disk.)"""
    out = Path(out)
    existing = next(p for p in (out, *out.parents) if p.exists() or p == p.parent)
    if not existing.is_dir():
        raise RunError(f"--out {out}: {existing} is a file, not a folder: pass --out a folder for the runs")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise RunError(f"--out {out}: cannot create a run folder in {existing} (permission denied): "
                       "pass --out a writable folder")


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
        return {"epochs_done": int(progress["epochs_done"]), "best_val_loss": float(progress["best_val_loss"]),
                "best_val_autonomy": float(progress.get("best_val_autonomy", -math.inf))}
    except (ValueError, KeyError, TypeError) as e:
        raise RunError(f"--resume {run_dir}: {PROGRESS} is unreadable ({e}); start a new run") from e

