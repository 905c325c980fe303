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

import simulator_config

STRATEGIES = ("default", "mirrored", "multiworker")  # `training.distribute` builds each
PRECISIONS = ("auto", "float32", "bfloat16")  # `training.precision` decides what auto means on this machine
# The replay's intervention rule (NVIDIA's 1 m) is the simulator side's; validation replays by it too.
REPLAY_MAX_OFFSET_M = float(simulator_config.load()["replay"]["max_offset_m"])
# With the default `data` and no recording in it, `training.fit` first records this much with the
# headless simulator, so the first command of a fresh checkout trains on something.
SAMPLE_RECORDING = "data/lake_sample"
SAMPLE_TRACK, SAMPLE_LAPS = "lake", 1.0

# Settings removed because their experiments never helped (docs/driving.md, "What was tried"; their code is at
# commit 22fd021): the value at which each did what training does today. A config.json that names one at that
# value (every run folder made before the removal names them all) trains as it says; any other value is
# refused with the way out. The knobs that acted only with one of these on are ignored at any value.
REMOVED = {"correction": None, "label_smoothing_s": 0.0, "appearance": False, "viewpoint": False,
           "bend_probability": 0.0, "pose_weight": 0.0, "dropout": 0.0, "weight_average": 0.0, "select_by": "last"}
# cache_mb: renamed memory_mb (a budget with the frames on disk beyond it); a run's old value is not a setting of it.
REMOVED_KNOBS = ("viewpoint_probability", "shift_m", "yaw_deg", "bend_curvature", "early_stopping_patience", "cache_mb")
REMOVED_AT = "22fd021"


class StrategyError(ValueError):
    """The requested strategy cannot run here; the message says what to do instead."""


@dataclass
class TrainConfig:
    # Each field's help is its `--flag`'s help in `python -m training.fit --help` (training.options adds
    # the default), so text and default sit together here and nowhere else. "file_only": a tuning setting
    # users rarely touch, set in a --config file (its name and default listed below --help), with no flag.
    # data
    data: list[str] = field(default_factory=lambda: ["data"], metadata={"help": (
        "recording folders (or driving_log.csv files), searched recursively for driving_log.csv; when the "
        f"default folder holds none, {SAMPLE_LAPS:g} lap of {SAMPLE_TRACK} is first recorded into {SAMPLE_RECORDING} "
        "with the headless simulator")})
    skip_missing: bool = field(default=False, metadata={
        "help": "skip log rows whose images are missing instead of stopping with an error"})
    label_lead_s: float = field(default=0.15, metadata={
        "help": "label each frame with the steering recorded this many seconds later (the driver's reaction; 0: off)"})
    bins: int = field(default=25, metadata={"file_only": True, "help": "steering histogram bins used to balance the data"})
    bin_cap: int | None = field(default=None, metadata={"file_only": True,
        "help": "samples kept per steering bin; unset means twice the mean bin count"})
    val_fraction: float = field(default=0.2, metadata={"help": "share of each recording held out of training, for validation and test"})
    val_block: int = field(default=150, metadata={
        "help": "held-out rows are taken in contiguous blocks of this many rows (~10 s at 15 Hz)"})
    # Whatever picks the kept epoch flatters it on the rows it picked by: the test blocks pick nothing.
    test_share: float = field(default=0.5, metadata={"help": (
        "share of the held-out rows kept as test blocks: they choose nothing (not the learning rate) and are "
        "replayed once at the end, to report how the kept model drives "
        "footage no part of training has seen (0: all of them validate)")})
    # augmentation (training batches only); each operation fires with its own probability
    augment: bool = field(default=True, metadata={"help": "augment the training batches (pan, zoom, brightness, flip)"})
    aug_probability: float = field(default=0.5, metadata={"file_only": True, "help": "probability with which each augmentation fires"})
    pan: float = field(default=0.1, metadata={"file_only": True, "help": "largest horizontal and vertical shift, as a share of the frame"})
    pan_steering_per_px: float = field(default=0.004, metadata={"file_only": True,
        "help": "steering correction per pixel of horizontal shift"})
    zoom: tuple[float, float] = field(default=(1.0, 1.3), metadata={"file_only": True, "help": "zoom factor range (MIN MAX)"})
    brightness: tuple[float, float] = field(default=(0.4, 1.2), metadata={"file_only": True, "help": "brightness factor range (MIN MAX)"})
    flip: bool = field(default=True, metadata={"file_only": True, "help": "mirror frames left-right (and negate steering)"})
    return_s: float = field(default=1.3, metadata={"file_only": True,
        "help": "labels of side-camera frames and on-policy states return the car to the path in about this many seconds"})
    # on-policy training (DAgger, training.onpolicy): before each epoch from on_policy_start + 1 on, the
    # model drives its training footage in the replay, and the states it reaches join the batches
    on_policy_share: float = field(default=0.5, metadata={"help": (
        "on-policy training (DAgger): share of every batch filled with the states the model itself reaches when it "
        "drives the training footage in the replay, labelled with the way back to the recorded path (0: off)")})
    on_policy_start: int = field(default=2, metadata={
        "help": "epochs of plain cloning before the model first drives for on-policy states"})
    on_policy_max_offset_m: float = field(default=2.0, metadata={"file_only": True,
        "help": "metres off the path at which the on-policy replay puts the car back on it"})
    on_policy_noise: float = field(default=0.2, metadata={"help": (
        "steering noise (standard deviation, drifting over about a second) added to the model's commands while it "
        "drives for on-policy states, so it also reaches the states a slightly biased model would (DART; 0: off)")})
    # Averaging with the mirror image took away most of one driver's model's misses on another's lap (docs/driving.md)
    mirror_average: bool = field(default=True, metadata={"help": (
        "mirror-average model.keras: steer by the mean of the network's steering of a frame and the negated steering "
        "of the frame's mirror image, exactly symmetric between left and right, for a second pass through the network "
        "(base.mirror)")})
    # Udacity's test is the road's: a model that drives another line on the asphalt is not out (docs/driving.md)
    val_rule: str = field(default="road", metadata={"file_only": True, "help": (
        "what counts as an intervention when replaying the held-out blocks (per epoch, and the test blocks at the "
        "end): road, a tyre leaving the drivable surface (evaluate.road_rule); line, val_max_offset_m off the "
        "recorded path")})
    val_max_offset_m: float = field(default=REPLAY_MAX_OFFSET_M, metadata={"file_only": True,
        "help": "with val_rule line: metres off the recorded path that count as an intervention"})
    # optimisation: every epoch runs and model.keras is the last (choosing an epoch by the replay of a few held-out
    # blocks, or by the validation loss, picked immature epochs and stopped runs too early: docs/driving.md)
    epochs: int = field(default=10, metadata={"help": "number of epochs, all run; model.keras is the last"})
    batch_size: int = field(default=64, metadata={
        "help": "batch size per replica; the global batch is this × replicas"})
    lr: float = field(default=1e-3, metadata={
        "help": "Adam learning rate for one replica; scaled linearly with the replicas"})
    reduce_lr_patience: int = field(default=2, metadata={"file_only": True,
        "help": "epochs without validation improvement before halving the learning rate"})
    seed: int = field(default=0, metadata={"help": "random seed for the split, balancing, augmentation and weights"})
    # machinery
    out: str = field(default="models", metadata={
        "help": "folder in which each run gets its own <timestamp>/ folder, and 'latest' points to the newest"})
    workers: int = field(default=2, metadata={"help": "parallel workers that load and augment batches"})
    # With the ~2 GB the rest of a fit takes, 1,024 MB keeps a fit within an 8 GB laptop; beyond it the frames stay
    # in the page cache while RAM is free (docs/benchmarks.md, "Training as the data grows")
    memory_mb: int = field(default=1024, metadata={"help": (
        "keep the decoded frames (the rows training reads) in memory up to this many megabytes; beyond it they go "
        "to a file in the system's temporary folder, read through the page cache, deleted when training ends")})
    strategy: str = field(default="default", metadata={"help": (
        "default: one device; mirrored: every local GPU (tf.distribute.MirroredStrategy; the CPU when there is "
        "none); multiworker: several machines (tf.distribute.MultiWorkerMirroredStrategy, set up by TF_CONFIG on "
        "each; only the chief keeps a run folder). With N replicas the global batch is N × --batch-size and the "
        "learning rate N × --lr")})
    # a run's config.json records the precision it trained in
    precision: str = field(default="auto", metadata={"help": (
        "float32, or mixed bfloat16 (bfloat16 arithmetic, float32 weights; the saved and exported models are "
        "float32 either way); auto: bfloat16 where the processor has bfloat16 instructions (CPU flags "
        "avx512_bf16 or amx_bf16, a GPU of compute capability 8.0 or more), float32 elsewhere")})
    tensorboard: bool = field(default=False, metadata={"help": "also write TensorBoard logs to RUN/tensorboard"})

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=2)

    def check(self) -> None:
        """Raise ValueError, naming the flag, for a value no run can use (caught before anything loads)."""
        def need(ok: bool, name: str, rule: str) -> None:
            if not ok:
                raise ValueError(f"{_named(name)} must be {rule}, not {_shown(getattr(self, name))}")

        for name in ("epochs", "batch_size", "val_block", "bins", "workers"):
            need(getattr(self, name) >= 1, name, "at least 1")
        need(self.bin_cap is None or self.bin_cap >= 1, "bin_cap", "at least 1")
        need(0 < self.val_fraction < 1, "val_fraction", "between 0 and 1 (0 would leave no validation data)")
        need(0 <= self.test_share < 1, "test_share", "from 0 up to (not including) 1, e.g. 0.5 (every held-out "
             "row a test row would leave none to validate)")
        need(self.lr > 0, "lr", "positive")
        need(0 <= self.aug_probability <= 1, "aug_probability", "from 0 to 1")
        need(0 <= self.pan < 1, "pan", "a share of the frame from 0 up to (not including) 1")
        low, high = self.zoom if len(self.zoom) == 2 else (0, 0)  # a JSON list of another length fails too
        need(0 < low <= high, "zoom", "MIN MAX with 0 < MIN <= MAX")
        low, high = self.brightness if len(self.brightness) == 2 else (-1, -1)
        need(0 <= low <= high, "brightness", "MIN MAX with 0 <= MIN <= MAX")
        for name in ("reduce_lr_patience", "memory_mb"):
            need(getattr(self, name) >= 0, name, "0 or more")
        need(self.strategy in STRATEGIES, "strategy", f"one of {', '.join(STRATEGIES)}")
        need(self.precision in PRECISIONS, "precision", f"one of {', '.join(PRECISIONS)}")
        need(self.label_lead_s >= 0, "label_lead_s", "0 or more")
        need(0 <= self.on_policy_share < 1, "on_policy_share", "from 0 (off) up to (not including) 1, e.g. 0.5")
        need(self.on_policy_start >= 0, "on_policy_start", "0 or more")
        from evaluate.rules import RULE_NAMES  # here, not at the top: --help imports no NumPy

        need(self.val_rule in RULE_NAMES, "val_rule", f"one of {', '.join(RULE_NAMES)}")
        need(0 <= self.on_policy_noise <= 0.5, "on_policy_noise", "from 0 (off) to 0.5, e.g. 0.2")
        for name in ("return_s", "val_max_offset_m", "on_policy_max_offset_m"):
            need(getattr(self, name) > 0, name, "positive")
        need(bool(self.data), "data", "one or more recording folders")


HELP = {f.name: f.metadata["help"] for f in dataclasses.fields(TrainConfig)}  # the flag's help of every field
FILE_ONLY = tuple(f.name for f in dataclasses.fields(TrainConfig) if f.metadata.get("file_only"))


def _named(name: str) -> str:
    """How a user sets `name`: its flag, or (no flag in training.fit) its key in a --config file."""
    return f'"{name}"' if name in FILE_ONLY else "--" + name.replace("_", "-")


def _shown(value: Any) -> str:
    return " ".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)


def load_config(path: str | Path | None = None, **overrides: Any) -> TrainConfig:
    """Defaults, then the JSON file at `path`, then `overrides` (None values are ignored); checked. A
    REMOVED key at its neutral value is ignored (run folders made before the removal name them all)."""
    values: dict[str, Any] = {}
    if path is not None:
        try:
            values.update(json.loads(Path(path).read_text(encoding="utf-8")))
        except FileNotFoundError:
            raise ValueError(f"config file {path} does not exist: pass an existing JSON file to --config") from None
        except json.JSONDecodeError as e:
            raise ValueError(f"config file {path} is not valid JSON ({e}): fix it or leave out --config") from None
    values.update({k: v for k, v in overrides.items() if v is not None})
    _drop_removed(values, path)
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


def _drop_removed(values: dict[str, Any], path: str | Path | None) -> None:
    """Take the REMOVED settings out of `values`; ValueError for one set to anything but what training does today."""
    for key in sorted(set(values) & {*REMOVED, *REMOVED_KNOBS}):
        value = values.pop(key)
        if key in REMOVED and value != REMOVED[key]:
            raise ValueError(f"{path or 'the settings'}: \"{key}\" was removed (its experiment never helped: "
                             f"docs/driving.md); delete the key to train as today, or check out commit {REMOVED_AT} "
                             "to reproduce that run")
