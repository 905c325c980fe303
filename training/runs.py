"""The run folder: where one training run keeps its models, history, split, plots and figures.

`Run` owns a folder's life: created for a new run (or reopened for `--resume`), its start recorded
(config.json, split.json, the data plots), removed when a failure leaves nothing worth keeping,
finished by metrics.json, loss.png and the `latest` link. Every file is written atomically
(`base.atomic`), so a crash, a full disk or Ctrl-C mid-write leaves the previous version intact.
"""
from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from base.atomic import symlink_atomic, write_atomic, write_json_atomic, write_text_atomic
from base.modelfile import KEPT_MODEL as KEPT_MODEL  # re-exported: the model drive and evaluation load from a run

if TYPE_CHECKING:  # Keras, pandas and matplotlib load when a run starts, not for --help or a bad flag
    import keras

    from training.config import TrainConfig
    from training.samples import SampleSet

log = logging.getLogger(__name__)

LAST_MODEL = "last.keras"  # end of the latest epoch, optimizer state included: what --resume loads
PROGRESS = "progress.json"  # epochs done and the kept (last) epoch's validation loss, written after last.keras
CONFIG = "config.json"
METRICS = "metrics.json"
HISTORY = "history.csv"
LOSS_PLOT = "loss.png"
ON_POLICY_STATES = "on_policy_states.csv"  # the on-policy pool, round by round: what --resume draws from again
LATEST = "latest"


class RunError(ValueError):
    """A run folder cannot be created, written or resumed; the message says what to do."""


class Run:
    """One training run's folder, from `create` (or `resume`) to `finish`.

    `kept` is False for the scratch copy a cluster worker other than the chief writes (Keras's own
    multi-worker advice: every worker saves, only the chief's copy is kept); it is removed at the end.
    `resumed_from`: the run folder a resumed run continues (its own folder, or for a worker the chief's).
    """

    def __init__(self, folder: Path, kept: bool = True, resumed_from: Path | None = None, epochs_done: int = 0,
                 kept_val_loss: float = math.inf, kept_val_autonomy: float = -math.inf,
                 kept_epoch: int | None = None) -> None:
        self.folder = folder
        self.kept = kept
        self.resumed_from = resumed_from
        self.epochs_done = epochs_done  # before this session
        self.kept_val_loss = kept_val_loss
        self.kept_val_autonomy = kept_val_autonomy
        self.kept_epoch = kept_epoch  # the epoch model.keras holds; None before any, or in a run older than the field
        self._plots: _Background | None = None  # the data plots, drawn while training starts

    @classmethod
    def create(cls, out: str | Path) -> Run:
        """A new, empty `out/<timestamp>/`."""
        return cls(_create_folder(Path(out)))

    @classmethod
    def scratch(cls, resumed: Run | None = None) -> Run:
        """A worker's scratch folder outside the run folders, continuing `resumed` if given."""
        folder = Path(tempfile.mkdtemp(prefix="training-worker-"))
        if resumed is None:
            return cls(folder, kept=False)
        return cls(folder, False, resumed.resumed_from, resumed.epochs_done, resumed.kept_val_loss,
                   resumed.kept_val_autonomy, resumed.kept_epoch)

    @classmethod
    def resume(cls, folder: str | Path) -> Run:
        """The run in `folder`, to continue: RunError without a finished epoch, SplitError when a
        recording it was trained on changed since (its validation rows would no longer be known)."""
        from base.split import check_unchanged

        folder = Path(folder).resolve()
        progress = read_progress(folder)
        check_unchanged(folder)
        return cls(folder, resumed_from=folder, **progress)

    @property
    def resumed(self) -> bool:
        return self.resumed_from is not None

    def begin(self, config: TrainConfig, samples: SampleSet) -> None:
        """Record the start: config.json, and for a new run its split and data plots. A resumed run must
        continue on the recordings and validation rows it started with (SplitError otherwise)."""
        from base.split import check_same_split, save_split
        from training.dataplots import save_data_plots

        if self.resumed_from:
            check_same_split(self.resumed_from, samples.rows, samples.val_rows, samples.test_rows)
        write_text_atomic(self.folder / CONFIG, config.to_json())
        if self.kept and not self.resumed:
            save_split(self.folder, samples.rows, samples.val_rows, samples.test_rows)
            # Seconds of matplotlib (a busy 2-core machine: 16 s of a 104 s start-up), drawn on the other core beside
            # the model's build and first epoch instead of before them; `finish` waits for them.
            self._plots = _Background(save_data_plots, samples, config, self.folder)

    def plots_done(self) -> None:
        """Wait for the data plots `begin` started; their error, if any, raised here."""
        plots, self._plots = self._plots, None
        if plots is not None:
            plots.join()

    def last_model(self) -> keras.Model:
        """The resumed run's model at the end of its last finished epoch, with its optimizer state."""
        import keras

        return keras.models.load_model(self.resumed_from / LAST_MODEL)

    @contextlib.contextmanager
    def removed_if_failed_empty(self) -> Iterator[Run]:
        """On any exception (Ctrl-C included): remove the folder if it holds nothing worth keeping — a
        worker's scratch copy, or a new run with neither a finished epoch nor a saved model — then re-raise."""
        try:
            yield self
        except BaseException:
            with contextlib.suppress(Exception):  # the failure that brought us here is the one to report
                self.plots_done()
            if not self.kept or (not self.resumed and not self.worth_keeping()):
                shutil.rmtree(self.folder)
            raise

    def worth_keeping(self) -> bool:
        """True once the folder holds a model: the kept epoch's, or the state to resume from."""
        return (self.folder / PROGRESS).is_file() or (self.folder / KEPT_MODEL).is_file()

    def disk_full(self, error: OSError) -> str:
        """The one line for a disk that filled up mid-run: which file, and what the run folder still holds."""
        where = f"writing {error.filename} failed ({error.strerror})" if error.filename else f"{error.strerror}"
        if not self.kept or not (self.worth_keeping() or self.resumed):
            return f"the disk is full: {where}; nothing was saved yet: free space and start the run again"
        held = []
        if (self.folder / KEPT_MODEL).is_file():
            held.append(f"{self.folder / KEPT_MODEL} (the epoch kept so far)")
        try:
            done = read_progress(self.folder)["epochs_done"]
            held.append(f"the state after epoch {done}: free space, then continue with --resume {self.folder}")
        except RunError:
            held.append("no finished epoch to resume from: free space and start the run again")
        return f"the disk is full: {where}; {self.folder} keeps {', and '.join(held)}"

    def finish(self, metrics: dict[str, Any]) -> Path | None:
        """Write metrics.json and loss.png and point `latest` here; the `latest` link, or None when it could
        not be made. A worker's scratch copy is removed instead."""
        if not self.kept:
            shutil.rmtree(self.folder)
            return None
        from training.plots import save_loss_plot

        self.plots_done()
        write_metrics(self.folder, metrics)
        save_loss_plot(self.folder / HISTORY, self.folder / LOSS_PLOT)
        return point_latest(self.folder)


class _Background:
    """`work(*args)` in a thread of its own; `join` waits for it and raises what it raised."""

    def __init__(self, work: Callable[..., Any], *args: Any) -> None:
        self._error: BaseException | None = None

        def run() -> None:
            try:
                work(*args)
            except BaseException as e:  # noqa: BLE001  (handed to the thread that joins)
                self._error = e

        self._thread = threading.Thread(target=run, name=f"run-{work.__name__}", daemon=True)
        self._thread.start()

    def join(self) -> None:
        self._thread.join()
        if self._error is not None:
            raise self._error


def write_metrics(folder: Path, metrics: dict[str, Any]) -> Path:
    return write_json_atomic(folder / METRICS, metrics)


def save_model_atomic(model: keras.Model, path: Path) -> Path:
    return write_atomic(path, lambda temp: model.save(temp))


def check_out(out: str | Path) -> None:
    """RunError now, before anything loads, when `out` cannot become a folder of runs: it is a file,
    or the nearest folder that exists is not writable. (`Run.create` still probes the disk.)"""
    out = Path(out)
    existing = next(p for p in (out, *out.parents) if p.exists() or p == p.parent)
    if not existing.is_dir():
        raise RunError(f"--out {out}: {existing} is a file, not a folder: pass --out a folder for the runs")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise RunError(f"--out {out}: cannot create a run folder in {existing} (permission denied): "
                       "pass --out a writable folder")


def _create_folder(out: Path) -> Path:
    """A new, empty `out/<timestamp>/` (suffixed if that second is taken); earlier runs untouched.

    A small probe write fails here, before any training, when the folder is read-only or the disk full.
    """
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


def point_latest(run_dir: Path) -> Path | None:
    """Make `<out>/latest` a relative symlink to `run_dir`, replaced in one step."""
    link = run_dir.parent / LATEST
    try:
        return symlink_atomic(link, run_dir.name)
    except OSError as e:
        log.warning("could not point %s at %s (%s); use the run folder's path instead", link, run_dir, e)
        return None


def read_progress(run_dir: Path) -> dict[str, Any]:
    """`{"epochs_done", "kept_val_loss", "kept_val_autonomy", "kept_epoch"}` of a run that can be resumed, or a
    RunError saying why not. A figure not yet defined is null in the file (inf, -inf or None here)."""
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
        if "best_val_loss" in progress:  # a run saved before the kept epoch became always the last: its names
            progress = {key.replace("best_", "kept_"): value for key, value in progress.items()}
        kept_val_loss, kept_val_autonomy = progress["kept_val_loss"], progress.get("kept_val_autonomy")
        kept_epoch = progress.get("kept_epoch")  # absent in runs saved before it was recorded
        return {"epochs_done": int(progress["epochs_done"]),
                "kept_val_loss": math.inf if kept_val_loss is None else float(kept_val_loss),
                "kept_val_autonomy": -math.inf if kept_val_autonomy is None else float(kept_val_autonomy),
                "kept_epoch": None if kept_epoch is None else int(kept_epoch)}
    except (ValueError, KeyError, TypeError) as e:
        raise RunError(f"--resume {run_dir}: {PROGRESS} is unreadable ({e}); start a new run") from e
