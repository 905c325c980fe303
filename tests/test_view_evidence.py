"""What `studies.view_evidence` measures `replay.evidence_m` with: road masks and their edges."""
from __future__ import annotations

import numpy as np
import pytest

from sim.render import shared_renderer
from sim.tracks import load_track
from studies.view_evidence import (
    AHEAD_M,
    CRITERION_AHEAD_M,
    EDGE_ROWS,
    NO_EDGE_M,
    SYNTH,
    Case,
    edge_errors,
    moved,
    road_mask,
    track_poses,
)


def test_a_mask_against_itself_has_no_edge_error_and_a_lost_edge_counts_as_missing():
    mask = np.zeros((160, 320), np.uint8)
    mask[:, 100:220] = 255
    errors = edge_errors(mask, mask)
    assert len(errors) == 2 * 2 * len(EDGE_ROWS) and np.all(errors[:, 0] == 0)
    assert sorted(set(errors[:, 1])) == sorted(AHEAD_M)
    flooded = np.full_like(mask, 255)  # the synthesised view shows road all the way: no edge at all
    assert np.all(edge_errors(mask, flooded)[:, 0] == NO_EDGE_M)


def test_an_edge_moved_sideways_is_off_by_its_distance_on_the_ground():
    mask = np.zeros((160, 320), np.uint8)
    mask[:, 100:220] = 255
    shifted = np.roll(mask, 3, axis=1)
    errors = edge_errors(mask, shifted)
    gx = SYNTH.target.ground[0]
    for row, ahead in zip(EDGE_ROWS, AHEAD_M):
        expected = abs(gx[row, 103] - gx[row, 100])
        assert errors[errors[:, 1] == ahead, 0] == pytest.approx(expected, rel=0.05)


def test_a_view_synthesised_a_metre_from_the_camera_shows_the_far_edges_where_the_true_view_does():
    track = load_track("lake")
    renderer = shared_renderer(track)
    pose = track_poses(track, 4)[1]
    case = Case("right", 1.0, 0.0)
    masks = {"right": road_mask(renderer, pose, "right")}
    truth = road_mask(renderer, moved(pose, case.shift), "center", EDGE_ROWS)
    errors = edge_errors(truth, SYNTH.synthesize(masks, case.shift, "right"))
    far = errors[np.isin(errors[:, 1], CRITERION_AHEAD_M), 0]
    assert len(far) >= 4 and np.median(far) <= 0.25
