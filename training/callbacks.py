"""Keras callbacks of a training run: atomic checkpoints, a clear NaN stop, and the standard set."""
from __future__ import annotations

import logging
import math
from pathlib import Path

import keras

from base.atomic import write_json_atomic
from training import runs

log = logging.getLogger(__name__)


class BestCheckpoint(keras.callbacks.Callback):
    """Saves `model.keras` atomically whenever the validation loss improves on the best so far."""

    def __init__(self, path: Path, best: float = math.inf):
        super().__init__()
        self.path = Path(path)
        self.best = best
        self.best_epoch: int | None = None

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        val_loss = (logs or {}).get("val_loss")
        if val_loss is None or not math.isfinite(val_loss) or val_loss >= self.best:
            return
        runs.save_model_atomic(self.model, self.path)
        log.info("epoch %d: best val_loss so far (%.5f), saved %s", epoch + 1, val_loss, self.path)
        self.best, self.best_epoch = float(val_loss), epoch + 1


class LastCheckpoint(keras.callbacks.Callback):
    """Saves `last.keras` (with optimizer state) after every epoch, then `progress.json`, for --resume.

    progress.json is written second, so it never claims an epoch that last.keras does not hold.
    """

    def __init__(self, run_dir: Path, best: BestCheckpoint):
        super().__init__()
        self.run_dir = Path(run_dir)
        self.best = best
        self.epochs_done = 0

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if not math.isfinite((logs or {}).get("loss", math.nan)):
            return  # a NaN epoch is no state to resume from
        runs.save_model_atomic(self.model, self.run_dir / runs.LAST_MODEL)
        self.epochs_done = epoch + 1
        write_json_atomic(
            self.run_dir / runs.PROGRESS, {"epochs_done": self.epochs_done, "best_val_loss": self.best.best}
        )


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
    best_val_loss: float = math.inf,
    tensorboard: bool = False,
    append_history: bool = False,
) -> tuple[list[keras.callbacks.Callback], BestCheckpoint, LastCheckpoint, StopOnNaN]:
    """The callbacks of a run, in order, and the three whose state the CLI reads afterwards."""
    nan_stop = StopOnNaN()
    best = BestCheckpoint(run_dir / runs.BEST_MODEL, best=best_val_loss)
    last = LastCheckpoint(run_dir, best)
    callbacks: list[keras.callbacks.Callback] = [
        nan_stop,
        best,
        keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=reduce_lr_patience, verbose=1),
        keras.callbacks.EarlyStopping(
            monitor="val_loss", patience=early_stopping_patience, restore_best_weights=True, verbose=1
        ),
        last,
        # After ReduceLROnPlateau, which adds the epoch's learning_rate to the logs the CSV records.
        runs.HistoryCSV(run_dir / runs.HISTORY, append=append_history),
    ]
    if tensorboard:
        callbacks.append(keras.callbacks.TensorBoard(log_dir=str(run_dir / "tensorboard")))
    return callbacks, best, last, nan_stop
