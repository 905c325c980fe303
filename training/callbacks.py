"""Keras callbacks of a training run: the closed-loop replay of the validation blocks, atomic checkpoints of
the epoch kept (the last, or the one that drives them best), a clear NaN stop, and the standard set."""
from __future__ import annotations

import contextlib
import csv
import io
import logging
import math
import time
from pathlib import Path
from typing import Any, Iterator

import keras
import pandas as pd

from base.atomic import write_json_atomic, write_text_atomic
from evaluate.replay import Footage, drive_model
from evaluate.rules import LineRule
from training import runs
from training.precision import Float32Steering, Float32View

log = logging.getLogger(__name__)


class ReplayValidation(keras.callbacks.Callback):
    """Drives the model closed-loop on the held-out blocks after every epoch (`evaluate.replay`, the loop
    of `python -m evaluate`) and adds `val_autonomy`, `val_interventions` and `val_replay_s` (what the replay
    cost, to set against the epoch's time) to the epoch's logs.

    Validation loss rewards copying the recorded steering frame by frame; the replay rewards staying
    on the road, which is what the model is for. Must come before the callbacks that read the logs.
    With `mirror` it drives the model as `model.keras` will keep it, mirror-averaged.
    """

    def __init__(self, val_rows: pd.DataFrame, max_offset_m: float, mirror: bool = False) -> None:
        super().__init__()
        self.footage = Footage.from_rows(val_rows)
        self.rule = LineRule(max_offset_m=max_offset_m)
        self._steering = Float32Steering(mirror)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if logs is None or not self.footage.segments:
            return
        started = time.perf_counter()
        report = drive_model(self.footage, self._steering(self.model), self.rule).report()
        logs["val_replay_s"] = round(time.perf_counter() - started, 2)
        logs["val_autonomy"] = report["autonomy_percent"]
        logs["val_interventions"] = float(report["interventions"])


class BestCheckpoint(keras.callbacks.Callback):
    """Saves `model.keras` atomically whenever the epoch beats the best so far: by the replay's
    validation autonomy, ties going to the lower validation loss (`by="autonomy"`), by loss alone, or
    every epoch (`by="last"`). Always in float32, whatever the training precision: drive.py and the
    exports run it as it is; with `mirror`, mirror-averaged (`training.model.mirror_averaged`)."""

    def __init__(self, path: Path, by: str, best: float = math.inf, best_autonomy: float = -math.inf,
                 best_epoch: int | None = None, mirror: bool = False):
        super().__init__()
        self.path = Path(path)
        self.best = best  # the validation loss of the kept epoch
        self.best_autonomy = best_autonomy
        self.by = by
        self.best_epoch = best_epoch  # of a resumed run, the one it kept before this session
        self._float32 = Float32View(mirror)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs = logs or {}
        val_loss = logs.get("val_loss")
        if val_loss is None or not math.isfinite(val_loss):
            return
        autonomy = logs.get("val_autonomy", -math.inf) if self.by != "loss" else -math.inf
        if self.by != "last" and (autonomy, -val_loss) <= (self.best_autonomy, -self.best):
            return
        runs.save_model_atomic(self._float32(self.model), self.path)
        shown = f"val_autonomy {autonomy:.1f} %, " if math.isfinite(autonomy) else ""
        log.info("epoch %d: %s (%sval_loss %.5f), saved %s", epoch + 1, "kept" if self.by == "last" else "best so far",
                 shown, val_loss, self.path)
        self.best, self.best_autonomy, self.best_epoch = float(val_loss), float(autonomy), epoch + 1


class StopWhenNotDrivingBetter(keras.callbacks.EarlyStopping):
    """Early stopping in BestCheckpoint's order: replay autonomy first, validation loss between equals.

    One intervention moves the autonomy of even a long held-out set by far more than any loss
    difference, so autonomy − loss orders epochs as (autonomy, −loss) does.
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(**(kwargs | {"mode": "max"}))

    def get_monitor_value(self, logs: dict | None):
        logs = logs or {}
        if "val_autonomy" not in logs or "val_loss" not in logs:
            return None
        return logs["val_autonomy"] - logs["val_loss"]


class AveragedWeights(keras.callbacks.Callback):
    """With an optimizer that keeps an exponential moving average of the weights (`use_ema`), the
    average is what validation, the replay and `model.keras` see at each epoch's end, while training
    goes on from the weights as trained (Keras's SwapEMAWeights swaps the two instead, and a
    `last.keras` saved then would resume from the average). Must come before those callbacks."""

    def __init__(self) -> None:
        super().__init__()
        self._trained: list | None = None  # the weights as trained, while the average is in the model

    def _average_in(self) -> None:
        if self._trained is None:
            self._trained = self.model.get_weights()
            self.model.optimizer.finalize_variable_values(self.model.trainable_variables)

    def _trained_back(self) -> None:
        if self._trained is not None:
            self.model.set_weights(self._trained)
            self._trained = None

    def on_test_begin(self, logs: dict | None = None) -> None:
        self._average_in()

    def on_test_end(self, logs: dict | None = None) -> None:
        self._trained_back()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self._average_in()

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._trained_back()

    @contextlib.contextmanager
    def trained_weights(self) -> Iterator[None]:
        """The weights as trained in the model for the duration (to save the state to resume from)."""
        if self._trained is None:
            yield
            return
        averaged = self.model.get_weights()
        self.model.set_weights(self._trained)
        try:
            yield
        finally:
            self.model.set_weights(averaged)


class LastCheckpoint(keras.callbacks.Callback):
    """Saves `last.keras` (with optimizer state) after every epoch, then `progress.json`, for --resume.

    progress.json is written second, so it never claims an epoch that last.keras does not hold. With
    weight averaging, last.keras holds the weights as trained (the average is in the optimizer).
    """

    def __init__(self, run_dir: Path, best: BestCheckpoint, averaging: AveragedWeights | None = None):
        super().__init__()
        self.run_dir = Path(run_dir)
        self.best = best
        self.averaging = averaging
        self.epochs_done = 0

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if not math.isfinite((logs or {}).get("loss", math.nan)):
            return  # a NaN epoch is no state to resume from
        with self.averaging.trained_weights() if self.averaging else contextlib.nullcontext():
            runs.save_model_atomic(self.model, self.run_dir / runs.LAST_MODEL)
        self.epochs_done = epoch + 1
        write_json_atomic(self.run_dir / runs.PROGRESS, {"epochs_done": self.epochs_done, "best_val_loss": self.best.best,
                                                         "best_val_autonomy": self.best.best_autonomy,
                                                         "best_epoch": self.best.best_epoch})


class HistoryCSV(keras.callbacks.Callback):
    """`history.csv` as Keras's CSVLogger writes it (`epoch`, then the logged values by name), but the
    whole file rewritten atomically after every epoch, so it never holds a torn row; `append` continues
    the file of a resumed run. Epochs count from 1, as the progress bar, loss.png and metrics.json
    count them; a value first logged later (a resumed run that now replays) gets its own column."""

    def __init__(self, path: Path, append: bool = False) -> None:
        super().__init__()
        self.path = Path(path)
        self.append = append
        self.fields: list[str] = []
        self.rows: list[dict[str, Any]] = []

    def on_train_begin(self, logs: dict | None = None) -> None:
        if self.append and self.path.is_file():
            with open(self.path, newline="", encoding="utf-8") as f:
                reader = csv.DictReader(f)
                self.fields, self.rows = list(reader.fieldnames or []), list(reader)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs = logs or {}
        self.fields = self.fields or ["epoch"]
        self.fields += [key for key in sorted(logs) if key not in self.fields]
        self.rows.append({"epoch": epoch + 1, **{key: float(value) for key, value in logs.items()}})
        text = io.StringIO()
        writer = csv.DictWriter(text, self.fields, lineterminator="\n")
        writer.writeheader()
        writer.writerows(self.rows)
        write_text_atomic(self.path, text.getvalue())


class StopOnNaN(keras.callbacks.Callback):
    """Stops at the first NaN or infinite loss and remembers it, so the CLI can say what to try."""

    def __init__(self) -> None:
        super().__init__()
        self.nan_epoch: int | None = None
        self._epoch = 0

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._epoch = epoch

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            self.nan_epoch = self._epoch + 1
            self.model.stop_training = True


def standard_callbacks(
    run_dir: Path,
    early_stopping_patience: int,
    reduce_lr_patience: int,
    *,
    select_by: str,  # the run's settings (training.config), never a default of their own here
    val_max_offset_m: float,
    best_val_loss: float = math.inf,
    tensorboard: bool = False,
    append_history: bool = False,
    val_rows: pd.DataFrame | None = None,
    best_val_autonomy: float = -math.inf,
    weight_average: bool = False,
    best_epoch: int | None = None,
    on_policy: keras.callbacks.Callback | None = None,
    mirror: bool = False,
) -> tuple[list[keras.callbacks.Callback], BestCheckpoint, LastCheckpoint, StopOnNaN]:
    """The callbacks of a run, in order, and the three whose state the CLI reads afterwards.

    With `select_by="autonomy"` the held-out `val_rows` are replayed every epoch, and the kept model
    and early stopping follow the replay's autonomy; with "last" they are replayed too (history.csv
    shows it), every epoch is kept in turn and none stops early. With `weight_average` (an optimizer with
    `use_ema`) the averaged weights are the ones validated, replayed and saved at each epoch's end.
    `best_val_loss`, `best_val_autonomy`, `best_epoch`: what a resumed run kept so far.
    `on_policy` (`training.onpolicy.OnPolicyRounds`) gathers the states the model reaches before epochs.
    `mirror`: `model.keras`, and the replay of the validation blocks, mirror-averaged; the on-policy rounds
    drive the network alone (measured so: docs/driving.md).
    """
    nan_stop = StopOnNaN()
    replayed = select_by != "loss" and val_rows is not None and not val_rows.empty
    by = select_by if replayed or select_by == "last" else "loss"
    best = BestCheckpoint(run_dir / runs.BEST_MODEL, best=best_val_loss, by=by,
                          best_autonomy=best_val_autonomy if replayed else -math.inf, best_epoch=best_epoch, mirror=mirror)
    averaging = AveragedWeights() if weight_average else None
    last = LastCheckpoint(run_dir, best, averaging)
    callbacks: list[keras.callbacks.Callback] = [
        # First: every callback after it sees the averaged weights at the epoch's end, and validation too.
        *([averaging] if averaging else []),
        # Before the progress line, to which it adds what its round found.
        *([on_policy] if on_policy else []),
        # The replay next: it adds to the epoch's logs and prints nothing.
        *([ReplayValidation(val_rows, val_max_offset_m, mirror)] if replayed else []),
        # Then the progress line, finished before any callback below prints or logs (Keras appends its
        # own progress bar last, and a message then lands on the bar's line).
        keras.callbacks.ProgbarLogger(),
        nan_stop,
        best,
        keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=reduce_lr_patience, verbose=1),
        *([] if by == "last" else [(StopWhenNotDrivingBetter if by == "autonomy" else keras.callbacks.EarlyStopping)(
            monitor="val_loss", patience=early_stopping_patience, restore_best_weights=True, verbose=1
        )]),
        last,
        # After ReduceLROnPlateau, which adds the epoch's learning_rate to the logs the CSV records.
        HistoryCSV(run_dir / runs.HISTORY, append=append_history),
    ]
    if tensorboard:
        callbacks.append(keras.callbacks.TensorBoard(log_dir=str(run_dir / "tensorboard")))
    return callbacks, best, last, nan_stop
