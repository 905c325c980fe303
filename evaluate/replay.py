"""A closed loop made of recorded footage (NVIDIA's DAVE-2 simulator, arXiv 1604.07316).

The recorded steering, integrated by the kinematic bicycle model at the recorded speeds and times,
gives the recorded path. A policy then drives a car from the same start: at each recorded step it
sees the view synthesised (`base.viewpoint`) from the recorded frame nearest to where the car is,
moved to the car's offset from the path and turned to its heading error, and its steering moves the
car for one recorded time step. Wheels follow a command with the simulator's lag
(`steering_response_s`, a first-order 0.1 s measured on the footage by `studies.recorded_path`),
on the recorded path as on the driven car. After every step a rule (`evaluate.rules`: the driver's
line, by default NVIDIA's 1 m and 20° of heading, or the drivable surface) judges where the car is;
a car out is an intervention: it is put back on the path and charged the simulator's penalty (6 s),
as `sim.drive` charges leaving the road.

A view synthesised far from every recorded camera is no evidence (flat ground stretched past what
any camera saw): a policy that sees, shown such a view, would be judged on what it was never shown.
Beyond `replay.evidence_m` (simulator.json) sideways from the nearest recorded camera, the car is put
back on the path without a charge and the step is counted as `beyond_evidence` (a policy that does
not look, zero steering or the recorded human, needs no view and drives on). Under the line rules up to 1.5 m this never happens before the rule fires (a car
inside 1.5 m and 20° holds its camera within 1.9 m of the centre camera's place, 1.1 m of a side
camera's; with the centre camera alone, rules up to 1.1 m); under a rule that lets the car further
out, such as the road's, it means the replay cannot judge what it cannot see, and says so.

Where the recording stops driving (`base.driving`: a pause, a standstill, a crash, the end of a
held-out block, another recording) the path breaks and the car restarts on it: each unbroken
stretch is a segment. The recorded steering itself, driven through the same loop, stays on the path
exactly: a check of the integrator that every report carries, beside driving with zero steering.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Protocol

import numpy as np
import pandas as pd

import simulator_config
from base.cameras import CAMERA_NAMES
from base.driving import RULES, driven_steps, row_times, stretches
from base.frames import CROP_TOP, FRAME_HEIGHT, FRAME_WIDTH, read_frame
from base.kinematics import MPS_PER_MPH, Steering, bicycle_step
from base.viewpoint import Shift, ViewSynthesizer
from evaluate.autonomy import autonomy_percent
from evaluate.rules import CarState, LineRule, Rule

PHYSICS_HZ = float(simulator_config.load()["vehicle"]["physics_hz"])
EVIDENCE_M = float(RULES["evidence_m"])  # see Evidence
SEARCH_S = 2.0  # how far along the path (in recorded time) the car's nearest point is looked for


class ReplayError(ValueError):
    """Footage that cannot be replayed; the message (one line) says what to do."""


@dataclass(frozen=True)
class Footage:
    """Recorded rows ready to replay: per row its time, speed, steering and frames."""

    times_s: np.ndarray  # seconds since the row's recording began
    speeds_mps: np.ndarray
    steering: np.ndarray
    frames: dict[str, np.ndarray]  # camera → image path per row ("" where that camera's frame is absent)
    segments: list[tuple[int, int]]  # [first, last] row of each unbroken stretch (last inclusive)
    timed: bool  # False when the frame names carry no time stamps and `untimed_hz` was assumed

    @property
    def cameras(self) -> list[str]:
        """The cameras that have a frame in every row."""
        return [name for name, paths in self.frames.items() if all(paths)]

    @classmethod
    def from_rows(cls, rows: pd.DataFrame) -> Footage:
        """Log rows (as `base.logs` reads them, in log order, any subset) → footage.

        Side frames count only where they exist and differ from the centre frame (a run recorded by
        `drive.py` repeats the centre path there).
        """
        if rows.empty:
            raise ReplayError("no rows to replay: pass a recording with driving in it")
        centre = rows["center"].astype(str).to_numpy()
        frames = {"center": centre}
        for side in CAMERA_NAMES[1:]:
            paths = rows[side].astype(str).to_numpy()
            frames[side] = np.array([p if p != c and _exists(p) else "" for p, c in zip(paths, centre)], dtype=object)
        times, timed = row_times(rows)
        speeds = rows["speed"].to_numpy(dtype=float) * MPS_PER_MPH
        steering = np.clip(rows["steering"].to_numpy(dtype=float), -1.0, 1.0)
        return cls(times, speeds, steering, frames, stretches(driven_steps(rows, times)), timed)

    @property
    def driven_s(self) -> float:
        return float(sum(self.times_s[last] - self.times_s[first] for first, last in self.segments))


class Policy(Protocol):
    """What drives the replayed car: a synthesised view (or None, when `sees` is False) → steering."""

    sees: bool

    def __call__(self, view: np.ndarray | None, row: int) -> float:
        ...


class ZeroSteering:
    sees = False

    def __call__(self, view: np.ndarray | None, row: int) -> float:
        return 0.0


class RecordedSteering:
    """The human's steering, row by row: it retraces the recorded path."""

    sees = False

    def __init__(self, footage: Footage) -> None:
        self.steering = footage.steering

    def __call__(self, view: np.ndarray | None, row: int) -> float:
        return float(self.steering[row])


class ModelPolicy:
    """A steering model (`base.runners.Runner`) on the synthesised centre view."""

    sees = True

    def __init__(self, predict_one: Callable[[np.ndarray], float]) -> None:
        self.predict_one = predict_one

    def __call__(self, view: np.ndarray | None, row: int) -> float:
        return float(self.predict_one(view))


@dataclass(frozen=True)
class View:
    row: int
    camera: str
    shift: Shift


@dataclass
class Trace:
    """What happened at each driven step, for scoring, plots and video."""

    times_s: list[float] = field(default_factory=list)  # recorded time at the end of the step
    offsets_m: list[float] = field(default_factory=list)  # signed, right of the path, before any reset
    headings_deg: list[float] = field(default_factory=list)  # heading error, right positive
    steering: list[float] = field(default_factory=list)  # the policy's command for the step
    recorded: list[float] = field(default_factory=list)  # the human's steering for the step
    intervened: list[bool] = field(default_factory=list)
    step_s: list[float] = field(default_factory=list)  # how long each step took
    # Where each view a seeing policy was shown came from: the recorded row, its camera and the car's
    # shift from that row's pose. Enough to synthesise the view again (on-policy training labels them).
    views: list[View] = field(default_factory=list)
    margins_m: list[float] = field(default_factory=list)  # the rule's distance to its limit, negative when out
    beyond_evidence: list[bool] = field(default_factory=list)  # put back on the path uncharged (`Evidence`)
    rule: str = ""  # the rule's name

    def add(self, footage: Footage, row: int, command: float, state: CarState, out: bool, margin: float,
            beyond: bool) -> None:
        """One step from `row`: the car commanded `command` and ended where `state` says, judged so."""
        self.times_s.append(float(footage.times_s[row + 1]))
        self.offsets_m.append(float(state.lateral_m[0]))
        self.headings_deg.append(math.degrees(float(state.heading_rad[0])))
        self.steering.append(command)
        self.recorded.append(float(footage.steering[row]))
        self.intervened.append(out)
        self.step_s.append(float(footage.times_s[row + 1] - footage.times_s[row]))
        self.margins_m.append(margin)
        self.beyond_evidence.append(beyond)

    @property
    def elapsed_s(self) -> float:
        return float(sum(self.step_s))

    def report(self) -> dict:
        """The figures `sim.drive` reports, under its names, plus interventions per minute."""
        interventions = int(sum(self.intervened))
        elapsed = self.elapsed_s
        offsets = np.abs(np.asarray(self.offsets_m, dtype=float))
        return {
            "autonomy_percent": round(autonomy_percent(interventions, elapsed), 2) if elapsed else None,
            "interventions": interventions,
            "interventions_per_min": round(interventions / elapsed * 60, 2) if elapsed else None,
            "mean_abs_offset_m": round(float(offsets.mean()), 3) if len(offsets) else None,
            "max_abs_offset_m": round(float(offsets.max()), 3) if len(offsets) else None,
            "elapsed_s": round(elapsed, 2),
            "frames": len(self.times_s),
            "rule": self.rule,
            "min_margin_m": round(float(min(self.margins_m)), 3) if self.margins_m else None,
            "beyond_evidence": int(sum(self.beyond_evidence)),
        }


class _Path:
    """The recorded path of one segment: the pose at every physics sub-step, and at every row."""

    def __init__(self, footage: Footage, first: int, last: int, steering: Steering) -> None:
        poses = [(0.0, 0.0, 0.0)]
        wheels = [float(footage.steering[first])]  # the wheel angle at each sub-step: the car starts turning as logged
        row_at = [0]  # sub-step index of each row's pose
        for row in range(first, last):
            dt, speed, n = _interval(footage, row)
            pose, wheel = poses[-1], wheels[-1]
            for _ in range(n):
                wheel = steering.wheel_after(wheel, footage.steering[row], dt / n)
                pose = bicycle_step(pose, speed, wheel, dt / n, steering)
                poses.append(pose)
                wheels.append(wheel)
            row_at.append(len(poses) - 1)
        self.poses = np.array(poses)
        self.wheels = np.array(wheels)
        self.row_at = np.array(row_at)
        self.first = first
        step_m = np.hypot(*np.diff(self.poses[:, :2], axis=0).T)
        self.s = np.concatenate([[0.0], np.cumsum(step_m)])  # arc length at each sub-step

    def nearest(self, x: float, y: float, near: int, window: int) -> int:
        """The sub-step whose pose is closest to (x, y), looked for within `window` of `near`."""
        lo, hi = max(0, near - window), min(len(self.poses), near + window + 1)
        d2 = (self.poses[lo:hi, 0] - x) ** 2 + (self.poses[lo:hi, 1] - y) ** 2
        return lo + int(np.argmin(d2))

    def state(self, pose: tuple[float, float, float], near: int) -> tuple[CarState, int, Shift]:
        """Where a car at `pose` stands (its nearest path sub-step `near`): against the path, for the rule;
        the row nearest along the path; and its shift from that row's recorded pose, for its view."""
        px, py, ph = self.poses[near]
        offset = (pose[0] - px) * math.sin(ph) - (pose[1] - py) * math.cos(ph)
        anchor = self.row_near(near)
        x0, y0, h0 = self.poses[self.row_at[anchor - self.first]]
        dx, dy = pose[0] - x0, pose[1] - y0
        shift = Shift(lateral_m=dx * math.sin(h0) - dy * math.cos(h0), yaw_rad=_wrap(h0 - pose[2]),
                      forward_m=dx * math.cos(h0) + dy * math.sin(h0))
        state = CarState(rows=np.array([anchor]), along_m=np.array([self.s[near] - self.s[self.row_at[anchor - self.first]]]),
                         lateral_m=np.array([offset]), heading_rad=np.array([_wrap(ph - pose[2])]))
        return state, anchor, shift

    def row_near(self, substep: int) -> int:
        """The row (absolute) whose recorded pose is nearest along the path to this sub-step."""
        k = int(np.searchsorted(self.row_at, substep))
        if k >= len(self.row_at) or (k > 0 and self.s[substep] - self.s[self.row_at[k - 1]] < self.s[self.row_at[k]] - self.s[substep]):
            k -= 1
        return self.first + k


def recorded_poses(footage: Footage, first: int, last: int) -> np.ndarray:
    """The recorded path's pose (x, y, heading) at every row of the segment [first, last], starting at (0, 0, 0)."""
    path = _Path(footage, first, last, Steering.from_config())
    return path.poses[path.row_at]


def replay(footage: Footage, policy: Policy, rule: Rule = LineRule(), whole_views: bool = False,
           on_step: Callable[[int, np.ndarray | None, Trace], None] | None = None) -> Trace:
    """Drive `policy` along every segment of `footage`; returns the trace of what happened.

    `on_step(row, view, trace)` is called after each step (progress bars, video). The views are
    synthesised in the rows the model crops to, or with `whole_views` down from the sky (for video).
    """
    steering = Steering.from_config()
    synthesizer = ViewSynthesizer(sources=footage.cameras, top=0 if whole_views else CROP_TOP) if policy.sees else None
    frames = _FrameCache(footage)
    evidence = Evidence(footage.cameras)
    trace = Trace(rule=rule.name)
    for first, last in footage.segments:
        path = _Path(footage, first, last, steering)
        window = int(SEARCH_S * PHYSICS_HZ)
        pose, wheel, near = tuple(path.poses[0]), path.wheels[0], 0
        anchor, shift = first, Shift()
        for row in range(first, last):
            view = None
            if policy.sees:
                source = synthesizer.nearest_source(shift)
                view = synthesizer.synthesize({source: frames.get(source, anchor)}, shift, source)
                trace.views.append(View(anchor, source, shift))
            command = policy(view, row)
            dt, speed, n = _interval(footage, row)
            for _ in range(n):
                wheel = steering.wheel_after(wheel, command, dt / n)
                pose = bicycle_step(pose, speed, wheel, dt / n, steering)
            near = path.nearest(pose[0], pose[1], near + n, window)
            state, anchor, shift = path.state(pose, near)
            out, margin = (value[0] for value in rule.check(state))
            beyond = policy.sees and not out and evidence.gap_m(shift) > EVIDENCE_M
            trace.add(footage, row, command, state, bool(out), float(margin), beyond)
            if out or beyond:  # back on the path where the car is along it, heading along it, wheels as the driver's were
                pose, wheel = tuple(path.poses[near]), path.wheels[near]
                state, anchor, shift = path.state(pose, near)
            if on_step:
                on_step(row, view, trace)
    return trace


def drive_model(footage: Footage, steer: Callable[[np.ndarray], float], rule: Rule) -> Trace:
    """A model's steering (a view cropped as the model crops → steering) driven over `footage`: the one
    call training makes, for its per-epoch validation and for its on-policy rounds alike."""
    return replay(footage, ModelPolicy(steer), rule)


class Evidence:
    """How far sideways a synthesised camera is from the nearest recorded one: a view synthesised further
    than `replay.evidence_m` (simulator.json, measured by `studies.view_evidence`) from every recorded
    camera is no longer evidence of what the car would see, nor a frame's surface of where its tyres are."""

    def __init__(self, cameras: list[str]) -> None:
        self.synthesizer = ViewSynthesizer(sources=cameras, top=CROP_TOP)

    def gap_m(self, shift: Shift) -> float:
        x, _ = self.synthesizer.target_position(shift)
        return min(abs(x - camera.position[0]) for camera in self.synthesizer.sources.values())


def _interval(footage: Footage, row: int) -> tuple[float, float, int]:
    """(seconds, speed m/s, physics sub-steps) of the step from `row` to the next row."""
    dt = float(footage.times_s[row + 1] - footage.times_s[row])
    speed = 0.5 * float(footage.speeds_mps[row] + footage.speeds_mps[row + 1])
    return dt, speed, max(1, math.ceil(dt * PHYSICS_HZ - 1e-9))


def _wrap(angle: float) -> float:
    return (angle + math.pi) % (2 * math.pi) - math.pi


def _exists(path: str) -> bool:
    return bool(path) and Path(path).is_file()


class _FrameCache:
    """Decoded frames by (camera, row); the replay asks for the same few frames over and over."""

    def __init__(self, footage: Footage, size: int = 8) -> None:
        self.footage, self.size = footage, size
        self.cache: dict[tuple[str, int], np.ndarray] = {}

    def get(self, camera: str, row: int) -> np.ndarray:
        key = (camera, row)
        frame = self.cache.get(key)
        if frame is None:
            path = self.footage.frames[camera][row]
            frame = read_frame(path)
            if frame is None:
                raise ReplayError(f"cannot read the frame {path} (missing, cut off or not {FRAME_WIDTH}×{FRAME_HEIGHT}): "
                                  "replace it, or delete its row from the log")
            if len(self.cache) >= self.size:
                self.cache.pop(next(iter(self.cache)))
            self.cache[key] = frame
        return frame
