"""Training precision (`--precision`): float32, or Keras's mixed bfloat16 where the hardware computes it.

Mixed bfloat16 keeps the variables in float32 and runs the layers' arithmetic in bfloat16. Processors
with bfloat16 instructions (x86 `avx512_bf16` or `amx_bf16`; GPUs from compute capability 8.0, Ampere)
train faster that way (1.8× measured on an AVX-512 BF16 EPYC); elsewhere TensorFlow emulates bfloat16
and training gets several times slower, so `auto` picks it only where the instructions are there.
(ARM's `bf16` feature is not counted: not measured.) The model's preprocessing and its steering
output stay float32 in every precision (`training.model`), and every model a run keeps for driving is
a float32 copy (`Float32View`), so drive.py, evaluation, the replay and the exports never see bfloat16.
"""
from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from base.runtime import computes_in_bfloat16, float32_copy

if TYPE_CHECKING:  # Keras loads only once every setting has passed
    import keras
    import numpy as np

log = logging.getLogger(__name__)

BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")  # /proc/cpuinfo's names for the x86 bfloat16 instructions
BF16_GPU_CAPABILITY = (8, 0)  # NVIDIA Ampere: the first GPUs with bfloat16 tensor cores
CPUINFO = Path("/proc/cpuinfo")
KERAS_POLICY = {"float32": "float32", "bfloat16": "mixed_bfloat16"}
_LACKS = f"CPU lacks {'/'.join(BF16_CPU_FLAGS)}"


@dataclass(frozen=True)
class Choice:
    precision: str  # "float32" or "bfloat16"
    reason: str

    def __str__(self) -> str:
        return f"{self.precision}: {self.reason}"


def cpu_flags(cpuinfo: str | None = None) -> set[str] | None:
    """The CPU's feature flags from /proc/cpuinfo's text (read from the system when None); None where unknown."""
    if cpuinfo is None:
        try:
            cpuinfo = CPUINFO.read_text(encoding="utf-8", errors="replace")
        except OSError:  # not Linux
            return None
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):  # x86 | ARM
            return set(value.split())
    return None


def choose(requested: str, flags: set[str] | None, gpus: list[tuple[int, int]] | None = None) -> Choice:
    """The precision to train in: `requested` unless "auto", which picks bfloat16 only where the device
    that trains has bfloat16 instructions. `gpus`: the compute capability of each GPU (training runs on
    them when there are any), `flags`: the CPU's flags otherwise (None: unknown)."""
    if gpus:
        native = all(capability >= BF16_GPU_CAPABILITY for capability in gpus)
        has = "every GPU has bfloat16 (compute capability ≥ 8.0)" if native else \
            "a GPU lacks bfloat16 (compute capability < 8.0)"
    elif flags is None:
        native, has = False, "CPU flags unknown (no /proc/cpuinfo)"
    else:
        found = sorted(set(BF16_CPU_FLAGS) & flags)
        native, has = bool(found), f"CPU has {'/'.join(found)}" if found else _LACKS
    if requested == "auto":
        return Choice("bfloat16" if native else "float32", has)
    if requested == "bfloat16" and not native:
        return Choice(requested, f"asked for ({has}: emulated, expect slower training than float32)")
    return Choice(requested, f"asked for ({has})")


def detect(requested: str) -> Choice:
    """`choose` on this machine's hardware; imports TensorFlow (call it once the strategy is made)."""
    import tensorflow as tf

    gpus = [tuple(tf.config.experimental.get_device_details(gpu).get("compute_capability", (0, 0)))
            for gpu in tf.config.list_physical_devices("GPU")]
    return choose(requested, cpu_flags(), gpus)


@contextlib.contextmanager
def policy(precision: str) -> Iterator[None]:
    """Models built or loaded inside compute in `precision` (Keras's global policy, restored after)."""
    import keras

    before = keras.config.dtype_policy()
    keras.config.set_dtype_policy(KERAS_POLICY[precision])
    try:
        yield
    finally:
        keras.config.set_dtype_policy(before)


def precision_of(model: keras.Model) -> str:
    return "bfloat16" if computes_in_bfloat16(model) else "float32"


class Float32View:
    """The float32 model to save or replay for a model that may train in bfloat16: the model itself when
    it is float32, else one float32 copy kept and given the model's current weights at each call (so a
    `tf.function` traced over it stays valid); with `mirror`, mirror-averaged (`training.model.mirror_averaged`)."""

    def __init__(self, mirror: bool = False) -> None:
        self._mirror = mirror
        self._full: keras.Model | None = None  # the model itself when float32, else its float32 copy
        self._view: keras.Model | None = None

    def __call__(self, model: keras.Model) -> keras.Model:
        from training.model import mirror_averaged

        if self._full is None:  # the float32 model, and its mirror-averaged form (sharing its weights)
            self._full = model if precision_of(model) == "float32" else float32_copy(model)
            self._view = mirror_averaged(self._full) if self._mirror else self._full
        elif self._full is not model:
            self._full.set_weights(model.get_weights())
        return self._view


class Float32Steering:
    """What the replays during training drive: the model's steering of a batch of frames (the replay's
    cars of one step), in float32 (as model.keras keeps it), from `tf.function`s traced once over the
    float32 view; its weights follow the model's at each call, the trace stays."""

    def __init__(self, mirror: bool = False) -> None:
        self._view = Float32View(mirror)
        self._runner = None  # base.runners.KerasRunner, made at the first call

    def __call__(self, model: keras.Model) -> Callable[[np.ndarray], np.ndarray]:
        from base.runners import KerasRunner

        float32 = self._view(model)
        if self._runner is None:
            self._runner = KerasRunner(float32)
        return self._runner.predict

def matched(model: keras.Model, precision: str, build: Callable[[], keras.Model]) -> keras.Model:
    """A resumed `model` in `precision`: itself when it already computes so, else the model `build` makes
    (inside `policy(precision)`) given its weights and optimizer state."""
    if precision_of(model) == precision:
        return model
    log.info("resuming a %s run in %s", precision_of(model), precision)
    rebuilt = build()
    rebuilt.set_weights(model.get_weights())
    rebuilt.optimizer.build(rebuilt.trainable_variables)
    for mine, theirs in zip(rebuilt.optimizer.variables, model.optimizer.variables, strict=True):
        mine.assign(theirs)  # the step count, learning rate (as ReduceLROnPlateau left it) and moments
    return rebuilt
