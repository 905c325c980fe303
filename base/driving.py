"""Which log rows are driving: the stretches the replay drives and training retimes its labels in.

A recording holds more than driving: pauses (the recorder stopped, or a held-out block cut out),
standstills (a car stuck against a wall while its driver wiggles the keys) and collisions (the car
losing speed faster than `collision_mps2`, harder than a hard stop). There is no path to follow
through them, so the replay restarts the car after each, and a label led or smoothed over time
(`training.samples`) never reaches across one. One definition serves both.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

import simulator_config
from base.kinematics import MPS_PER_MPH
from base.logformat import frame_time

RULES = simulator_config.load()["replay"]
UNTIMED_STEP_S = 1.0 / float(RULES["untimed_hz"])  # frames whose names carry no time stamp come at this rate


def row_times(rows: pd.DataFrame) -> tuple[np.ndarray, bool]:
    """(seconds of each row since its recording's first frame, whether every frame name carried its time).

    A recording whose frame names carry no time stamps is taken to run at the replay's `untimed_hz`.
    """
    times = np.zeros(len(rows))
    timed = True
    for _, members in rows.groupby("recording", sort=False).indices.items():
        stamps = [frame_time(path) for path in rows["center"].iloc[members]]
        if all(stamps):
            times[members] = [(when - stamps[0]).total_seconds() for when in stamps]
        else:
            times[members] = rows["row"].to_numpy(dtype=float)[members] * UNTIMED_STEP_S
            timed = False
    return times, timed


def driven_steps(rows: pd.DataFrame, times: np.ndarray) -> np.ndarray:
    """Per step from row i to row i+1 (len(rows) - 1 of them): whether the car drove it.

    A step is driven when it joins consecutive rows of one recording, goes forward in time by at most
    `max_gap_s`, the car moves (mean speed at least `standstill_mph`), and it is not part of a crash: a
    step that loses speed faster than `collision_mps2`, every step after it that still loses speed
    (a crash slows the car unevenly until it stands or drives off again), and the `before_crash_s`
    before it (a driver who hits a wall has left the road a moment earlier: `track1_windows` ends
    with its driver swerving off the road onto the verge, then into the barrier).
    """
    if len(rows) < 2:
        return np.zeros(0, dtype=bool)
    dt = np.diff(times)
    recording = rows["recording"].to_numpy()
    consecutive = (np.diff(rows["row"].to_numpy()) == 1) & (recording[1:] == recording[:-1])
    speeds = rows["speed"].to_numpy(dtype=float) * MPS_PER_MPH
    moving = 0.5 * (speeds[1:] + speeds[:-1]) >= float(RULES["standstill_mph"]) * MPS_PER_MPH
    gained = np.diff(speeds)
    slowing = gained < 0
    with np.errstate(divide="ignore", invalid="ignore"):
        crash = slowing & (-gained / dt > float(RULES["collision_mps2"]))
    before_s, max_gap = float(RULES["before_crash_s"]), float(RULES["max_gap_s"])
    for i in np.flatnonzero(crash & ~np.r_[False, crash[:-1]]):  # where each crash begins
        j = i  # a driver crashes after leaving the road: the path that leads there is no road to follow
        while (j > 0 and consecutive[j - 1] and 0 < dt[j - 1] <= max_gap  # not across a break in the recording
               and times[i] - times[j - 1] <= before_s + 1e-9):
            j -= 1
            crash[j] = True
        while i + 1 < len(crash) and slowing[i + 1] and consecutive[i + 1]:
            i += 1
            crash[i] = True
    return (dt > 0) & (dt <= max_gap) & consecutive & moving & ~crash


def stretches(driven: np.ndarray) -> list[tuple[int, int]]:
    """Maximal runs of driven steps as [first row, last row] (step i joins rows i and i+1)."""
    edges = np.diff(np.concatenate([[0], driven.astype(np.int8), [0]]))
    starts, stops = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    return [(int(a), int(b)) for a, b in zip(starts, stops)]


def stretch_ids(rows: pd.DataFrame, times: np.ndarray) -> np.ndarray:
    """Per row, the number of the driven stretch it belongs to; -1 for a row on none (standing, crashing, alone)."""
    ids = np.full(len(rows), -1)
    for number, (first, last) in enumerate(stretches(driven_steps(rows, times))):
        ids[first:last + 1] = number
    return ids
