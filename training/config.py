"""Every training knob and its default, in one place (nanoGPT-style).

`python -m training.fit` builds its command line from these fields; `--config FILE` (JSON) overrides
the defaults and explicit flags override the file. A run folder stores the result as `config.json`.
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class TrainConfig:
    # data
    data: list[str] = field(default_factory=lambda: ["data"])  # recording folders, searched recursively
    skip_missing: bool = False  # skip rows whose images are missing instead of failing
    correction: float = 0.2  # steering added for the left camera, subtracted for the right
    bins: int = 25  # steering histogram bins for balancing
    bin_cap: int | None = None  # samples kept per bin; None: twice the mean bin count
    val_fraction: float = 0.2  # share of each recording held out for validation
    val_block: int = 150  # validation is taken in contiguous blocks of this many rows (~10 s)
    # augmentation (training batches only); each operation fires with its own probability
    augment: bool = True
    aug_probability: float = 0.5
    pan: float = 0.1  # translate up to ±10 % of width and height
    pan_steering_per_px: float = 0.004  # steering correction per pixel of horizontal shift
    zoom: tuple[float, float] = (1.0, 1.3)
    brightness: tuple[float, float] = (0.4, 1.2)
    flip: bool = True
    # optimisation
    epochs: int = 10
    batch_size: int = 64
    lr: float = 1e-3
    dropout: float = 0.0
    early_stopping_patience: int = 4
    reduce_lr_patience: int = 2
    seed: int = 0
    # machinery
    out: str = "models"
    workers: int = 2  # parallel augmentation workers
    cache_mb: int = 6000  # keep decoded frames in memory up to this size
    strategy: str = "default"  # default | mirrored | multiworker
    tensorboard: bool = False

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=2)


def load_config(path: str | Path | None = None, **overrides: Any) -> TrainConfig:
    """Defaults, then the JSON file at `path`, then `overrides` (None values are ignored)."""
    values: dict[str, Any] = {}
    if path is not None:
        try:
            values.update(json.loads(Path(path).read_text(encoding="utf-8")))
        except FileNotFoundError:
            raise ValueError(f"config file {path} does not exist: pass an existing JSON file to --config") from None
        except json.JSONDecodeError as e:
            raise ValueError(f"config file {path} is not valid JSON ({e}): fix it or leave out --config") from None
    values.update({k: v for k, v in overrides.items() if v is not None})
    known = {f.name for f in dataclasses.fields(TrainConfig)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(f"unknown configuration keys {unknown}: known keys are {sorted(known)}")
    for key in ("zoom", "brightness"):
        if key in values:
            values[key] = tuple(values[key])
    return TrainConfig(**values)
