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
import sys
import time
from pathlib import Path

from training import runs
from training.config import SAMPLE_LAPS, SAMPLE_RECORDING, SAMPLE_TRACK, StrategyError, TrainConfig
from training.options import build_parser, config_from_args
from training.runs import RunError

DEFAULT_DATA = TrainConfig().data


class TrainingFailed(RuntimeError):
    """Training ran but produced no usable model (e.g. the loss became NaN); the message says what to try."""


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    args = build_parser().parse_args(argv)
    try:
        config, resume_dir, progress = settings(args)
    except RunError as e:  # settled before the log reader (pandas, 0.4 s) or TensorFlow is imported
        print(f"error: {e}", file=sys.stderr)
        return 2
    from base.logs import LogError

    try:
        return train(config, resume_dir, progress)
    except (LogError, RunError, StrategyError, TrainingFailed, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # before the first epoch finished (later, train() keeps the best model)
        print("interrupted: nothing saved", file=sys.stderr)
        return 130


def settings(args: argparse.Namespace) -> tuple[TrainConfig, Path | None, dict]:
    """The run's configuration, the run folder it resumes (or None) and that run's progress; RunError
    for settings no run can use. Defaults < --config FILE (or the resumed run's config.json) < flags."""
    resume_dir = Path(args.resume).resolve() if args.resume else None
    if resume_dir and args.config:
        raise RunError("--resume uses the run's own config.json: leave out --config (flags still override it)")
    progress = (runs.read_progress(resume_dir) if resume_dir
                else {"epochs_done": 0, "best_val_loss": math.inf, "best_val_autonomy": -math.inf})
    try:
        config = config_from_args(args, base=str(resume_dir / runs.CONFIG) if resume_dir else None)
    except ValueError as e:  # an unreadable --config file, unknown keys, a value out of range
        raise RunError(str(e)) from None
    if resume_dir and progress["epochs_done"] >= config.epochs:
        done = progress["epochs_done"]
        raise RunError(f"--resume {resume_dir}: that run has trained all {done} of its {config.epochs} epochs; "
                       f"pass --epochs with a number above {done} to train it longer")
    if not resume_dir:
        runs.check_out(config.out)
    return config, resume_dir, progress


def train(config: TrainConfig, resume_dir: Path | None, progress: dict) -> int:
    """Train as `settings` settled; returns the exit code (0, or 130 when interrupted after an epoch)."""
    from base.logs import LOG_NAME, LogError, find_logs

    record_sample = config.data == DEFAULT_DATA and not any(Path(config.data[0]).rglob(LOG_NAME))
    if not record_sample:
        find_logs(config.data)  # a wrong path fails now, not after TensorFlow has loaded

    # TensorFlow and Keras only now that every setting and path has passed its checks.
    import keras

    from base.atomic import write_json_atomic, write_text_atomic
    from base.split import save_split
    from training.callbacks import standard_callbacks
    from training.dataplots import save_data_plots
    from training.dataset import make_datasets
    from training.distribute import make_distribution
    from training.model import build_model
    from training.plots import save_loss_plot

    keras.utils.set_random_seed(config.seed)

    # -- data ----------------------------------------------------------------------------------------
    if record_sample:
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
        val_rows=datasets.samples.val_rows, select_by=config.select_by, val_max_offset_m=config.val_max_offset_m,
        best_val_autonomy=progress["best_val_autonomy"],
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
        "best_val_autonomy": best.best_autonomy if best.by == "autonomy" else None,
        "selected_by": best.by,
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
    chosen = f"replay autonomy {best.best_autonomy:.1f} % on the held-out blocks, " if best.by == "autonomy" else ""
    print(f"best model: {best_model} (epoch {best.best_epoch}: {chosen}val_loss {best.best:.5f}, "
          f"steering RMSE {metrics['val_rmse']:.4f})"
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
    """A fresh checkout has no recordings: drive a short session with the headless simulator."""
    from sim.record import record_session  # the simulator is only needed on this path

    print(f"data/ holds no recording: recording {SAMPLE_LAPS:g} lap of the {SAMPLE_TRACK} track with the headless "
          f"simulator into {SAMPLE_RECORDING}/ (record your own laps into data/ to train on them)")
    record_session(SAMPLE_TRACK, laps=SAMPLE_LAPS, out=Path(SAMPLE_RECORDING), recovery=True)


if __name__ == "__main__":
    sys.exit(main())
