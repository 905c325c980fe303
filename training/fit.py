"""Train the steering network on simulator recordings.

    python -m training.fit                                  # every recording under data/
    python -m training.fit --data data/lake data/jungle --epochs 20
    python -m training.fit --resume models/latest --epochs 30
    python -m training.fit --help                           # every option and its default

Writes `models/<timestamp>/` (and points `models/latest` at it): model.keras (best validation loss),
last.keras (for --resume), history.csv, loss.png, the data plots, config.json, split.json (the
held-out rows) and metrics.json.
"""
from __future__ import annotations

import argparse
import dataclasses
import logging
import math
import subprocess
import sys
import time
from pathlib import Path

import keras

from base.atomic import write_json_atomic, write_text_atomic
from base.logs import LOG_NAME, LogError
from base.processes import ROOT
from base.split import save_split
from training import runs
from training.callbacks import standard_callbacks
from training.config import TrainConfig
from training.dataplots import save_data_plots
from training.dataset import make_datasets
from training.distribute import StrategyError, make_distribution
from training.model import build_model
from training.options import build_parser, config_from_args
from training.plots import save_loss_plot
from training.runs import RunError

DEFAULT_DATA = TrainConfig().data
SAMPLE_RECORDING = Path("data/lake_sample")
SAMPLE_LAPS = 1.0


class TrainingFailed(RuntimeError):
    """Training ran but produced no usable model (e.g. the loss became NaN); the message says what to try."""


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    args = build_parser().parse_args(argv)
    try:
        return train(args)
    except (LogError, RunError, StrategyError, TrainingFailed, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # before the first epoch finished (later, train() keeps the best model)
        print("interrupted: nothing saved", file=sys.stderr)
        return 130


def train(args: argparse.Namespace) -> int:
    # -- configuration: defaults < --config FILE (or the resumed run's config.json) < flags ----------
    resume_dir = Path(args.resume).resolve() if args.resume else None
    if resume_dir and args.config:
        raise RunError("--resume uses the run's own config.json: leave out --config (flags still override it)")
    progress = runs.read_progress(resume_dir) if resume_dir else {"epochs_done": 0, "best_val_loss": math.inf}
    try:
        config = config_from_args(args, base=str(resume_dir / runs.CONFIG) if resume_dir else None)
    except ValueError as e:  # an unreadable --config file or unknown keys
        raise RunError(str(e)) from None
    if progress["epochs_done"] >= config.epochs:
        raise RunError(f"{resume_dir} already trained {progress['epochs_done']} of {config.epochs} epochs: "
                       "pass --epochs with a larger number to train longer")
    if config.val_fraction <= 0:
        raise RunError("--val-fraction 0 leaves no validation data to pick the best model by: use a value above 0")
    keras.utils.set_random_seed(config.seed)

    # -- data ----------------------------------------------------------------------------------------
    if config.data == DEFAULT_DATA and not any(Path(config.data[0]).rglob(LOG_NAME)):
        record_sample_session()
    dist = make_distribution(config.strategy)
    global_batch, lr = dist.global_batch(config.batch_size), dist.scaled_lr(config.lr)
    if dist.replicas > 1:
        print(f"{config.strategy}: {dist.replicas} replicas → global batch {global_batch}, learning rate {lr:g}")
    try:
        datasets = make_datasets(dataclasses.replace(config, batch_size=global_batch, lr=lr))
    except ValueError as e:  # LogError, and settings the data cannot satisfy (e.g. --bins 0)
        raise LogError(str(e)) from None
    print(f"data: {datasets.train_samples} training samples, {datasets.val_samples} validation samples")

    # -- run folder: created only once the data has loaded; of a cluster's workers, the chief's ------
    run_dir = (resume_dir or runs.create_run_dir(config.out)) if dist.is_chief else runs.scratch_run_dir()
    callbacks, best, last, nan_stop = standard_callbacks(
        run_dir, config.early_stopping_patience, config.reduce_lr_patience,
        best_val_loss=progress["best_val_loss"], tensorboard=config.tensorboard, append_history=bool(resume_dir),
    )
    try:
        write_text_atomic(run_dir / runs.CONFIG, config.to_json())
        if not resume_dir and dist.is_chief:
            save_split(run_dir, datasets.samples.rows, datasets.samples.val_rows)
            save_data_plots(datasets.samples, config, run_dir)

        # -- model -------------------------------------------------------------------------------------
        with dist.strategy.scope():
            if resume_dir:
                model = keras.models.load_model(resume_dir / runs.LAST_MODEL)
                print(f"resuming {run_dir} after epoch {progress['epochs_done']} "
                      f"(best val_loss {progress['best_val_loss']:.5f})")
            else:
                model = build_model(dropout=config.dropout, learning_rate=lr)
        model.summary()

        # -- training ------------------------------------------------------------------------------------
        verbose = 1 if sys.stdout.isatty() else 2  # progress bars on a terminal, one line per epoch in a log
        started = time.perf_counter()
        interrupted = False
        try:
            model.fit(datasets.train, validation_data=datasets.val, epochs=config.epochs,
                      initial_epoch=progress["epochs_done"], callbacks=callbacks, verbose=verbose,
                      shuffle=False)  # the training dataset reshuffles itself every epoch
        except KeyboardInterrupt:
            interrupted = True
        seconds = time.perf_counter() - started
        if nan_stop.nan_epoch and not last.epochs_done:
            raise TrainingFailed("the loss became NaN in the first epoch: lower --lr (e.g. --lr 1e-4) "
                                 "or check the steering values in the logs")
        if interrupted and not last.epochs_done:
            raise KeyboardInterrupt
    except BaseException:
        if not dist.is_chief or (not resume_dir and not last.epochs_done):  # nothing worth keeping
            runs.discard_run_dir(run_dir)
        raise
    if not dist.is_chief:
        runs.discard_run_dir(run_dir)
        print("worker done: the chief's run folder holds the trained model")
        return 0

    # -- results -------------------------------------------------------------------------------------------
    epochs_done = last.epochs_done or progress["epochs_done"]
    epochs_now = epochs_done - progress["epochs_done"]
    metrics = {
        "train_samples": datasets.train_samples,
        "val_samples": datasets.val_samples,
        "best_val_loss": best.best,
        "val_rmse": math.sqrt(best.best),  # the loss is the steering MSE
        "best_epoch": best.best_epoch,
        "epochs": epochs_done,
        "seconds": round(seconds, 1),
        "images_per_s": round(datasets.train_samples * epochs_now / seconds, 1) if epochs_now else None,
        "replicas": dist.replicas,
        "global_batch": global_batch,
        "interrupted": interrupted,
        "nan_loss": nan_stop.nan_epoch is not None,
    }
    write_json_atomic(run_dir / runs.METRICS, metrics)
    save_loss_plot(run_dir / runs.HISTORY, run_dir / runs.LOSS_PLOT)
    latest = runs.point_latest(run_dir)

    best_model = run_dir / runs.BEST_MODEL
    print(f"best model: {best_model} (val_loss {best.best:.5f}, steering RMSE {metrics['val_rmse']:.4f})"
          f"{f'; {latest} points to it' if latest else ''}")
    if nan_stop.nan_epoch:
        raise TrainingFailed(f"the loss became NaN in epoch {nan_stop.nan_epoch}; the best model before it is "
                             f"{best_model}. Lower --lr or check the steering values in the logs")
    if interrupted:
        print(f"interrupted: the best model so far is {best_model}; continue with --resume {run_dir}",
              file=sys.stderr)
        return 130
    return 0


def record_sample_session() -> None:
    """A fresh checkout has no recordings: drive a short session with the headless simulator.

    The simulator is another program to training, as the real one is, so it runs as one.
    """
    print(f"data/ holds no recording: recording {SAMPLE_LAPS:g} lap of the lake track with the headless "
          f"simulator into {SAMPLE_RECORDING}/ (record your own laps into data/ to train on them)", flush=True)
    command = [sys.executable, "-m", "sim.record", "--track", "lake", "--laps", f"{SAMPLE_LAPS:g}", "--recovery",
               "--out", str(SAMPLE_RECORDING.absolute())]
    done = subprocess.run(command, cwd=ROOT)
    if done.returncode != 0:
        raise LogError(f"recording the sample session failed ({' '.join(command[1:])} exited with {done.returncode}, "
                       "see above): record into data/ yourself, e.g. python -m sim.record --out data/lake")


if __name__ == "__main__":
    sys.exit(main())
