"""Train the steering network on simulator recordings.

    python -m training.fit                                  # every recording under data/
    python -m training.fit --data data/lake data/jungle --epochs 20
    python -m training.fit --resume models/latest --epochs 30
    python -m training.fit --help                           # every option and its default

Writes `models/<timestamp>/` (and points `models/latest` at it): model.keras (the last epoch),
last.keras (for --resume), history.csv, loss.png, the data plots, config.json,
split.json (the held-out rows: validation and test) and metrics.json (with the test blocks' replay).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import math
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from training import precision, runs
from training.config import SAMPLE_LAPS, SAMPLE_RECORDING, SAMPLE_TRACK, StrategyError, TrainConfig
from training.options import build_parser, config_from_args
from training.runs import Run, RunError

if TYPE_CHECKING:  # TensorFlow, Keras and pandas load only once every setting and path has passed
    import keras

    from evaluate.rule_choice import RuleChoice
    from training.callbacks import KeptCheckpoint, LastCheckpoint, StopOnNaN
    from training.dataset import Datasets
    from training.distribute import Distribution
    from training.samples import SampleSet

DEFAULT_DATA = TrainConfig().data


class TrainingFailed(RuntimeError):
    """Training ran but produced no usable model (e.g. the loss became NaN); the message says what to try."""


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    args = build_parser().parse_args(argv)
    from base.logs import LogError
    from base.split import SplitError

    try:
        resumed = Run.resume(args.resume) if args.resume else None
        config = configure(args, resumed)
        return train(config, resumed)
    except (LogError, RunError, SplitError, StrategyError, TrainingFailed, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # before the first epoch finished (later, train() keeps the model kept so far)
        print("interrupted: nothing saved", file=sys.stderr)
        return 130


def configure(args: argparse.Namespace, resumed: Run | None) -> TrainConfig:
    """The run's settings: defaults < --config FILE (or the resumed run's config.json) < flags; a RunError
    for settings no run can use, before the log reader or TensorFlow is imported."""
    if resumed and args.config:
        raise RunError("--resume uses the run's own config.json: leave out --config (flags still override it)")
    try:
        config = config_from_args(args, base=str(resumed.folder / runs.CONFIG) if resumed else None)
    except ValueError as e:  # an unreadable --config file, unknown or removed keys, a value out of range
        raise RunError(str(e)) from None
    if not resumed:
        runs.check_out(config.out)
        return config
    if resumed.epochs_done >= config.epochs:
        done = resumed.epochs_done
        raise RunError(f"--resume {resumed.folder}: that run has trained all {done} of its {config.epochs} epochs; "
                       f"pass --epochs with a number above {done} to train it longer")
    # Its kept model and the validation autonomy it was kept by are of one form: keep that form.
    trained = json.loads((resumed.folder / runs.CONFIG).read_text(encoding="utf-8"))
    if config.mirror_average != trained.get("mirror_average", False):
        raise RunError(f"--resume {resumed.folder}: that run keeps its model "
                       f"{'mirror-averaged' if trained.get('mirror_average', False) else 'as the network alone'}; "
                       "leave out --no-mirror-average or start a new run")
    return config


@dataclass
class Session:
    """What this session of a run trained: the callbacks whose state tells, and how it ended."""

    kept: KeptCheckpoint
    last: LastCheckpoint
    nan_stop: StopOnNaN
    seconds: float = 0.0
    interrupted: bool = False


def train(config: TrainConfig, resumed: Run | None) -> int:
    """Train as `configure` settled; returns the exit code (0, or 130 when interrupted after an epoch)."""
    from base.logformat import LOG_NAME
    from base.logs import find_logs

    record_sample = config.data == DEFAULT_DATA and not any(Path(config.data[0]).rglob(LOG_NAME))
    if not record_sample:
        find_logs(config.data)  # a wrong path fails now, not after TensorFlow has loaded

    import keras

    from training.callbacks import standard_callbacks
    from training.distribute import make_distribution

    keras.utils.set_random_seed(config.seed)
    if record_sample:
        record_sample_session()
    dist = make_distribution(config.strategy)
    choice = precision.detect(config.precision)
    print(f"training in {choice}")
    datasets = load_datasets(config, dist)

    # The run folder is created only once the data has loaded; of a cluster's workers, the chief's.
    run = (resumed or Run.create(config.out)) if dist.is_chief else Run.scratch(resumed)
    callbacks, kept, last, nan_stop = standard_callbacks(run, config, datasets.samples.val_rows,
                                                         on_policy_rounds(config, datasets, run), datasets.frames)
    session = Session(kept, last, nan_stop)
    with run.removed_if_failed_empty():
        run.begin(dataclasses.replace(config, precision=choice.precision), datasets.samples)  # resumes so
        with dist.strategy.scope(), precision.policy(choice.precision):
            model = make_model(config, run, dist, choice.precision)
        model.summary()
        fit_model(model, datasets, config, run, callbacks, session)
    return report(run, config, datasets, dist, session)


def on_policy_rounds(config: TrainConfig, datasets: Datasets, run: Run) -> keras.callbacks.Callback | None:
    """The DAgger rounds that feed `datasets.pool`, keeping the pool in the run folder; None without on-policy training."""
    from training.onpolicy import OnPolicyRounds

    if datasets.pool is None:
        return None
    return OnPolicyRounds(datasets.pool, config.on_policy_start, config.on_policy_max_offset_m, config.on_policy_noise,
                          config.seed, states_file=run.folder / runs.ON_POLICY_STATES,
                          restore_from=run.resumed_from / runs.ON_POLICY_STATES if run.resumed else None)


def make_model(config: TrainConfig, run: Run, dist: Distribution, precision_name: str) -> keras.Model:
    """A new model, or the resumed run's in `precision_name` (its own unless --precision says otherwise)."""
    from training.model import build_model

    def build() -> keras.Model:
        return build_model(learning_rate=dist.scaled_lr(config.lr))

    if not run.resumed:
        return build()
    print(f"resuming {run.folder} after epoch {run.epochs_done} (kept val_loss {run.kept_val_loss:.5f})")
    return precision.matched(run.last_model(), precision_name, build)


def fit_model(model: keras.Model, datasets: Datasets, config: TrainConfig, run: Run,
              callbacks: list[keras.callbacks.Callback], session: Session) -> None:
    """Train `model` for the run's remaining epochs; `session` learns how long it took and how it ended.
    TrainingFailed for a first epoch that went NaN, KeyboardInterrupt for one interrupted."""
    from base.atomic import DISK_FULL

    verbose = 1 if sys.stdout.isatty() else 2  # progress bars on a terminal, one line per epoch in a log
    started = time.perf_counter()
    try:
        model.fit(datasets.train, validation_data=datasets.val, epochs=config.epochs, initial_epoch=run.epochs_done,
                  callbacks=callbacks, verbose=verbose, shuffle=False)  # the dataset reshuffles itself every epoch
    except KeyboardInterrupt:
        session.interrupted = True
    except OSError as e:  # a checkpoint, progress.json or history.csv that did not fit on the disk
        if e.errno not in DISK_FULL:
            raise
        raise RunError(run.disk_full(e)) from None
    session.seconds = time.perf_counter() - started
    if session.nan_stop.nan_epoch and not session.last.epochs_done:
        raise TrainingFailed("the loss became NaN in the first epoch: lower --lr (e.g. --lr 1e-4) "
                             "or check the steering values in the logs")
    if session.interrupted and not session.last.epochs_done:
        raise KeyboardInterrupt


def report(run: Run, config: TrainConfig, datasets: Datasets, dist: Distribution, session: Session) -> int:
    """Finish the run (metrics.json, `latest`, the kept model's test replay) and say what it kept; the exit code."""
    kept_model = run.folder / runs.KEPT_MODEL
    metrics = run_metrics(run, config, datasets, dist, session)
    latest = run.finish(metrics)
    if not run.kept:
        print("worker done: the chief's run folder holds the trained model")
        return 0
    interrupted, kept = session.interrupted, session.kept
    if kept_model.is_file() and not interrupted:  # after finish: the run is complete whatever the replay does
        from training.callbacks import val_rule

        metrics.update(kept_model_metrics(kept_model, datasets.samples, val_rule(config)))
        runs.write_metrics(run.folder, metrics)
    chosen = f"replay autonomy {kept.val_autonomy:.1f} % on the validation blocks, " if math.isfinite(kept.val_autonomy) else ""
    epoch = "an epoch before this session" if kept.epoch is None else f"epoch {kept.epoch}"
    print(f"kept model: {kept_model} ({epoch}: {chosen}val_loss {kept.val_loss:.5f}, "
          f"steering RMSE {metrics['val_rmse']:.4f}){f'; {latest} points to it' if latest else ''}")
    if metrics.get("test_autonomy") is not None:
        print(f"on the test blocks, which chose nothing: replay autonomy {metrics['test_autonomy']:.1f} % "
              f"({metrics['test_interventions']} interventions in {metrics['test_replay_footage_s']:.0f} s, "
              f"{metrics['test_rule']} rule)")
    if session.nan_stop.nan_epoch:
        raise TrainingFailed(f"the loss became NaN in epoch {session.nan_stop.nan_epoch}; the model kept before it is "
                             f"{kept_model}. Lower --lr or check the steering values in the logs")
    if interrupted:
        print(f"interrupted: the model kept so far is {kept_model}; continue with --resume {run.folder}",
              file=sys.stderr)
        return 130
    return 0


def load_datasets(config: TrainConfig, dist: Distribution) -> Datasets:
    """The training and validation datasets at the strategy's global batch size and learning rate."""
    from base.logs import LogError
    from training.dataset import make_datasets

    global_batch, lr = dist.global_batch(config.batch_size), dist.scaled_lr(config.lr)
    if dist.replicas > 1:
        print(f"{config.strategy}: {dist.replicas} replicas → global batch {global_batch}, learning rate {lr:g}")
    try:
        datasets = make_datasets(dataclasses.replace(config, batch_size=global_batch, lr=lr))
    except ValueError as e:  # LogError, and settings the data cannot satisfy (e.g. --bins 0)
        raise LogError(str(e)) from None
    print(f"data: {datasets.train_samples} training samples, {datasets.val_samples} validation samples")
    return datasets


def run_metrics(run: Run, config: TrainConfig, datasets: Datasets, dist: Distribution,
                session: Session) -> dict[str, Any]:
    """metrics.json: what the run trained on and what its kept (last) epoch reached."""
    epochs_done = session.last.epochs_done or run.epochs_done
    epochs_now = epochs_done - run.epochs_done
    kept = session.kept
    return {
        "train_samples": datasets.train_samples,
        "val_samples": datasets.val_samples,
        "kept_val_loss": kept.val_loss,
        "kept_val_autonomy": kept.val_autonomy if math.isfinite(kept.val_autonomy) else None,
        # Replaced by model.keras's own once the run is complete; inf (null in the file) before any epoch.
        "val_rmse": math.sqrt(kept.val_loss),
        "kept_epoch": kept.epoch,
        "epochs": epochs_done,
        "seconds": round(session.seconds, 1),
        "images_per_s": round(datasets.train_samples * epochs_now / session.seconds, 1) if epochs_now else None,
        "replicas": dist.replicas,
        "global_batch": dist.global_batch(config.batch_size),
        "interrupted": session.interrupted,
        "nan_loss": session.nan_stop.nan_epoch is not None,
    }


def kept_model_metrics(model_path: Path, samples: SampleSet, rule: RuleChoice) -> dict[str, Any]:
    """metrics.json's test_* keys, the kept model driven closed-loop over the test rows (None without any), and
    its `val_rmse` on the validation rows' centre frames (what `training.rmse --split val` measures): the
    validation loss is the network's, and model.keras may steer mirror-averaged."""
    from base.runners import KerasRunner
    from base.runtime import load_keras_model
    from evaluate.replay import Footage, drive_model
    from training.rmse import steering_errors
    from training.samples import centre_samples

    runner = KerasRunner(load_keras_model(model_path))
    metrics = {"val_rmse": steering_errors(runner, centre_samples(samples.val_rows))[0]["rmse"]}
    footage = Footage.from_rows(samples.test_rows) if len(samples.test_rows) else None
    if footage is None or not footage.segments:
        return metrics | {"test_autonomy": None, "test_interventions": None, "test_replay_footage_s": None,
                          "test_rule": None}
    report = drive_model(footage, runner.predict, rule.build(footage)).report()
    return metrics | {"test_autonomy": report["autonomy_percent"], "test_interventions": report["interventions"],
                      "test_replay_footage_s": report["elapsed_s"], "test_rule": report["rule"]}


def record_sample_session() -> None:
    """A fresh checkout has no recordings: drive a short session with the headless simulator.

    The simulator is another program to training, as the real one is, so it runs as one.
    """
    from base.logs import LogError
    from base.processes import ROOT

    print(f"data/ holds no recording: recording {SAMPLE_LAPS:g} lap of the {SAMPLE_TRACK} track with the headless "
          f"simulator into {SAMPLE_RECORDING}/ (record your own laps into data/ to train on them)", flush=True)
    command = [sys.executable, "-m", "sim.record", "--track", SAMPLE_TRACK, "--laps", f"{SAMPLE_LAPS:g}", "--recovery",
               "--out", str(Path(SAMPLE_RECORDING).absolute())]
    done = subprocess.run(command, cwd=ROOT)
    if done.returncode != 0:
        raise LogError(f"recording the sample session failed ({' '.join(command[1:])} exited with {done.returncode}, "
                       "see above): record into data/ yourself, e.g. python -m sim.record --out data/lake")


if __name__ == "__main__":
    sys.exit(main())
