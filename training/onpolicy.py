"""On-policy training: DAgger (Ross et al., arXiv 1011.0686) with the replay as simulator and pure pursuit
as the expert.

Cloning trains on the states the driver visited. A model's small errors take it where no frame was
recorded, and its errors there compound (openpilot's reprojective-simulator study, arXiv 2504.19077,
found off-policy cloning best offline and worst closed-loop). Here the current model drives the
training footage through `evaluate.replay`; every view it is shown is a state it actually reaches, and
the steering that returns the car from there to the recorded path (`training.recovery`, the label of
side cameras and viewpoint shifts) is what an expert would have done. Those states join the training
batches of the epochs that follow; each round's states are added to the earlier ones (DAgger's
aggregation), so the model keeps being taught where its earlier selves went.

A round cuts the footage into stretches, each a car of its own, and drives them in lockstep: one
batched model call per step for all the cars (`evaluate.replay`), not one per frame. The cars are steered
by the model as it trains, in its training precision (bfloat16 where the CPU computes it), its
preprocessing done by OpenCV (`training.replay_steering`).

With `noise`, the model's commands carry a slowly drifting error while it drives (DART, Laskey et al.,
arXiv 1703.09327): a model that holds a line a little off its driver's (another driver's lap, another
seed) goes where the noisy one went, and has been taught the way back from there.
"""
from __future__ import annotations

import io
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import pandas as pd

from base.atomic import write_text_atomic
from base.driving import UNTIMED_STEP_S
from base.frames import CROP_TOP
from base.viewpoint import Shift, ViewSynthesizer
from evaluate.replay import Footage, FrameSource, ModelPolicy, Policy, Trace, replay
from evaluate.rules import LineRule, Rule
from training.recovery import recovery_steering
from training.replay_steering import ReplaySteering
from training.samples import STEERING_RANGE

log = logging.getLogger(__name__)

STATE_COLUMNS = ["image", "steering", "camera", "lateral_m", "yaw_rad", "forward_m", "round"]
NOISE_DRIFT_S = 1.0  # how long the injected steering error keeps its sign, about: long enough to move the car
# A round's footage is cut into stretches at least this long, each a car starting on the recorded path,
# driven in lockstep (one batched model call a step). As long as a held-out block (val_block, 150 rows at
# the recordings' ~10 Hz), which the validation replay judges the same way: long enough for a car to drift
# and compound its errors (the states DAgger is after), and the track-1 training rows still make ~19 cars.
# Shorter stretches make bigger batches (5 s: 58 cars, 17 % less CPU a frame, busy machine, 2026-12-08) but three
# times as many restarts on the recorded path, so other states: kept at 15 s.
ROUND_STRETCH_S = 15.0


class DriftingNoise:
    """A policy's steering plus, for each car, an error that drifts (AR(1), standard deviation `sigma`,
    correlated over NOISE_DRIFT_S at the recordings' ~10 Hz): white noise would average out within a few
    frames. Each car's error is its own, drawn from `seed` and the car's number, so a round is the same
    whether its cars drive in lockstep or one after another."""

    def __init__(self, policy: Policy, sigma: float, seed: int) -> None:
        self.policy, self.sigma, self.seed = policy, sigma, seed
        self.sees = policy.sees
        self.keep = float(np.exp(-UNTIMED_STEP_S / NOISE_DRIFT_S))
        self._cars: dict[int, tuple[np.random.Generator, list[float]]] = {}

    def __call__(self, views: np.ndarray | None, rows: np.ndarray, cars: np.ndarray) -> np.ndarray:
        commands = np.asarray(self.policy(views, rows, cars), dtype=float)
        return np.clip(commands + np.array([self._error(int(car)) for car in cars]), *STEERING_RANGE)

    def _error(self, car: int) -> float:
        rng, error = self._cars.setdefault(car, (np.random.default_rng([self.seed, car]), [0.0]))
        error[0] = self.keep * error[0] + np.sqrt(1 - self.keep ** 2) * self.sigma * rng.standard_normal()
        return error[0]


def visited_states(footage: Footage, labels: np.ndarray, trace: Trace, return_s: float, round_: int = 0) -> pd.DataFrame:
    """The views of `trace` as training samples: the recorded frame each was synthesised from, the shift
    that synthesises it again, and the steering back to the path (from `labels`, the rows' training
    labels, e.g. led by --label-lead-s); `round_`: the epoch (from 0) before which they were reached."""
    if not trace.views:
        return pd.DataFrame(columns=STATE_COLUMNS)
    rows = np.array([view.row for view in trace.views])
    lateral = np.array([view.shift.lateral_m for view in trace.views])
    yaw = np.array([view.shift.yaw_rad for view in trace.views])
    return pd.DataFrame({
        "image": [footage.frames[view.camera][view.row] for view in trace.views],
        "steering": recovery_steering(labels[rows], lateral, yaw, footage.speeds_mps[rows], return_s).astype(np.float32),
        "camera": [view.camera for view in trace.views],
        "lateral_m": lateral,
        "yaw_rad": yaw,
        "forward_m": [view.shift.forward_m for view in trace.views],
        "round": round_,
    }, columns=STATE_COLUMNS)


@dataclass(frozen=True)
class Mix:
    """A batch's on-policy share: the slots replaced, and the rows of `states` (the pool's columns when drawn; a
    round replaces them whole meanwhile) whose views replace them."""

    slots: np.ndarray
    picked: np.ndarray
    states: dict[str, np.ndarray]


class StatePool:
    """The training footage, and the labelled states the model reached on it so far. Batches draw from it
    while a callback adds to it: each round replaces the table whole, so a worker assembling a batch
    never sees a half-added round."""

    def __init__(self, train_rows: pd.DataFrame, labels: np.ndarray, share: float, return_s: float) -> None:
        """`train_rows` in log order as recorded (their steering draws the path); `labels` their training labels."""
        self.footage = Footage.from_rows(train_rows)
        self.labels = np.asarray(labels, dtype=float)
        self.share, self.return_s = share, return_s  # share: of every training batch, once states are pooled
        self.states = pd.DataFrame(columns=STATE_COLUMNS)
        self._columns: tuple[pd.DataFrame | None, dict[str, np.ndarray]] = (None, {})
        self.synth = ViewSynthesizer(top=CROP_TOP)
        # Training's frame store, once it holds `source_images`: the rounds read their frames there
        # instead of decoding them again every round.
        self.frames: FrameSource | None = None

    @property
    def size(self) -> int:
        """States pooled so far."""
        return len(self.states)

    @property
    def source_images(self) -> list[str]:
        """Every frame a state can be synthesised from: what the frame store must hold."""
        return [path for camera in self.footage.cameras for path in self.footage.frames[camera]]

    def gather(self, policy: Policy, rule: Rule, round_: int = 0) -> Trace:
        """Drive `policy` over the footage, its stretches in lockstep, and pool every state it reached,
        labelled, as round `round_`."""
        trace = replay(self.footage, policy, rule, stretch_s=ROUND_STRETCH_S, frames=self.frames)
        states = visited_states(self.footage, self.labels, trace, self.return_s, round_)
        self.states = pd.concat([self.states, states], ignore_index=True) if len(self.states) else states
        return trace

    def save(self, path: Path) -> None:
        """Write the pool to `path` (CSV, atomically)."""
        text = io.StringIO()
        self.states.to_csv(text, index=False)
        write_text_atomic(path, text.getvalue())

    def restore(self, path: Path, before_round: int) -> int:
        """Pool the states `save` wrote to `path` that were reached before round `before_round` (later
        rounds belong to epochs that did not finish); how many."""
        states = pd.read_csv(path, dtype={"image": str, "camera": str})
        kept = states[states["round"] < before_round].reset_index(drop=True)
        self.states = kept.astype({"steering": np.float32})[STATE_COLUMNS]
        return len(kept)

    def draw(self, batch_size: int, seed: int) -> Mix:
        """Which `share` of a batch's slots views of pooled states replace, and by which states (none while the
        pool is empty): drawn first, so the batch fetches frames only for the slots that keep theirs."""
        states = self._arrays()
        count = int(round(self.share * batch_size))
        if not len(states["image"]) or not count:
            return Mix(np.empty(0, dtype=int), np.empty(0, dtype=int), states)
        rng = np.random.default_rng(seed)
        slots = rng.choice(batch_size, size=count, replace=False)
        return Mix(slots, rng.integers(len(states["image"]), size=count), states)

    def mix_into(self, images: np.ndarray, labels: np.ndarray, frames: FrameSource, mix: Mix) -> None:
        """Fill `mix.slots` of a batch (in place; every pixel of a slot is written) with the views of its
        states, their labels beside them."""
        if not len(mix.slots):
            return
        states = mix.states
        sources = frames.get(states["image"][mix.picked])
        for slot, source, i in zip(mix.slots, sources, mix.picked):
            shift = Shift(lateral_m=states["lateral_m"][i], yaw_rad=states["yaw_rad"][i], forward_m=states["forward_m"][i])
            camera = states["camera"][i]
            self.synth.synthesize({camera: source}, shift, camera, out=images[slot])
        labels[mix.slots] = states["steering"][mix.picked]

    def _arrays(self) -> dict[str, np.ndarray]:
        """The pooled states' columns as arrays (a batch's picks without pandas' cost per row), made again when a
        round or a restore has replaced the table; the pair is swapped whole, as the table is."""
        table, arrays = self._columns
        if table is not self.states:
            table = self.states
            arrays = {name: table[name].to_numpy() for name in STATE_COLUMNS}
            arrays["steering"] = arrays["steering"].astype(np.float32)
            self._columns = (table, arrays)
        return arrays


class OnPolicyRounds(keras.callbacks.Callback):
    """Before every epoch from `start` (counted from 0) on, the model as it stands drives the training
    footage and the states it reaches join the pool: one DAgger round per epoch. Adds
    `on_policy_autonomy` (how the model drove its own training footage, with the noise if any), `on_policy_states` and
    `on_policy_s` (what the round cost) to the epoch's logs."""

    def __init__(self, pool: StatePool, start: int, max_offset_m: float, noise: float = 0.0, seed: int = 0,
                 states_file: Path | None = None, restore_from: Path | None = None) -> None:
        """`states_file`: where the pool is kept after every round; `restore_from`: the pool file of the run
        this one resumes (for a worker of a cluster, the chief's)."""
        super().__init__()
        self.pool, self.start, self.noise, self.seed = pool, start, noise, seed
        self.states_file, self.restore_from = states_file, restore_from
        self.rule = LineRule(max_offset_m=max_offset_m)
        # The model as it trains (in bfloat16 where the CPU has it: 1.3-1.4x less CPU a frame than a float32 copy,
        # its steering within ~1e-3 of the copy's), its preprocessing in OpenCV (`training.replay_steering`).
        self._steering = ReplaySteering(as_trained=True)
        self._round: dict[str, float] = {}

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._round = {}
        if epoch > self.start and not self.pool.size:  # an empty pool past the first round: a resumed run
            self._resume(epoch)
        if epoch < self.start or not self.pool.footage.segments:
            return
        started = time.perf_counter()
        policy = ModelPolicy(self._steering(self.model))
        if self.noise:
            policy = DriftingNoise(policy, self.noise, self.seed * 1000 + epoch)
        report = self.pool.gather(policy, self.rule, epoch).report()
        if self.states_file is not None:
            self.pool.save(self.states_file)
        self._round = {"on_policy_autonomy": report["autonomy_percent"], "on_policy_states": float(self.pool.size),
                       "on_policy_s": round(time.perf_counter() - started, 2)}
        log.info("on-policy round before epoch %d: the model drove its training footage at %.1f %% autonomy; "
                 "%d states pooled", epoch + 1, report["autonomy_percent"], self.pool.size)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if logs is not None:
            logs.update(self._round)

    def _resume(self, epoch: int) -> None:
        """A run resumed before `epoch` draws again on the states its earlier rounds pooled."""
        if self.restore_from is None or not self.restore_from.is_file():
            log.warning("resumed before epoch %d without the on-policy pool's file (a run made before it was kept): "
                        "the pool starts again with this round", epoch + 1)
            return
        count = self.pool.restore(self.restore_from, epoch)
        log.info("resumed before epoch %d: %d on-policy states of the earlier rounds restored from %s", epoch + 1,
                 count, self.restore_from)
