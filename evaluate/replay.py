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
any camera saw): neither of what the car would see nor of where the road is. Under a rule that judges
by the frames (`needs_evidence`: the road rule), a seeing car further than `replay.evidence_m`
(simulator.json, measured by `studies.view_evidence`) sideways from the nearest recorded camera is put
back on the path without a charge, and the step is counted as `beyond_evidence`: the replay cannot
judge what it cannot see, and the report says how often. A policy that does not look (zero steering,
the recorded human) needs no view and drives on. The line rules judge geometry alone, as far as they
reach, as NVIDIA's did: their figures stay comparable with every earlier one.

Where the recording stops driving (`base.driving`: a pause, a standstill, a crash, the end of a
held-out block, another recording) the path breaks and the car restarts on it: each unbroken
stretch is a segment. The recorded steering itself, driven through the same loop, stays on the path
exactly: a check of the integrator that every report carries, beside driving with zero steering.

Every segment is a car of its own, and the cars drive in lockstep: at each step the views of all of
them are synthesised together and the policy steers them all in one call (one batched pass of a
model instead of one call per frame). A car's trajectory depends on nothing but its own stretch, so
lockstep drives exactly the path each car would drive alone. With `stretch_s`, segments longer than
that are cut into stretches of at least `stretch_s`, each starting on the recorded path: more cars
for the batch, at the price of a free restart per stretch (on-policy rounds gather states, where a
restart costs nothing; the replays that judge a model keep their segments whole).
"""
from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Protocol, Sequence

import numpy as np
import pandas as pd

import simulator_config
from base.cameras import CAMERA_NAMES
from base.driving import RULES, driven_steps, row_times, stretches
from base.frames import CROP_TOP, FRAME_HEIGHT, FRAME_WIDTH, read_frame
from base.kinematics import MPS_PER_MPH, Steering, bicycle_step
from base.runners import BATCH, inference_threads
from base.viewpoint import Shift, ViewSynthesizer
from evaluate.autonomy import autonomy_percent
from evaluate.rules import CarState, LineRule, Rule

PHYSICS_HZ = float(simulator_config.load()["vehicle"]["physics_hz"])
EVIDENCE_M = float(RULES["evidence_m"])  # see Evidence
SEARCH_S = 2.0  # how far along the path (in recorded time) the car's nearest point is looked for
LOCKSTEP = BATCH  # cars driven at once at most: their views (150 KB each), in one model call


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


class FrameSource(Protocol):
    """Frames already decoded (training's frame store): image paths → uint8 RGB frames (N, H, W, 3)."""

    def get(self, paths: Sequence[str]) -> np.ndarray:
        ...


class Policy(Protocol):
    """What steers the replayed cars driving one step in lockstep."""

    sees: bool  # False: the policy is shown no view (views is None), and no view is synthesised for it

    def __call__(self, views: np.ndarray | None, rows: np.ndarray, cars: np.ndarray) -> np.ndarray:
        """(N, 160, 320, 3) uint8 views of the N cars driving this step, the recorded row each drives
        from, and each car's number (its stretch's index in the replay) → (N,) steering."""
        ...


class ZeroSteering:
    sees = False

    def __call__(self, views: np.ndarray | None, rows: np.ndarray, cars: np.ndarray) -> np.ndarray:
        return np.zeros(len(rows))


class RecordedSteering:
    """The human's steering, row by row: it retraces the recorded path."""

    sees = False

    def __init__(self, footage: Footage) -> None:
        self.steering = footage.steering

    def __call__(self, views: np.ndarray | None, rows: np.ndarray, cars: np.ndarray) -> np.ndarray:
        return self.steering[rows]


class ModelPolicy:
    """A steering model on the synthesised centre views: `predict` is a runner's batch prediction
    (`base.runners.Runner.predict`: frames → steering), called once per step for every car."""

    sees = True

    def __init__(self, predict: Callable[[np.ndarray], np.ndarray]) -> None:
        self.predict = predict

    def __call__(self, views: np.ndarray | None, rows: np.ndarray, cars: np.ndarray) -> np.ndarray:
        return np.asarray(self.predict(views), dtype=float).reshape(-1)


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
    unseen_edge: list[bool] = field(default_factory=list)  # of those: past an edge no frame saw (RoadRule.verdict)
    rule: str = ""  # the rule's name

    @classmethod
    def joined(cls, traces: list[Trace], rule: str) -> Trace:
        """The traces of the cars, one after the other: the trace of driving their stretches in turn."""
        joined = cls(rule=rule)
        for trace in traces:
            for name in ("times_s", "offsets_m", "headings_deg", "steering", "recorded", "intervened", "step_s",
                         "views", "margins_m", "beyond_evidence", "unseen_edge"):
                getattr(joined, name).extend(getattr(trace, name))
        return joined

    @property
    def elapsed_s(self) -> float:
        return float(sum(self.step_s))

    def report(self) -> dict:
        """The figures `sim.drive` reports, under its names, plus interventions per minute; and, since a car put
        back beyond the cameras' evidence was never shown to be on the road, the autonomy that charges those
        too (`autonomy_unproven_charged_percent`): the truth lies between the two. `beyond_evidence` counts
        them, with those put back past an edge no frame saw (`unseen_edge`, the road rule's)."""
        interventions = int(sum(self.intervened))
        beyond = int(sum(self.beyond_evidence))
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
            "beyond_evidence": beyond,
            "unseen_edge": int(sum(self.unseen_edge)),
            "autonomy_unproven_charged_percent": (round(autonomy_percent(interventions + beyond, elapsed), 2)
                                                  if elapsed else None),
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


class _Car:
    """One stretch driven: where the car is, and where it stands against its recorded path."""

    def __init__(self, number: int, path: _Path, last: int, rule: str) -> None:
        self.number, self.path, self.last = number, path, last
        self.row = path.first  # the row the next step drives from
        self.trace = Trace(rule=rule)
        self.back_on_path(0)

    def back_on_path(self, near: int) -> None:
        """Onto the path at sub-step `near`, heading along it, the wheels as the driver's were."""
        self.pose, self.wheel = tuple(self.path.poses[near]), float(self.path.wheels[near])
        self.locate(near)

    def drive(self, footage: Footage, command: float, steering: Steering) -> None:
        """One recorded step at `command`: the wheels lag, the bicycle moves, the car is found on the path."""
        dt, speed, n = _interval(footage, self.row)
        pose, wheel = self.pose, self.wheel
        for _ in range(n):
            wheel = steering.wheel_after(wheel, command, dt / n)
            pose = bicycle_step(pose, speed, wheel, dt / n, steering)
        self.pose, self.wheel = pose, wheel
        self.locate(self.path.nearest(pose[0], pose[1], self.near + n, int(SEARCH_S * PHYSICS_HZ)))

    def locate(self, near: int) -> None:
        """Against the path (sub-step `near` nearest): offset and heading error for the rule; the row
        nearest along the path, and the car's shift from that row's recorded pose, for its next view."""
        path, pose = self.path, self.pose
        px, py, ph = path.poses[near]
        self.near = near
        self.lateral_m = (pose[0] - px) * math.sin(ph) - (pose[1] - py) * math.cos(ph)
        self.heading_rad = _wrap(ph - pose[2])
        self.anchor = path.row_near(near)
        at = path.row_at[self.anchor - path.first]
        x0, y0, h0 = path.poses[at]
        dx, dy = pose[0] - x0, pose[1] - y0
        self.along_m = float(path.s[near] - path.s[at])
        self.shift = Shift(lateral_m=dx * math.sin(h0) - dy * math.cos(h0), yaw_rad=_wrap(h0 - pose[2]),
                           forward_m=dx * math.cos(h0) + dy * math.sin(h0))


def car_state(cars: list[_Car]) -> CarState:
    return CarState(rows=np.array([car.anchor for car in cars], dtype=int),
                    along_m=np.array([car.along_m for car in cars]),
                    lateral_m=np.array([car.lateral_m for car in cars]),
                    heading_rad=np.array([car.heading_rad for car in cars]))


OnStep = Callable[[Trace, int, "np.ndarray | None"], None]  # (the car's trace, the row it drove from, its view)


@dataclass
class Lockstep:
    """What drives a group of cars one step at a time: the footage, the policy, the rule and the views."""

    footage: Footage
    policy: Policy
    rule: Rule
    whole_views: bool = False
    frames: FrameSource | None = None  # where decoded frames are at hand; None: decoded here

    def __post_init__(self) -> None:
        self.steering = Steering.from_config()
        self.synthesizer = ViewSynthesizer(sources=self.footage.cameras or ["center"],
                                           top=0 if self.whole_views else CROP_TOP)
        self.cache = _FrameCache(self.footage, self.frames)
        self.evidence = Evidence(self.synthesizer)
        self.threads = inference_threads()
        self.workers = ThreadPoolExecutor(self.threads, thread_name_prefix="replay")
        self._views = np.empty((0, FRAME_HEIGHT, FRAME_WIDTH, 3), np.uint8)

    def drive(self, cars: list[_Car], on_step: OnStep | None = None) -> None:
        """Drive `cars` to the ends of their stretches, all moving at every step while they last."""
        self.cache.size = max(8, 4 * len(cars))  # each car reads its own few frames around its row
        driving = [car for car in cars if car.row < car.last]
        while driving:
            views = self.views(driving)
            commands = self.policy(views, np.array([car.row for car in driving]),
                                   np.array([car.number for car in driving]))
            for car, command in zip(driving, commands):
                car.drive(self.footage, float(command), self.steering)
            self.judge(driving, commands)
            for i, car in enumerate(driving):
                if on_step:
                    on_step(car.trace, car.row, None if views is None else views[i])
                car.row += 1
            driving = [car for car in driving if car.row < car.last]

    def views(self, cars: list[_Car]) -> np.ndarray | None:
        """The views the cars are shown this step (none for a policy that does not look), recorded in their
        traces; decoded and synthesised on both cores (OpenCV and NumPy let go of the GIL)."""
        if not self.policy.sees:
            return None
        if len(self._views) < len(cars):
            self._views = np.empty((len(cars), FRAME_HEIGHT, FRAME_WIDTH, 3), np.uint8)
        shown = [View(car.anchor, self.synthesizer.nearest_source(car.shift), car.shift) for car in cars]
        frames = self.cache.get_all([(view.camera, view.row) for view in shown], self.workers)

        def synthesize(part: np.ndarray) -> None:
            for i in part:
                view = shown[i]
                self.synthesizer.synthesize({view.camera: frames[i]}, view.shift, view.camera, out=self._views[i])
        list(self.workers.map(synthesize, np.array_split(np.arange(len(cars)), self.threads)))  # a task a core
        for car, view in zip(cars, shown):
            car.trace.views.append(view)
        return self._views[:len(cars)]

    def judge(self, cars: list[_Car], commands: np.ndarray) -> None:
        """The rule's verdict on every car after its step, into its trace; a car out, or (seeing) beyond the
        cameras' evidence, back on the path."""
        state = car_state(cars)
        # A rule that can tell (the road rule): a tyre past an edge no frame saw proves nothing either.
        out, margins, unseen = (self.rule.verdict(state) if hasattr(self.rule, "verdict")
                                else (*self.rule.check(state), np.zeros(len(cars), bool)))
        times, steering = self.footage.times_s, self.footage.steering
        for car, command, intervened, margin, unseen_edge in zip(cars, commands, out, margins, unseen):
            beyond = bool(not intervened and (unseen_edge or (self.rule.needs_evidence and self.policy.sees
                                                               and self.evidence.gap_m(car.shift) > EVIDENCE_M)))
            trace, row = car.trace, car.row
            trace.times_s.append(float(times[row + 1]))
            trace.offsets_m.append(car.lateral_m)
            trace.headings_deg.append(math.degrees(car.heading_rad))
            trace.steering.append(float(command))
            trace.recorded.append(float(steering[row]))
            trace.intervened.append(bool(intervened))
            trace.step_s.append(float(times[row + 1] - times[row]))
            trace.margins_m.append(float(margin))
            trace.beyond_evidence.append(beyond)
            trace.unseen_edge.append(bool(unseen_edge and not intervened))
            if intervened or beyond:
                car.back_on_path(car.near)


def replay(footage: Footage, policy: Policy, rule: Rule = LineRule(), stretch_s: float | None = None,
           lockstep: int = LOCKSTEP, whole_views: bool = False, on_step: OnStep | None = None,
           frames: FrameSource | None = None) -> Trace:
    """Drive `policy` along every segment of `footage` (with `stretch_s`, cut into stretches of at least that
    long), up to `lockstep` cars at once; returns the trace of driving them in turn.

    `on_step(trace, row, view)` is called after each step of each car with the car's own trace (progress
    bars; video, with `lockstep=1` for the frames in order). The views are synthesised in the rows the
    model crops to, or with `whole_views` down from the sky (for video), from `frames` where given.
    """
    drive = Lockstep(footage, policy, rule, whole_views, frames)
    spans = cut(footage, stretch_s)
    traces = []
    with drive.workers:
        for start in range(0, len(spans), max(1, lockstep)):
            cars = [_Car(number, _Path(footage, first, last, drive.steering), last, rule.name)
                    for number, (first, last) in enumerate(spans[start:start + lockstep], start)]
            drive.drive(cars, on_step)
            traces += [car.trace for car in cars]
    return Trace.joined(traces, rule.name)


def cut(footage: Footage, stretch_s: float | None) -> list[tuple[int, int]]:
    """The segments, each longer than `stretch_s` cut into as many equal stretches of at least
    `stretch_s` as fit ([first, last] rows; a stretch's last row is the next one's first)."""
    if not stretch_s:
        return list(footage.segments)
    spans = []
    for first, last in footage.segments:
        times = footage.times_s[first:last + 1]
        pieces = max(1, int((times[-1] - times[0]) // stretch_s))
        bounds = first + np.searchsorted(times, times[0] + (times[-1] - times[0]) * np.arange(1, pieces) / pieces)
        edges = [first, *sorted(set(int(b) for b in bounds) - {first, last}), last]
        spans += list(zip(edges[:-1], edges[1:]))
    return spans


def drive_model(footage: Footage, predict: Callable[[np.ndarray], np.ndarray], rule: Rule) -> Trace:
    """A model's batch steering (views cropped as the model crops → steering) driven over `footage`,
    its segments whole: the replay training judges a model by, per epoch and on the test blocks."""
    return replay(footage, ModelPolicy(predict), rule)


class Evidence:
    """How far sideways a synthesised camera is from the nearest recorded one: a view synthesised further
    than `replay.evidence_m` (simulator.json, measured by `studies.view_evidence`) from every recorded
    camera is no longer evidence of what the car would see, nor a frame's surface of where its tyres are."""

    def __init__(self, synthesizer: ViewSynthesizer) -> None:
        self.synthesizer = synthesizer

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
    """Decoded frames by (camera, row): each car reads the same few frames around its row over and over."""

    def __init__(self, footage: Footage, store: FrameSource | None = None, size: int = 8) -> None:
        self.footage, self.store, self.size = footage, store, size
        self.cache: dict[tuple[str, int], np.ndarray] = {}

    def get_all(self, keys: list[tuple[str, int]], workers: ThreadPoolExecutor) -> list[np.ndarray]:
        """The frames of `keys` ((camera, row) each): those not at hand from the store, or decoded on `workers`
        (OpenCV lets go of the GIL while it decodes)."""
        missing = list(dict.fromkeys(key for key in keys if key not in self.cache))
        if self.store is not None and missing:
            found = self.store.get([self.footage.frames[camera][row] for camera, row in missing])
        else:
            found = workers.map(self._read, missing)
        for key, frame in zip(missing, found):
            if len(self.cache) >= self.size:
                self.cache.pop(next(iter(self.cache)))
            self.cache[key] = frame
        return [self.cache[key] for key in keys]

    def _read(self, key: tuple[str, int]) -> np.ndarray:
        camera, row = key
        path = self.footage.frames[camera][row]
        frame = read_frame(path)
        if frame is None:
            raise ReplayError(f"cannot read the frame {path} (missing, cut off or not {FRAME_WIDTH}×{FRAME_HEIGHT}): "
                              "replace it, or delete its row from the log")
        return frame
