"""Which rows are driving (`base.driving`): what the replay drives and the label lead stays within."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from base.driving import RULES, driven_steps, row_times, stretch_ids
from base.kinematics import MPS_PER_MPH
from base.logs import read_recordings


def rows(speed_mph, recording: str = "rec", hz: float = 10.0) -> pd.DataFrame:
    n = len(speed_mph)
    names = [f"/nowhere/IMG/center_2026_12_02_10_00_{int(i / hz):02d}_{round(i / hz % 1 * 1000):03d}.jpg" for i in range(n)]
    return pd.DataFrame({"center": names, "left": names, "right": names, "steering": 0.0, "throttle": 1.0,
                         "brake": 0.0, "speed": np.asarray(speed_mph, dtype=float), "recording": recording,
                         "row": np.arange(n)})


def test_a_crash_ends_the_stretch_but_braking_hard_does_not():
    limit = float(RULES["collision_mps2"])
    step_mph = lambda mps2: mps2 * 0.1 / MPS_PER_MPH  # noqa: E731 - speed lost in one 0.1 s step
    braking = 30 - step_mph(0.9 * limit) * np.arange(5)
    hit = 30 - step_mph(2 * limit)
    # The crash goes on while the car still loses speed, however gently; it drives off again after.
    crash = [30, 30, hit, hit - step_mph(0.5 * limit), hit - step_mph(0.6 * limit), hit - step_mph(0.4 * limit), hit]
    assert driven_steps(rows(braking), row_times(rows(braking))[0]).all()
    before = round(float(RULES["before_crash_s"]) * 10)  # steps of 0.1 s before the crash that are not driven
    crash = [30] * (before + 3) + crash[2:]
    steps = driven_steps(rows(crash), row_times(rows(crash))[0])
    # The second before the hit is no road either: the driver had left it (track1_windows ends so).
    assert steps.tolist() == [True, True] + [False] * before + [False, False, False, True, True]


def test_the_second_before_a_crash_stops_at_a_break_in_the_recording():
    hit = 30 - 2 * float(RULES["collision_mps2"]) * 0.1 / MPS_PER_MPH
    table = rows([30] * 35 + [hit, hit])
    # The clock steps back 5 s at row 30 (a recorder restarted): the rows before it are another stretch.
    table["center"] = [f"/nowhere/IMG/center_2026_12_02_10_00_{10 + (i - 50 * (i >= 30)) // 10:02d}_{i % 10}00.jpg"
                       for i in range(len(table))]
    steps = driven_steps(table, row_times(table)[0])
    assert steps[:29].all() and not steps[29]  # driven up to the break, which is no step
    assert not steps[30:35].any() and steps[35]  # after it: the second before the crash, the crash, driving on


def test_rows_standing_still_or_alone_belong_to_no_stretch():
    table = rows([3, 2.5, 2, 0.4, 0.1, 0.4, 2, 2.5])  # pulls up to a stand, then drives off
    ids = stretch_ids(table, row_times(table)[0])
    assert ids.tolist() == [0, 0, 0, 0, -1, 1, 1, 1]  # a step counts when the car moves on average
    lone = pd.concat([table.iloc[:2], table.iloc[6:7]])  # a held-out block cut to a single moving row
    assert stretch_ids(lone, row_times(lone)[0]).tolist() == [0, 0, -1]


def test_times_count_from_each_recordings_own_first_frame():
    two = pd.concat([rows([20] * 3, "a"), rows([20] * 3, "b", hz=5.0)], ignore_index=True)
    two.loc[3:, "center"] = [n.replace("2026_12_02", "2016_12_01") for n in two["center"][3:]]
    times, timed = row_times(two)
    assert timed
    np.testing.assert_allclose(times, [0, 0.1, 0.2, 0, 0.2, 0.4])
    untimed = two.assign(center=[f"/nowhere/frame{i}.jpg" for i in range(6)])
    times, timed = row_times(untimed)
    assert not timed
    assert times[1] - times[0] == pytest.approx(1 / float(RULES["untimed_hz"])) and times[3] == 0


def test_track1_windows_stops_driving_where_its_driver_swerves_off_the_road(realdata):
    # Frames 485-488 (checked by eye): a hard left swerve over the road's edge, then the verge and the
    # barrier the car hits at frame 495. A model that keeps to the road must not be charged for not following.
    table = read_recordings([realdata / "track1_windows"])
    steps = driven_steps(table, row_times(table)[0])
    swerve = int(np.flatnonzero(table["row"].to_numpy() == 485)[0])
    assert steps[swerve - 50:swerve - 4].all() and not steps[swerve - 1:].any()
