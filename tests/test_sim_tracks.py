"""Tracks: the shipped ones load and differ as promised; bad files fail with one clear line."""
from __future__ import annotations

import json

import numpy as np
import pytest

from sim.record import main as record_main
from sim.tracks import TrackError, load_track
from tests.sim_helpers import STRAIGHT_M, track_dict, write_track


def test_shipped_tracks_load_with_their_promised_shape():
    lake, mountain = load_track("lake"), load_track("mountain")
    assert 900 < lake.length_m < 1200  # "about 1 km"
    assert 1 / np.abs(mountain.curvature).max() < 1 / np.abs(lake.curvature).max()  # tighter curves
    # S-bends: mountain turns both ways tighter than a 30 m radius
    assert (mountain.curvature > 1 / 30).any() and (mountain.curvature < -1 / 30).any()
    assert lake.colours != mountain.colours
    assert lake.road_width_m > mountain.road_width_m


def test_a_track_is_found_by_path_and_locates_points(tmp_path):
    track = load_track(write_track(tmp_path))
    assert track.name == "oval"
    assert track.length_m == pytest.approx(2 * STRAIGHT_M + 2 * np.pi * 50, rel=0.01)
    here = track.locate(100.0, -1.5)  # on the bottom straight, driving east: south is to the right
    assert here.offset == pytest.approx(1.5, abs=0.02)
    assert here.heading == pytest.approx(0.0, abs=0.01)
    assert track.locate(100.0, 2.0).offset == pytest.approx(-2.0, abs=0.02)
    s, offset = track.locate_many(np.array([[100.0, -1.5], [100.0, 2.0]]))
    assert offset == pytest.approx([1.5, -2.0], abs=0.02)
    assert s[0] == pytest.approx(here.s)


@pytest.mark.parametrize("change, complaint", [
    ({"road_width_m": "wide"}, "'road_width_m' must be a number"),
    ({"centre_line_m": [[0, 0], [1, 1]]}, "at least 4 points"),
    ({"colours": {**track_dict()["colours"], "road": [300, 0, 0]}}, "'colours.road' must be a colour"),
    ({"scenery": {"hill_height_deg": 1, "water": [], "objects": [{"kind": "ufo"}]}}, "'scenery.objects[].kind' must be one of"),
    ({"centre_line_m": [[0, 0], [100, 100], [100, 0], [0, 100]]}, "crosses itself"),
    ({"centre_line_m": [[0, 0], [3, 0], [3, 3], [0, 3]]}, "too tight"),
])
def test_bad_track_files_say_what_to_fix(tmp_path, change, complaint):
    with pytest.raises(TrackError, match="track file .*: ") as info:
        load_track(write_track(tmp_path, **change))
    message = str(info.value)
    assert complaint in message and "\n" not in message


def test_missing_keys_unknown_names_and_broken_json(tmp_path):
    data = track_dict()
    del data["markings"]
    (tmp_path / "nomark.json").write_text(json.dumps(data))
    with pytest.raises(TrackError, match="missing 'markings'"):
        load_track(tmp_path / "nomark.json")
    with pytest.raises(TrackError, match="unknown track 'moon': use one of lake, mountain"):
        load_track("moon")
    (tmp_path / "broken.json").write_text("{")
    with pytest.raises(TrackError, match="not valid JSON"):
        load_track(tmp_path / "broken.json")
    with pytest.raises(TrackError, match="does not exist"):
        load_track(tmp_path / "absent.json")


def test_cli_reports_a_bad_track_in_one_line(tmp_path, capsys):
    bad = write_track(tmp_path, road_width_m=-1)
    assert record_main(["--track", str(bad), "--laps", "1", "--out", str(tmp_path / "rec")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: track file") and err.count("\n") == 1
    assert not (tmp_path / "rec" / "driving_log.csv").exists()
