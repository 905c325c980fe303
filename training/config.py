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

STRATEGIES = ("default", "mirrored", "multiworker")  # `training.distribute` builds each
PRECISIONS = ("auto", "float32", "bfloat16")  # `training.precision` decides what auto means on this machine
SELECT_BY = ("autonomy", "loss")  # what picks the kept epoch: the replay of the held-out blocks, or val_loss
# With the default `data` and no recording in it, `training.fit` first records this much with the
# headless simulator, so the first command of a fresh checkout trains on something.
SAMPLE_RECORDING = "data/lake_sample"
SAMPLE_TRACK, SAMPLE_LAPS = "lake", 1.0


# What a run made before a setting existed trained with, where today's default differs: a resumed run
# goes on as it was trained (its config.json lacks the key).
BEFORE_IT_EXISTED = {"label_lead_s": 0.0, "select_by": "loss", "precision": "float32"}


class StrategyError(ValueError):
    """The requested strategy cannot run here; the message says what to do instead."""


@dataclass
class TrainConfig:
    # data
    data: list[str] = field(default_factory=lambda: ["data"])  # recording folders, searched recursively
    skip_missing: bool = False  # skip rows whose images are missing instead of failing
    # Side-camera labels: None, pure pursuit back to the path in return_s (their size then follows the
    # speed); a number, that much steering added for the left camera and subtracted for the right.
    correction: float | None = None
    label_smoothing_s: float = 0.0  # centred moving average of the steering labels over this many seconds (0: off)
    label_lead_s: float = 0.15  # each frame labelled with the steering recorded this many seconds later (0: off)
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
    return_s: float = 1.3  # labels return the car to the recorded path in about this time
    # on-policy training (DAgger): from epoch on_policy_start + 1 on, before each epoch the model drives its
    # training footage in the replay; the states it reaches, labelled with the way back to the recorded
    # path (return_s), fill on_policy_share of every batch. 0 share: off (plain cloning)
    on_policy_share: float = 0.0
    on_policy_start: int = 2  # epochs of plain cloning before the model first drives
    on_policy_max_offset_m: float = 2.0  # the replay puts the car back on the path beyond this
    # model selection: each epoch the held-out blocks are replayed closed-loop (base.replay)
    select_by: str = "autonomy"  # autonomy: the best replay autonomy (ties: lower val_loss) | loss: val_loss
    val_max_offset_m: float = 1.0  # the replay's intervention rule for that choice
    # optimisation
    epochs: int = 10
    batch_size: int = 64
    lr: float = 1e-3
    dropout: float = 0.0
    weight_average: float = 0.0  # EMA momentum of the weights each epoch validates and keeps (Polyak averaging); 0: off
    early_stopping_patience: int = 4
    reduce_lr_patience: int = 2
    seed: int = 0
    # machinery
    out: str = "models"
    workers: int = 2  # parallel augmentation workers
    cache_mb: int = 6000  # keep decoded frames in memory up to this size
    strategy: str = "default"  # one of STRATEGIES
    precision: str = "auto"  # one of PRECISIONS; a run's config.json records the one it trained in
    tensorboard: bool = False

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=2)

    def check(self) -> None:
        """Raise ValueError, naming the flag, for a value no run can use (caught before anything loads)."""
        def need(ok: bool, name: str, rule: str) -> None:
            if not ok:
                raise ValueError(f"--{name.replace('_', '-')} must be {rule}, not {_shown(getattr(self, name))}")

        for name in ("epochs", "batch_size", "val_block", "bins", "workers"):
            need(getattr(self, name) >= 1, name, "at least 1")
        need(self.bin_cap is None or self.bin_cap >= 1, "bin_cap", "at least 1")
        need(0 < self.val_fraction < 1, "val_fraction", "between 0 and 1 (0 would leave no validation "
             "data to pick the best model by)")
        need(self.lr > 0, "lr", "positive")
        need(0 <= self.dropout < 1, "dropout", "from 0 up to (not including) 1")
        need(0 <= self.weight_average < 1, "weight_average", "from 0 (off) up to (not including) 1, e.g. 0.99")
        need(0 <= self.aug_probability <= 1, "aug_probability", "from 0 to 1")
        need(0 <= self.pan < 1, "pan", "a share of the frame from 0 up to (not including) 1")
        low, high = self.zoom if len(self.zoom) == 2 else (0, 0)  # a JSON list of another length fails too
        need(0 < low <= high, "zoom", "MIN MAX with 0 < MIN <= MAX")
        low, high = self.brightness if len(self.brightness) == 2 else (-1, -1)
        need(0 <= low <= high, "brightness", "MIN MAX with 0 <= MIN <= MAX")
        for name in ("early_stopping_patience", "reduce_lr_patience", "cache_mb"):
            need(getattr(self, name) >= 0, name, "0 or more")
        need(self.strategy in STRATEGIES, "strategy", f"one of {', '.join(STRATEGIES)}")
        need(self.precision in PRECISIONS, "precision", f"one of {', '.join(PRECISIONS)}")
        need(self.select_by in SELECT_BY, "select_by", f"one of {', '.join(SELECT_BY)}")
        need(0 <= self.viewpoint_probability <= 1, "viewpoint_probability", "from 0 to 1")
        for name in ("shift_m", "yaw_deg", "label_smoothing_s", "label_lead_s"):
            need(getattr(self, name) >= 0, name, "0 or more")
        need(0 <= self.on_policy_share < 1, "on_policy_share", "from 0 (off) up to (not including) 1, e.g. 0.5")
        need(self.on_policy_start >= 0, "on_policy_start", "0 or more")
        for name in ("return_s", "val_max_offset_m", "on_policy_max_offset_m"):
            need(getattr(self, name) > 0, name, "positive")
        need(bool(self.data), "data", "one or more recording folders")


def _shown(value: Any) -> str:
    return " ".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)


def load_config(path: str | Path | None = None, absent: dict[str, Any] | None = None, **overrides: Any) -> TrainConfig:
    """Defaults, then the JSON file at `path` (with `absent`'s values for keys it lacks), then `overrides`
    (None values are ignored); checked."""
    values: dict[str, Any] = {}
    if path is not None:
        try:
            values.update(absent or {})
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
    try:
        config = TrainConfig(**values)
        config.check()
    except TypeError as e:  # a JSON value of the wrong type, e.g. "epochs": "ten"
        raise ValueError(f"a setting has the wrong type ({e}): fix {path or 'the settings'}") from None
    return config
