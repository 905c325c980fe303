"""The `training.fit` command line, generated from the fields of `TrainConfig`.

Defaults and help texts live only in `training/config.py`; every flag here defaults to None so
that "not given" is distinguishable: defaults < `--config FILE` < explicit flags. `--help` shows what
users touch; the tuning settings `training.config` marks file_only have no flag and are listed, with
their defaults, under it (a --config file sets them).
"""
from __future__ import annotations

import argparse
import dataclasses
import textwrap
import typing
from typing import Any

from base.quiet_tensorflow import add_verbose_flag
from training.config import FILE_ONLY, HELP, PRECISIONS, STRATEGIES, TrainConfig, load_config

METAVARS = {"out": "DIR"}


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m training.fit", formatter_class=argparse.RawDescriptionHelpFormatter,
        description=textwrap.fill(
            "Train the steering network on simulator recordings; writes a run folder (model.keras = the last epoch, "
            "last.keras and progress.json for --resume, history.csv, plots, config.json, split.json = the held-out "
            "rows, metrics.json).", break_on_hyphens=False),
        epilog="settings of a --config JSON file (no flag), with their defaults:\n" + "\n".join(
            textwrap.fill(f"{name} ({_show(getattr(TrainConfig(), name))}): {HELP[name]}", initial_indent="  ",
                          subsequent_indent="      ", break_on_hyphens=False) for name in FILE_ONLY),
    )
    for field in dataclasses.fields(TrainConfig):
        if field.name not in FILE_ONLY:
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


def config_from_args(args: argparse.Namespace, base: str | None = None) -> TrainConfig:
    """Defaults, then the JSON file `base` (or --config), then every flag given explicitly."""
    overrides = {f.name: getattr(args, f.name, None) for f in dataclasses.fields(TrainConfig)}
    return load_config(base or args.config, **overrides)
