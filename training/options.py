"""The `training.fit` command line, generated from the fields of `TrainConfig`.

Defaults live only in `training/config.py`; every flag here defaults to None so that
"not given" is distinguishable: defaults < `--config FILE` < explicit flags.
"""
from __future__ import annotations

import argparse
import dataclasses
import typing
from typing import Any

from base.quiet_tensorflow import add_verbose_flag
from training.config import (
    PRECISIONS,
    SAMPLE_LAPS,
    SAMPLE_RECORDING,
    SAMPLE_TRACK,
    SELECT_BY,
    STRATEGIES,
    TrainConfig,
    load_config,
)

HELP = {
    "data": ("recording folders (or driving_log.csv files), searched recursively for driving_log.csv; when "
             f"the default folder holds none, {SAMPLE_LAPS:g} lap of {SAMPLE_TRACK} is first recorded into "
             f"{SAMPLE_RECORDING} with the headless simulator"),
    "skip_missing": "skip log rows whose images are missing instead of stopping with an error",
    "correction": "steering added for the left camera's frames and subtracted for the right camera's, e.g. 0.2; "
                  "unset: pure pursuit back to the path in --return-s seconds",
    "label_smoothing_s": "smooth the steering labels over this many seconds (centred moving average; 0: off)",
    "label_lead_s": "label each frame with the steering recorded this many seconds later (the driver's reaction; 0: off)",
    "bins": "steering histogram bins used to balance the data",
    "bin_cap": "samples kept per steering bin; unset means twice the mean bin count",
    "val_fraction": "share of each recording held out for validation",
    "val_block": "validation rows are taken in contiguous blocks of this many rows (~10 s at 15 Hz)",
    "augment": "augment the training batches (pan, zoom, brightness, flip)",
    "aug_probability": "probability with which each augmentation fires",
    "pan": "largest horizontal and vertical shift, as a share of the frame",
    "pan_steering_per_px": "steering correction per pixel of horizontal shift",
    "zoom": "zoom factor range (MIN MAX)",
    "brightness": "brightness factor range (MIN MAX)",
    "flip": "mirror frames left-right (and negate steering)",
    "viewpoint": "viewpoint augmentation: synthesise the view of the car moved sideways and turned, labelled "
                 "with the steering back to the recorded path",
    "viewpoint_probability": "probability with which a training frame is moved and turned",
    "shift_m": "largest sideways move, metres beside the frame's camera",
    "yaw_deg": "largest turn, degrees",
    "return_s": "labels of moved and side-camera frames return the car to the path in about this many seconds",
    "select_by": "keep the epoch with the best replay autonomy on the held-out blocks (autonomy) or the lowest "
                 "validation loss (loss)",
    "val_max_offset_m": "metres off the recorded path that count as an intervention when replaying the held-out blocks",
    "epochs": "number of epochs (early stopping may end sooner)",
    "batch_size": "batch size per replica; the global batch is this × replicas",
    "lr": "Adam learning rate for one replica; scaled linearly with the replicas",
    "dropout": "dropout rate before the dense layers (0: none)",
    "weight_average": "validate and keep an exponential moving average of the weights with this momentum, "
                      "e.g. 0.99 (0: the weights as trained)",
    "early_stopping_patience": "epochs without validation improvement before stopping (best weights kept)",
    "reduce_lr_patience": "epochs without validation improvement before halving the learning rate",
    "seed": "random seed for the split, balancing, augmentation and weights",
    "out": "folder in which each run gets its own <timestamp>/ folder, and 'latest' points to the newest",
    "workers": "parallel workers that load and augment batches",
    "cache_mb": "keep decoded frames in memory up to this many megabytes",
    "strategy": (
        "default: one device; mirrored: every local GPU (tf.distribute.MirroredStrategy; the CPU when "
        "there is none); multiworker: several machines (tf.distribute.MultiWorkerMirroredStrategy, set up by "
        "TF_CONFIG on each; only the chief keeps a run folder). With N replicas the global batch is "
        "N × --batch-size and the learning rate N × --lr"
    ),
    "precision": ("float32, or mixed bfloat16 (bfloat16 arithmetic, float32 weights; the saved and exported models "
                  "are float32 either way); auto: bfloat16 where the processor has bfloat16 instructions (CPU flags "
                  "avx512_bf16 or amx_bf16, a GPU of compute capability 8.0 or more), float32 elsewhere"),
    "tensorboard": "also write TensorBoard logs to RUN/tensorboard",
}

METAVARS = {"out": "DIR"}


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m training.fit",
        description="Train the steering network on simulator recordings; writes a run folder "
        "(model.keras = best validation loss, last.keras and progress.json for --resume, history.csv, plots, "
        "config.json, split.json = the held-out rows, metrics.json).",
    )
    for field in dataclasses.fields(TrainConfig):
        add_knob(parser, field.name)
    parser.add_argument("--config", metavar="FILE", help="JSON file of settings (flags given here override it)")
    parser.add_argument(
        "--resume", metavar="RUN_DIR",
        help="continue a run from its last.keras with its config.json and epoch count (flags given here override it)",
    )
    add_verbose_flag(parser)
    return parser


def add_knob(parser: argparse.ArgumentParser, name: str) -> None:
    """The flag of the TrainConfig field `name`, with its one help text and default; not given, it is None."""
    default, hint = getattr(TrainConfig(), name), typing.get_type_hints(TrainConfig)[name]
    text = HELP[name]
    if hint is bool:
        # A switch that turns the default off is spelled --no-<name>; one that turns it on, --<name>.
        flag = "--no-" + name.replace("_", "-") if default else _flag(name)
        parser.add_argument(flag, dest=name, action="store_const", const=not default, default=None,
                            help=f"{'do not ' if default else ''}{text} (default: {'on' if default else 'off'})")
        return
    kwargs: dict[str, Any] = {"dest": name, "default": None, "help": f"{text} (default: {_show(default)})"}
    if typing.get_origin(hint) is list:
        kwargs.update(nargs="+", metavar="PATH")
    elif typing.get_origin(hint) is tuple:
        kwargs.update(nargs=2, type=float, metavar=("MIN", "MAX"))
    elif name == "strategy":
        kwargs.update(choices=STRATEGIES)
    elif name == "select_by":
        kwargs.update(choices=SELECT_BY)
    elif name == "precision":
        kwargs.update(choices=PRECISIONS)
    else:
        kwargs["type"] = _scalar_type(hint)
        kwargs["metavar"] = METAVARS.get(name) or ("N" if kwargs["type"] is int else "X")
    parser.add_argument(_flag(name), **kwargs)


def _show(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return " ".join(str(v) for v in value)
    return "unset" if value is None else str(value)


def _scalar_type(hint: Any) -> type:
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    return args[0] if args else hint


def config_from_args(args: argparse.Namespace, base: str | None = None,
                     absent: dict[str, Any] | None = None) -> TrainConfig:
    """Defaults, then the JSON file `base` (or --config; `absent` fills keys it lacks), then every flag given explicitly."""
    overrides = {f.name: getattr(args, f.name) for f in dataclasses.fields(TrainConfig)}
    return load_config(base or args.config, absent, **overrides)
