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


SELECT_BY = ("autonomy", "loss")


@dataclass
class TrainConfig:
    # data
    data: list[str] = field(default_factory=lambda: ["data"])  # recording folders, searched recursively
    skip_missing: bool = False  # skip rows whose images are missing instead of failing
    correction: float | None = 0.2  # steering added for the left camera, subtracted for the right; None: pure pursuit (return_s)
    label_smoothing_s: float = 0.0  # centred moving average of the steering labels over this many seconds (0: off)
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
    # viewpoint augmentation (DAVE-2): the car moved sideways and turned, labelled with the way back
    viewpoint: bool = False
    viewpoint_probability: float = 0.5
    shift_m: float = 0.4  # up to this far beside the sample's camera (half the side cameras' spacing)
    yaw_deg: float = 6.0  # turned up to this much
    return_s: float = 2.0  # labels return the car to the recorded path in about this time
    # model selection: each epoch the held-out blocks are replayed closed-loop (base.replay)
    select_by: str = "autonomy"  # autonomy: the best replay autonomy (ties: lower val_loss) | loss: val_loss
    val_max_offset_m: float = 1.0  # the replay's intervention rule for that choice
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
            raise ValueError(f"config file {path} does not exist: pass an existing JSON file to --config")
        except json.JSONDecodeError as e:
            raise ValueError(f"config file {path} is not valid JSON ({e}): fix it or leave out --config")
    values.update({k: v for k, v in overrides.items() if v is not None})
    known = {f.name for f in dataclasses.fields(TrainConfig)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(f"unknown configuration keys {unknown}: known keys are {sorted(known)}")
    if values.get("select_by", "autonomy") not in SELECT_BY:
        raise ValueError(f"select_by is {values['select_by']!r}: use one of {', '.join(SELECT_BY)}")
    for key in ("zoom", "brightness"):
        if key in values:
            values[key] = tuple(values[key])
    return TrainConfig(**values)
