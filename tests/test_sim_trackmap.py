"""The sim.drive map: the path coloured by its distance from the centre line, which stays visible on top."""
from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.collections import LineCollection

from sim.trackmap import drive_map
from sim.tracks import load_track

REPORT = {"autonomy_percent": 97.0, "mean_speed_mph": 18.0, "mean_abs_offset_m": 0.5}


@pytest.mark.parametrize("laps, words", [(1, "1 lap,"), (2, "2 laps,"), (0, "0 laps,")])
def test_the_path_is_coloured_by_offset_under_the_centre_line(laps, words):
    track = load_track("lake")
    offsets = np.linspace(-3.0, 3.0, 40)
    points = track.points[100:140] + offsets[:, None] * track.right_normals[100:140]
    path = [tuple(p) for p in points[:20]] + [(math.nan, math.nan)] + [tuple(p) for p in points[20:]]
    fig = drive_map(track, path, [], REPORT | {"laps_completed": laps})
    try:
        ax = fig.axes[0]
        assert words in ax.get_title()
        (driven,) = [c for c in ax.collections if isinstance(c, LineCollection)]
        # One segment per step but the one across the gap where the car was put back, each coloured by
        # the distance of its start from the centre line.
        expected = np.abs(np.concatenate([offsets[:19], offsets[20:39]]))
        np.testing.assert_allclose(driven.get_array(), expected, atol=0.05)
        (centre,) = [line for line in ax.lines if line.get_label() == "centre line"]
        assert centre.get_zorder() > driven.get_zorder()
    finally:
        plt.close(fig)
