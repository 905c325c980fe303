"""The `training.fit` command line, generated from the fields of `TrainConfig`.

Defaults and help texts live only in `training/config.py`; every flag here defaults to None so
that "not given" is distinguishable: defaults < `--config FILE` < explicit flags. The options
`training.config` marks experimental work like every other but are left out of `--help`, which shows
what users should touch; `--help-experimental` lists them.
"""
from __future__ import annotations

import argparse
import dataclasses
import typing
from typing import Any

from base.quiet_tensorflow import add_verbose_flag
from training.config import EXPERIMENTAL, HELP, PRECISIONS, SELECT_BY, STRATEGIES, TrainConfig, load_config

METAVARS = {"out": "DIR"}


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m training.fit",
        description="Train the steering network on simulator recordings; writes a run folder "
        f"(model.keras = {SELECT_BY[TrainConfig().select_by]} (--select-by), last.keras and progress.json "
        "for --resume, history.csv, plots, config.json, split.json = the held-out rows, metrics.json).",
        epilog=f"--help-experimental lists {len(EXPERIMENTAL)} more options, of experiments that have not (yet) helped.",
    )
    for field in dataclasses.fields(TrainConfig):
        add_knob(parser, field.name)
    parser.add_argument("--help-experimental", action=ExperimentalHelp, nargs=0, help=argparse.SUPPRESS)
    parser.add_argument("--config", metavar="FILE", help="JSON file of settings (flags given here override it)")
    parser.add_argument(
        "--resume", metavar="RUN_DIR",
        help="continue a run from its last.keras with its config.json and epoch count (flags given here override it)",
    )
    add_verbose_flag(parser)
    return parser


class ExperimentalHelp(argparse.Action):
    """`--help-experimental`: the experimental options, as --help would show them, then exit."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        listing = argparse.ArgumentParser(
            prog=parser.prog, usage=argparse.SUPPRESS, add_help=False,
            description="Experimental options: off by default, because their experiments have not (yet) measurably "
            "helped (docs/driving.md). They work like any other option, also in --config files.")
        for name in EXPERIMENTAL:
            add_knob(listing, name, shown=True)
        listing.print_help()
        parser.exit()


def add_knob(parser: argparse.ArgumentParser, name: str, shown: bool = False) -> None:
    """The flag of the TrainConfig field `name`, with its one help text and default; not given, it is None.
    An experimental field's flag works but is left out of the help, unless `shown`."""
    default, hint = getattr(TrainConfig(), name), typing.get_type_hints(TrainConfig)[name]
    text = HELP[name]
    hidden = name in EXPERIMENTAL and not shown
    if hint is bool:
        # A switch that turns the default off is spelled --no-<name>; one that turns it on, --<name>.
        flag = "--no-" + name.replace("_", "-") if default else _flag(name)
        parser.add_argument(flag, dest=name, action="store_const", const=not default, default=None,
                            help=argparse.SUPPRESS if hidden else
                            f"{'do not ' if default else ''}{text} (default: {'on' if default else 'off'})")
        return
    kwargs: dict[str, Any] = {"dest": name, "default": None,
                              "help": argparse.SUPPRESS if hidden else f"{text} (default: {_show(default)})"}
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
