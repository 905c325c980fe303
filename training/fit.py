"""Train the steering network on simulator recordings.

    python -m training.fit                                  # every recording under data/
    python -m training.fit --data data/lake data/jungle --epochs 20
    python -m training.fit --resume models/latest --epochs 30
    python -m training.fit --help                           # every option and its default

Writes `models/<timestamp>/` (and points `models/latest` at it): model.keras (best validation loss),
last.keras (for --resume), history.csv, loss.png, the data plots, config.json, split.json (the
held-out rows), progress.json (for --resume) and metrics.json.
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
from typing import Any

import keras

from base.logformat import LOG_NAME
from base.logs import LogError
from base.processes import ROOT
from base.split import SplitError
from training import runs
from training.callbacks import BestCheckpoint, LastCheckpoint, standard_callbacks
from training.config import TrainConfig
from training.dataset import Datasets, make_datasets
from training.distribute import Distribution, StrategyError, make_distribution
from training.model import build_model
from training.options import build_parser, config_from_args
from training.runs import Run, RunError

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
    except (LogError, RunError, SplitError, StrategyError, TrainingFailed, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # before the first epoch finished (later, train() keeps the best model)
        print("interrupted: nothing saved", file=sys.stderr)
        return 130


def train(args: argparse.Namespace) -> int:
    # -- configuration: defaults < --config FILE (or the resumed run's config.json) < flags ----------
    resumed = Run.resume(args.resume) if args.resume else None
    config = configure(args, resumed)
    keras.utils.set_random_seed(config.seed)

    # -- data ----------------------------------------------------------------------------------------
    if config.data == DEFAULT_DATA and not any(Path(config.data[0]).rglob(LOG_NAME)):
        record_sample_session()
    dist = make_distribution(config.strategy)
    datasets = load_datasets(config, dist)

    # -- run folder: created only once the data has loaded; of a cluster's workers, the chief's ------
    run = (resumed or Run.create(config.out)) if dist.is_chief else Run.scratch(resumed)
    callbacks, best, last, nan_stop = standard_callbacks(
        run.folder, config.early_stopping_patience, config.reduce_lr_patience,
        best_val_loss=run.best_val_loss, tensorboard=config.tensorboard, append_history=run.resumed,
    )
    with run.removed_if_failed_empty():
        run.begin(config, datasets.samples)

        # -- model -------------------------------------------------------------------------------------
        with dist.strategy.scope():
            if run.resumed:
                model = run.last_model()
                print(f"resuming {run.folder} after epoch {run.epochs_done} (best val_loss {run.best_val_loss:.5f})")
            else:
                model = build_model(dropout=config.dropout, learning_rate=dist.scaled_lr(config.lr))
        model.summary()

        # -- training ------------------------------------------------------------------------------------
        verbose = 1 if sys.stdout.isatty() else 2  # progress bars on a terminal, one line per epoch in a log
        started = time.perf_counter()
        interrupted = False
        try:
            model.fit(datasets.train, validation_data=datasets.val, epochs=config.epochs,
                      initial_epoch=run.epochs_done, callbacks=callbacks, verbose=verbose,
                      shuffle=False)  # the training dataset reshuffles itself every epoch
        except KeyboardInterrupt:
            interrupted = True
        seconds = time.perf_counter() - started
        if nan_stop.nan_epoch and not last.epochs_done:
            raise TrainingFailed("the loss became NaN in the first epoch: lower --lr (e.g. --lr 1e-4) "
                                 "or check the steering values in the logs")
        if interrupted and not last.epochs_done:
            raise KeyboardInterrupt

    # -- results -------------------------------------------------------------------------------------------
    latest = run.finish(run_metrics(run, config, datasets, dist, best, last, seconds, interrupted, nan_stop.nan_epoch))
    if not run.kept:
        print("worker done: the chief's run folder holds the trained model")
        return 0
    best_model = run.folder / runs.BEST_MODEL
    print(f"best model: {best_model} (val_loss {best.best:.5f}, steering RMSE {math.sqrt(best.best):.4f})"
          f"{f'; {latest} points to it' if latest else ''}")
    if nan_stop.nan_epoch:
        raise TrainingFailed(f"the loss became NaN in epoch {nan_stop.nan_epoch}; the best model before it is "
                             f"{best_model}. Lower --lr or check the steering values in the logs")
    if interrupted:
        print(f"interrupted: the best model so far is {best_model}; continue with --resume {run.folder}",
              file=sys.stderr)
        return 130
    return 0


def configure(args: argparse.Namespace, resumed: Run | None) -> TrainConfig:
    """The run's settings; a RunError for settings that cannot train."""
    if resumed and args.config:
        raise RunError("--resume uses the run's own config.json: leave out --config (flags still override it)")
    try:
        config = config_from_args(args, base=str(resumed.folder / runs.CONFIG) if resumed else None)
    except ValueError as e:  # an unreadable --config file or unknown keys
        raise RunError(str(e)) from None
    if resumed and resumed.epochs_done >= config.epochs:
        raise RunError(f"{resumed.folder} already trained {resumed.epochs_done} of {config.epochs} epochs: "
                       "pass --epochs with a larger number to train longer")
    if config.val_fraction <= 0:
        raise RunError("--val-fraction 0 leaves no validation data to pick the best model by: use a value above 0")
    return config


def load_datasets(config: TrainConfig, dist: Distribution) -> Datasets:
    """The training and validation datasets at the strategy's global batch size and learning rate."""
    global_batch, lr = dist.global_batch(config.batch_size), dist.scaled_lr(config.lr)
    if dist.replicas > 1:
        print(f"{config.strategy}: {dist.replicas} replicas → global batch {global_batch}, learning rate {lr:g}")
    try:
        datasets = make_datasets(dataclasses.replace(config, batch_size=global_batch, lr=lr))
    except ValueError as e:  # LogError, and settings the data cannot satisfy (e.g. --bins 0)
        raise LogError(str(e)) from None
    print(f"data: {datasets.train_samples} training samples, {datasets.val_samples} validation samples")
    return datasets


def run_metrics(run: Run, config: TrainConfig, datasets: Datasets, dist: Distribution, best: BestCheckpoint,
                last: LastCheckpoint, seconds: float, interrupted: bool, nan_epoch: int | None) -> dict[str, Any]:
    """metrics.json: what the run trained on and what it reached."""
    epochs_done = last.epochs_done or run.epochs_done
    epochs_now = epochs_done - run.epochs_done
    return {
        "train_samples": datasets.train_samples,
        "val_samples": datasets.val_samples,
        "best_val_loss": best.best,
        "val_rmse": math.sqrt(best.best),  # the loss is the steering MSE
        "best_epoch": best.best_epoch,
        "epochs": epochs_done,
        "seconds": round(seconds, 1),
        "images_per_s": round(datasets.train_samples * epochs_now / seconds, 1) if epochs_now else None,
        "replicas": dist.replicas,
        "global_batch": dist.global_batch(config.batch_size),
        "interrupted": interrupted,
        "nan_loss": nan_epoch is not None,
    }


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
