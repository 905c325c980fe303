"""evaluate.surface: the asphalt beyond a painted edge line is surface, however blurred; far sightings stay out."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from evaluate.surface import LATERAL_M, SEEN_M, Sightings, fuse, line_edges, road_distance, road_mask

ROAD = (45.0, 0.0, 2.5)  # Lab of the headless lake's asphalt, as the cameras see it
LINE = (79.0, -2.0, 65.0)  # its yellow edge line
SHOULDER = (58.0, 2.0, 18.0)  # the dirt beyond the asphalt
GRASS = (61.0, -10.0, 45.0)
WHITE = (92.0, 0.0, 2.0)  # a kerb's white stripe


def bird_view(bands: list[tuple[float, tuple[float, float, float]]], blur_m: float) -> np.ndarray:
    """A bird's-eye grid (SEEN_M × LATERAL_M, Lab) of a straight road, mirrored left and right: each band
    (outer end in metres from the centre line, colour) from the previous one's end, blurred across."""
    colour = np.empty((len(LATERAL_M), 3), np.float32)
    inner = 0.0
    for outer, lab in bands:
        colour[(np.abs(LATERAL_M) >= inner - 1e-6) & (np.abs(LATERAL_M) < outer - 1e-6)] = lab
        inner = outer
    colour[np.abs(LATERAL_M) >= inner - 1e-6] = bands[-1][1]
    if blur_m > 0:
        colour = cv2.GaussianBlur(colour[None], (0, 0), sigmaX=blur_m / 0.1, sigmaY=0.1)[0]
    return np.repeat(colour[None], len(SEEN_M), axis=0)


def edges(lab: np.ndarray, with_distance: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    roads = np.tile(np.array(ROAD, np.float32), (3, 1))
    distance = road_distance(lab, roads)
    return line_edges(road_mask(lab, roads, distance), distance if with_distance else None)


LAKE = [(3.9, ROAD), (4.15, LINE), (4.5, ROAD), (5.4, SHOULDER), (9.5, GRASS)]  # sim.world's lake: asphalt to 4.5 m


@pytest.mark.parametrize("blur_m", [0.0, 0.1, 0.15, 0.2])
def test_the_asphalt_strip_beyond_an_edge_line_is_surface_even_blurred_into_the_line_and_the_verge(blur_m):
    left, right, left_censored, right_censored = edges(bird_view(LAKE, blur_m))
    assert not left_censored.any() and not right_censored.any()
    np.testing.assert_allclose(right, 4.5, atol=0.2)
    np.testing.assert_allclose(left, -4.5, atol=0.2)


def test_without_the_colour_distances_the_blurred_strip_beyond_the_line_is_lost():
    # What the distances buy: the same view read from its classes alone stops at the line.
    right = edges(bird_view(LAKE, 0.2), with_distance=False)[1]
    assert (right < 4.3).all()


@pytest.mark.parametrize("blur_m", [0.0, 0.1, 0.2])
def test_a_line_at_the_very_edge_of_the_asphalt_never_takes_the_surface_onto_the_verge(blur_m):
    left, right, _, _ = edges(bird_view([(4.25, ROAD), (4.5, LINE), (5.4, SHOULDER), (9.5, GRASS)], blur_m))
    assert (right <= 4.55).all() and (left >= -4.55).all()
    assert (right >= 3.9).all() and (left <= -3.9).all()  # the line itself is surface, less what blur takes


def test_a_wide_white_kerb_beside_the_road_is_no_edge_line_and_not_surface():
    right = edges(bird_view([(4.5, ROAD), (5.3, WHITE), (6.2, SHOULDER), (9.5, GRASS)], 0.1))[1]
    np.testing.assert_allclose(right, 4.5, atol=0.2)


def test_an_edge_line_running_out_of_view_leaves_the_edge_unknown_not_at_the_line():
    lab = bird_view(LAKE, 0.1)
    lab[:, LATERAL_M > 4.25] = np.nan  # the view ends just past the line: what lies beyond is unseen
    _, right, _, right_censored = edges(lab)
    assert right_censored.all()
    assert (right >= 4.15).all()


def test_edges_seen_far_ahead_do_not_pull_the_fused_edge_in():
    # A straight drive at 0.5 m a row, the road's left edge 4.5 m left of the path; frames see it right
    # up to 9 m ahead and 0.4 m short beyond (far lines blur the edge line into the verge).
    rows = 80
    poses = np.stack([0.5 * np.arange(rows), np.zeros(rows), np.zeros(rows)], axis=1)
    left = np.where(SEEN_M <= 9.0, -4.5, -4.1) * np.ones((rows, 1))
    right = np.full_like(left, 4.5)
    censored = np.zeros_like(left, bool)
    fused_left, fused_right, confidence = fuse(Sightings(left, right, censored, censored.copy()), poses, 0)
    middle = slice(30, 50)
    np.testing.assert_allclose(fused_left[middle], -4.5, atol=1e-6)
    np.testing.assert_allclose(fused_right[middle], 4.5, atol=1e-6)
    assert (confidence[middle] > 0.9).all()
