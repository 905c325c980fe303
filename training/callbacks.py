"""Keras callbacks of a training run: the closed-loop replay of the validation blocks, atomic checkpoints of
the epoch kept (the last) and of the state to resume from, a clear NaN stop, and the standard set."""
from __future__ import annotations

import csv
import io
import logging
import math
import time
from pathlib import Path
from typing import Any

import keras
import pandas as pd

from base.atomic import write_json_atomic, write_text_atomic
from evaluate.replay import Footage, FrameSource, ModelPolicy, replay
from evaluate.rule_choice import RuleChoice
from training import runs
from training.config import TrainConfig
from training.precision import Float32Steering, Float32View

log = logging.getLogger(__name__)


class ReplayValidation(keras.callbacks.Callback):
    """Drives the model closed-loop on the held-out blocks after every epoch (`evaluate.replay`, the loop
    of `python -m evaluate`) and adds `val_autonomy`, `val_interventions` and `val_replay_s` (what the replay
    cost, to set against the epoch's time) to the epoch's logs.

    Validation loss rewards copying the recorded steering frame by frame; the replay rewards staying
    on the road, which is what the model is for. Must come before the callbacks that read the logs.
    With `mirror` it drives the model as `model.keras` will keep it, mirror-averaged. `frames`: where the held-out
    rows' frames are already decoded (training's frame store), so an epoch's replay decodes none.
    """

    def __init__(self, val_rows: pd.DataFrame, rule: RuleChoice, mirror: bool = False,
                 frames: FrameSource | None = None) -> None:
        super().__init__()
        self.footage, self.frames = Footage.from_rows(val_rows), frames
        self.rule = rule.build(self.footage)  # the road's: the surface is estimated (or read from its cache) now
        self._steering = Float32Steering(mirror)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if logs is None or not self.footage.segments:
            return
        started = time.perf_counter()
        # `drive_model`'s replay (segments whole), with the views' sources from the frame store.
        report = replay(self.footage, ModelPolicy(self._steering(self.model)), self.rule, frames=self.frames).report()
        logs["val_replay_s"] = round(time.perf_counter() - started, 2)
        logs["val_autonomy"] = report["autonomy_percent"]
        logs["val_interventions"] = float(report["interventions"])


class KeptCheckpoint(keras.callbacks.Callback):
    """Saves `model.keras` atomically at the end of every epoch with a finite validation loss: the model a run
    keeps is its last epoch's. Always in float32, whatever the training precision: drive.py and the exports run
    it as it is; with `mirror`, mirror-averaged (`training.model.mirror_averaged`). `val_loss`, `val_autonomy`
    and `epoch` are the kept epoch's (of a resumed run, before this session, what it kept before)."""

    def __init__(self, path: Path, val_loss: float = math.inf, val_autonomy: float = -math.inf,
                 epoch: int | None = None, mirror: bool = False):
        super().__init__()
        self.path = Path(path)
        self.val_loss, self.val_autonomy, self.epoch = val_loss, val_autonomy, epoch
        self._float32 = Float32View(mirror)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs = logs or {}
        val_loss = logs.get("val_loss")
        if val_loss is None or not math.isfinite(val_loss):
            return
        autonomy = logs.get("val_autonomy", -math.inf)
        runs.save_model_atomic(self._float32(self.model), self.path)
        shown = f"val_autonomy {autonomy:.1f} %, " if math.isfinite(autonomy) else ""
        log.info("epoch %d: kept (%sval_loss %.5f), saved %s", epoch + 1, shown, val_loss, self.path)
        self.val_loss, self.val_autonomy, self.epoch = float(val_loss), float(autonomy), epoch + 1


class LastCheckpoint(keras.callbacks.Callback):
    """Saves `last.keras` (with optimizer state) after every epoch, then `progress.json`, for --resume.

    progress.json is written second, so it never claims an epoch that last.keras does not hold.
    """

    def __init__(self, run_dir: Path, kept: KeptCheckpoint):
        super().__init__()
        self.run_dir = Path(run_dir)
        self.kept = kept
        self.epochs_done = 0

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if not math.isfinite((logs or {}).get("loss", math.nan)):
            return  # a NaN epoch is no state to resume from
        runs.save_model_atomic(self.model, self.run_dir / runs.LAST_MODEL)
        self.epochs_done = epoch + 1
        write_json_atomic(self.run_dir / runs.PROGRESS, {"epochs_done": self.epochs_done, "kept_val_loss": self.kept.val_loss,
                                                         "kept_val_autonomy": self.kept.val_autonomy,
                                                         "kept_epoch": self.kept.epoch})


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


def standard_callbacks(run: runs.Run, config: TrainConfig, val_rows: pd.DataFrame,
                       on_policy: keras.callbacks.Callback | None = None, frames: FrameSource | None = None,
                       ) -> tuple[list[keras.callbacks.Callback], KeptCheckpoint, LastCheckpoint, StopOnNaN]:
    """The callbacks of `run`, in order, and the three whose state the CLI reads afterwards.

    The held-out `val_rows` are replayed every epoch (history.csv shows it); every epoch is kept in turn.
    `on_policy` (`training.onpolicy.OnPolicyRounds`) gathers the states the model reaches before epochs; `frames`
    holds the held-out rows' frames decoded (training's frame store).
    With `config.mirror_average`, `model.keras` and the replay of the validation blocks are mirror-averaged;
    the on-policy rounds drive the network alone (measured so: docs/driving.md).
    """
    nan_stop = StopOnNaN()
    kept = KeptCheckpoint(run.folder / runs.KEPT_MODEL, run.kept_val_loss, run.kept_val_autonomy, run.kept_epoch,
                          mirror=config.mirror_average)
    last = LastCheckpoint(run.folder, kept)
    callbacks: list[keras.callbacks.Callback] = [
        # First, before the progress line, to which it adds what its round found.
        *([on_policy] if on_policy else []),
        # The replay next: it adds to the epoch's logs and prints nothing.
        *([ReplayValidation(val_rows, val_rule(config), config.mirror_average, frames)] if not val_rows.empty else []),
        # Then the progress line, finished before any callback below prints or logs (Keras appends its
        # own progress bar last, and a message then lands on the bar's line).
        keras.callbacks.ProgbarLogger(),
        nan_stop,
        kept,
        keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=config.reduce_lr_patience, verbose=1),
        last,
        # After ReduceLROnPlateau, which adds the epoch's learning_rate to the logs the CSV records.
        HistoryCSV(run.folder / runs.HISTORY, append=run.resumed),
    ]
    if config.tensorboard:
        callbacks.append(keras.callbacks.TensorBoard(log_dir=str(run.folder / "tensorboard")))
    return callbacks, kept, last, nan_stop


def val_rule(config: TrainConfig) -> RuleChoice:
    """The rule the held-out blocks are replayed by (per epoch, and the test blocks at the end)."""
    return RuleChoice(config.val_rule, config.val_max_offset_m)
