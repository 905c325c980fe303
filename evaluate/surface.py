"""The drivable surface of every recorded frame: where the road's edges are around and ahead of the car.

For each row of a recording: the left and right edges of the drivable surface (asphalt with its painted
lines; not kerbs, dirt, grass, water, walls or rock), in metres right of the car-frame origin the
cameras are placed in (simulator.json; the replay's pose origin), at forward distances `STATIONS_M` from behind the rear
axle to 10 m ahead, each with a confidence 0..1.

How (docs/surface.md has the measurements that chose it):
1. Each camera frame is sampled on the flat ground ahead (`Camera.project`): a bird's-eye grid of lines
   across the car, `SEEN_M` ahead (the hood hides the first 3 m), each point from the camera nearest to
   it sideways. Colours are CIE Lab, blurred a little so asphalt's grain does not read as an edge.
2. The road's colours: medians of a patch just ahead of the car over rows around, behind and ahead,
   taken only where the patch looks like the recording's road (near its median patch in chroma): a car
   on the verge keeps the road colour seen before, so the verge does not become road; a bridge's
   bricks do.
3. A grid point is road when its colour is near a road colour (lightness tolerated more towards dark,
   and bluer in the dark, for shade). Along each line, thin marks are closed over; from the car's
   position (or, off the road, from the nearest stretch of road at least `MIN_ROAD_M` wide within
   `MAX_SEED_M`) the road runs out to the first other surface on each side, then on past an edge line
   (paint) and the asphalt just beyond it, found by its colour dipping towards the road's between the
   line and the verge where it is too blurred to read as road: the edges, median-filtered over
   neighbouring lines. An edge past what the cameras see, or a line running out of their view, is
   censored (the road is at least that wide).
4. The car moves along the recorded path (`evaluate.replay.recorded_poses`), so every edge seen from
   one row is a point on the ground for the rows around it: each row's edges at each station are the
   weighted mean (nearer sightings weigh more) of the sightings within `AGREE_M` of their weighted
   median (those up to `FUSED_AHEAD_M` ahead), from the frames within `FUSE_M` along the path, bounded
   by how far censored sightings saw the road reach, then median-filtered over `ROW_MEDIAN` rows. Near the axle (under the hood) only
   earlier frames saw the ground.
Confidence: the share of observations that saw an edge (not censored) times the share that agree
with their median within `AGREE_M`. Computed once per footage and cached under the user's cache
folder (`cache_folder()`), never beside the recording.
"""
from __future__ import annotations

import hashlib
import io
import logging
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from base.atomic import write_bytes_atomic
from base.cameras import CAMERA_NAMES, Camera
from base.frames import read_frame
from base.logformat import LOG_NAME
from evaluate.replay import Footage, ReplayError, recorded_poses

log = logging.getLogger(__name__)

METHOD_VERSION = 13  # part of the cache key: raise it whenever the estimate changes
STATIONS_M = np.round(np.arange(-3.0, 10.01, 0.5), 2)  # where each row's edges are given (forward, car frame)
SEEN_M = np.round(np.arange(3.25, 11.01, 0.25), 2)  # the grid lines across the car that the cameras see
# Edges seen further ahead are not fused: past 9 m an edge line, the asphalt beyond it and the verge blur
# into one ramp and edges read 0.4-1.3 m short (headless lake); frames nearer see that ground too.
FUSED_AHEAD_M = 9.0
LATERAL_M = np.round(np.arange(-9.0, 9.001, 0.1), 2)  # the grid's points along each line (right positive)
LOWEST_ROW = 130  # image rows below this may show the hood (its top is at 135 in the centre, lower at the sides)
PATCH = (1.0, 3.5, 6.0)  # the road-colour patch: |x| < 1 m, 3.5–6 m ahead
GREY_CHROMA = 16.0
ROAD_ROWS, SHORT_ROWS = 30, 10  # a row's road colours: medians of the good patches this many rows either side  # a patch further than this (Lab a, b) from the recording's median patch is not road
TOLERANCE = (45.0, 25.0, 5.0)
SHADE_BLUE = 14.0  # Lab b units of blue tolerated in the darkest shade  # Lab distance that is still road: darker (shadow), brighter, per chroma unit
CLOSE_M = 0.85  # non-road marks narrower than this across (painted lines) are closed over
MIN_ROAD_M = 1.2  # off the road, the nearest road stretch at least this wide is the road ...
PAINT_L, PAINT_A, PAINT_M = 12.0, 10.0, 0.9  # paint: this much lighter (or half as much and yellower) than the road, about as red; ending this far out
LINE_CELLS = 5  # an edge line is at most this many grid points (0.5 m) of paint
LINE_START = 6  # ... beginning within this many points of where the road stops (a far line's blurred border)
VALLEY_START, VALLEY_CELLS = 3, 7  # the asphalt beyond an edge line: its dip begins within 0.3 m of the line, ends within 0.7 m
VALLEY_RISE = 4  # ... and rises to the verge within this many points of its lowest
VALLEY_MAX, VALLEY_DEPTH = 3.0, 0.5  # ... its colour within this of the road's, this much nearer than the verge's (tolerances)
LOOSE = 2.0  # tolerances (× TOLERANCE) within which asphalt just beyond an edge line still counts
MAX_SEED_M = 3.0  # ... if it begins within this of the car (further: another stretch of road, or none)
FUSE_M = 10.0  # frames this far behind or ahead along the path contribute to a row's edges ...
MAX_TURN_RAD = np.radians(35.0)  # ... if turned no further from it (the recorded path drifts in hairpins)
AGREE_M = 0.5
ROW_MEDIAN = 5  # consecutive rows over which each station's fused edge is median-filtered
LINE_MEDIAN = 5  # lines (1.25 m) over which a frame's edges are median-filtered
GAP_S = 1.0  # rows further apart in time are not joined along a path


@dataclass(frozen=True)
class Surface:
    """Per row of a footage and station: the drivable surface's edges (metres right of the pose origin)."""

    stations_m: np.ndarray  # forward distances (stations,)
    left_m: np.ndarray  # (rows, stations); NaN where nothing is known
    right_m: np.ndarray
    confidence: np.ndarray  # (rows, stations) 0..1

    def edges_at(self, rows: np.ndarray, forward_m: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(left, right, confidence) at `forward_m` ahead of each of `rows` (same shapes), linearly between
        stations; beyond the first or last station, that station's edges with confidence 0."""
        rows = np.asarray(rows, dtype=int)
        forward = np.asarray(forward_m, dtype=float)
        pos = np.interp(forward, self.stations_m, np.arange(len(self.stations_m)))
        k = np.clip(np.floor(pos).astype(int), 0, len(self.stations_m) - 2)
        t = pos - k
        left, right, conf = (table[rows, k] * (1 - t) + table[rows, k + 1] * t
                             for table in (self.left_m, self.right_m, self.confidence))
        inside = (forward >= self.stations_m[0]) & (forward <= self.stations_m[-1])
        return left, right, np.where(inside, np.nan_to_num(conf), 0.0)


class GroundGrid:
    """Where each point of the bird's-eye grid (`SEEN_M` × `LATERAL_M`) lies in each camera's frame."""

    def __init__(self, cameras: list[str]) -> None:
        x, z = np.meshgrid(LATERAL_M, SEEN_M)
        points = np.stack([x, np.zeros_like(x), z], axis=-1)
        self.cameras = cameras
        self.maps = {}
        seen = {}
        for name in cameras:
            u, v, depth = Camera.from_config(name).project(points)
            u, v = u - 0.5, v - 0.5  # remap addresses pixel centres at integers
            seen[name] = (depth > 0) & (u >= 0) & (u <= 319) & (v >= 0) & (v <= LOWEST_ROW)
            self.maps[name] = (u.astype(np.float32), v.astype(np.float32))
        # Each point from the camera nearest to it sideways among those that see it.
        distance = np.stack([np.where(seen[n], np.abs(x - Camera.from_config(n).position[0]), np.inf) for n in cameras])
        self.source = np.argmin(distance, axis=0)
        self.seen = np.isfinite(distance.min(axis=0))

    def lab(self, frames: dict[str, np.ndarray]) -> np.ndarray:
        """The grid's colours (lines, points, 3) in CIE Lab (L 0..100), NaN where no camera sees the ground."""
        out = np.full((*self.source.shape, 3), np.nan, np.float32)
        for i, name in enumerate(self.cameras):
            take = self.seen & (self.source == i)
            if not take.any():
                continue
            # Blurred in the image (asphalt's grain is finer than the grid), sampled, then converted:
            # converting the few grid points rather than the whole frame is most of the speed.
            blurred = cv2.GaussianBlur(frames[name], (5, 5), 0)
            sampled = cv2.remap(blurred, *self.maps[name], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
            lab = cv2.cvtColor(sampled.astype(np.float32) / 255, cv2.COLOR_RGB2Lab)
            out[take] = lab[take]
        return out


def patch_colour(lab: np.ndarray) -> np.ndarray:
    """The median Lab colour of the patch just ahead of the car."""
    half, near, far = PATCH
    rows = (SEEN_M >= near) & (SEEN_M <= far)
    cols = np.abs(LATERAL_M) < half
    return np.nanmedian(lab[rows][:, cols].reshape(-1, 3), axis=0)


def road_colours(patches: np.ndarray) -> np.ndarray:
    """Per row, the road's colours (3, 3): the medians of the patches that look like road (within
    GREY_CHROMA of the recording's median patch) over ROAD_ROWS rows either side, over the SHORT_ROWS
    rows before and over those ahead (what the frame sees ahead is where the car will be then). The long
    one keeps a few frames heading off the road (a wall or the verge in the patch) from becoming the
    road; the short ones follow the road's own changes (a bridge's bricks, deep shade) from both ends."""
    typical = np.nanmedian(patches, axis=0)
    chroma = np.hypot(patches[:, 1] - typical[1], patches[:, 2] - typical[2])
    good = np.flatnonzero(np.isfinite(chroma) & (chroma < GREY_CHROMA) & (np.abs(patches[:, 0] - typical[0]) < TOLERANCE[0]))
    if not len(good):
        return np.broadcast_to(typical, (len(patches), 3, 3)).copy()
    out = np.empty((len(patches), 3, 3), patches.dtype)
    for row in range(len(patches)):
        for k, (lo, hi) in enumerate(((row - ROAD_ROWS, row + ROAD_ROWS), (row - SHORT_ROWS, row), (row + 2, row + 2 + SHORT_ROWS))):
            a, b = np.searchsorted(good, [lo, hi + 1])
            near = good[a:b] if b > a else good[[min(a, len(good) - 1)]]
            out[row, k] = np.median(patches[near], axis=0)
    return out


def road_distance(lab: np.ndarray, roads: np.ndarray) -> np.ndarray:
    """Per grid point: how far its colour is from the nearest road colour, in tolerances (under 1 is
    road; NaN unseen)."""
    dark, bright, chroma = TOLERANCE
    distance = np.full(lab.shape[:2], np.inf, np.float32)
    for road in roads:
        dl = lab[..., 0] - road[0]
        # Shade is darker and bluer (lit by the sky alone): the darker, the more blue is allowed.
        shade = np.clip(-dl / dark, 0, 1) * SHADE_BLUE
        db = lab[..., 2] - road[2]
        db = np.where(db < 0, np.minimum(0, db + shade), db)
        dl = np.where(dl < 0, dl / dark, dl / bright)
        here = dl**2 + ((lab[..., 1] - road[1]) / chroma) ** 2 + (db / chroma) ** 2
        distance = np.fmin(distance, here)
    return np.sqrt(np.where(np.isfinite(lab[..., 0]), distance, np.nan))


def road_mask(lab: np.ndarray, roads: np.ndarray, distance: np.ndarray | None = None) -> np.ndarray:
    """Per grid point: 1 road (near a road colour; thin marks across a line closed over), 2 paint,
    3 road only loosely (within LOOSE tolerances), 0 other surface, -1 unseen. `distance`: the
    points' `road_distance`, where it is at hand."""
    distance = road_distance(lab, roads) if distance is None else distance
    seen = np.isfinite(lab[..., 0])
    road_here = (np.nan_to_num(distance, nan=9.0, posinf=9.0) < 1.0).astype(np.uint8)
    width = int(round(CLOSE_M / 0.1)) | 1
    closed = cv2.morphologyEx(road_here, cv2.MORPH_CLOSE, np.ones((1, width), np.uint8))
    # Paint (white or yellow lines): brighter than the road, not red. An edge line is part of the surface.
    with np.errstate(invalid="ignore"):
        lighter = lab[..., 0] - roads[0][0]
        yellower = lab[..., 2] - roads[0][2]
        paint = (np.abs(lab[..., 1] - roads[0][1]) < PAINT_A) & (closed == 0) & (
            (lighter > PAINT_L) | ((lighter > PAINT_L / 2) & (yellower > 2 * PAINT_L)))
    loose = (closed == 0) & ~paint & (np.nan_to_num(distance, nan=99.0, posinf=99.0) < LOOSE)
    marks = np.select([paint, loose], [np.int8(2), np.int8(3)], closed.astype(np.int8))
    return np.where(seen, marks, np.int8(-1))


def line_edges(mask: np.ndarray, distance: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per grid line: (left, right, left censored, right censored) edges of the road stretch the car is
    on, or, off the road, of the nearest stretch at least MIN_ROAD_M wide; NaN where a line has none.
    With the points' `road_distance`, the asphalt beyond an edge line is found where it is too
    blurred to read as road (`_past_line`)."""
    n_lines, n_points = mask.shape
    cols = np.arange(n_points)
    centre = int(np.argmin(np.abs(LATERAL_M)))
    wide = cv2.morphologyEx((mask == 1).astype(np.uint8), cv2.MORPH_OPEN,
                            np.ones((1, int(round(MIN_ROAD_M / 0.1)) | 1), np.uint8)).astype(bool)
    on_road = mask[:, centre] == 1
    far = np.where(wide & (np.abs(cols - centre) <= int(round(MAX_SEED_M / 0.1))), np.abs(cols - centre), n_points * 2)
    seed = np.where(on_road, centre, np.argmin(far, axis=1))
    found = on_road | (far.min(axis=1) < n_points * 2)
    stop = mask != 1
    left_stop = np.where(stop & (cols[None] < seed[:, None]), cols[None], -1).max(axis=1)
    right_stop = np.where(stop & (cols[None] > seed[:, None]), cols[None], n_points).min(axis=1)
    lines = np.arange(n_lines)
    left_stop = _through_paint(mask, distance, lines, left_stop, -1)
    right_stop = _through_paint(mask, distance, lines, right_stop, 1)
    half = 0.05
    left_censored = (left_stop < 0) | (mask[lines, np.clip(left_stop, 0, n_points - 1)] == -1)
    right_censored = (right_stop >= n_points) | (mask[lines, np.clip(right_stop, 0, n_points - 1)] == -1)
    left = LATERAL_M[np.clip(left_stop, 0, n_points - 1)] + half
    right = LATERAL_M[np.clip(right_stop, 0, n_points - 1)] - half
    return (np.where(found, left, np.nan), np.where(found, right, np.nan),
            left_censored | ~found, right_censored | ~found)


def _through_paint(mask: np.ndarray, distance: np.ndarray | None, lines: np.ndarray, stop: np.ndarray, step: int) -> np.ndarray:
    """Where each line's road stops, moved out past an edge line: an unbroken run of two to LINE_CELLS
    cells of paint beginning within LINE_START cells of the stop (its blurred border may not read as
    paint) and ending within PAINT_M, then past any road beyond, or past the asphalt strip beyond it
    (`_past_line`, given the points' `distance`). A wider bright run (a kerb's white stripe, a
    concrete verge) is no line and stays outside. A line running out of view leaves the edge censored."""
    n_points = mask.shape[1]
    cells = int(round(PAINT_M / 0.1))
    at = stop[:, None] + step * np.arange(cells + 1)[None]
    inside = (at >= 0) & (at < n_points)
    values = np.where(inside, mask[lines[:, None], np.clip(at, 0, n_points - 1)], -1)
    painted = values == 2
    # The line: one unbroken run of paint from within LINE_START cells of the stop. Counting all the paint in
    # reach instead let a light verge beyond (the headless lake's shoulder) make a line too wide to be one.
    first = np.where(painted[:, :LINE_START + 1].any(axis=1), painted[:, :LINE_START + 1].argmax(axis=1), cells + 1)
    broken = (np.arange(cells + 1)[None] >= first[:, None]) & ~painted
    end = np.where(broken.any(axis=1), broken.argmax(axis=1), cells + 1)  # the first cell past the run
    after = values[np.arange(len(lines)), np.clip(end, 0, cells)]
    line = (first <= LINE_START) & (end - first >= 2) & (end - first <= LINE_CELLS) & (end <= cells) & (after != -1)
    # A line that runs out of the cameras' view may have road beyond it: the edge is out of sight.
    cut = (first <= LINE_START) & (end - first <= LINE_CELLS) & (end <= cells) & (after == -1)
    last = end - 1
    moved = np.where(line, stop + step * (last + 1), stop)
    cols = np.arange(n_points)[None]
    # The road beyond the line, if it resumes within the line's blurred border (three cells).
    ahead = (cols - moved[:, None]) * step
    # Beside a line, asphalt blurred with the line and what lies beyond may match the road only loosely.
    roadish = (mask == 1) | (mask == 3)
    resumes = np.where((ahead >= 0) & (ahead <= 3) & roadish, ahead, 99).min(axis=1)
    start = np.where(resumes < 99, moved + step * resumes, moved)
    if step > 0:
        beyond = np.where((cols >= start[:, None]) & ~roadish, cols, n_points).min(axis=1)
    else:
        beyond = np.where((cols <= start[:, None]) & ~roadish, cols, -1).max(axis=1)
    past = moved if distance is None else _past_line(distance, lines, moved, step)
    return np.where(line & (resumes < 99), beyond, np.where(line, past, np.where(cut, stop + step * end, moved)))


def _past_line(distance: np.ndarray, lines: np.ndarray, moved: np.ndarray, step: int) -> np.ndarray:
    """Where the asphalt just beyond an edge line ends, from the first cell past the line (`moved`): a
    strip a few tenths of a metre wide, blurred between the bright line and the verge, reads as no
    colour of the road, but its colour dips towards the road's between them (the line fading into
    the verge never does). The edge is where the dip has risen half-way back to the verge's colour."""
    n_points = distance.shape[1]
    k = np.arange(VALLEY_CELLS + 1)[None]
    at = moved[:, None] + step * k
    inside = (at >= 0) & (at < n_points)
    d = np.where(inside, distance[lines[:, None], np.clip(at, 0, n_points - 1)], np.nan)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        dip_at = np.argmin(np.nan_to_num(d[:, :VALLEY_START + 1], nan=np.inf), axis=1)
        dip = d[np.arange(len(lines)), dip_at]
        # The edge: the steepest rise out of the dip (a blurred step's middle), not the verge's own far side.
        rising = (k > dip_at[:, None]) & (k <= dip_at[:, None] + VALLEY_RISE)
        verge = np.nanmax(np.where(rising, d, np.nan), axis=1)
        rise = np.diff(d, axis=1, prepend=np.nan)
        steepest = np.nan_to_num(np.where(rising, rise, np.nan), nan=-np.inf)
    out = np.isfinite(steepest).any(axis=1) & np.isfinite(verge)
    edge_at = np.where(out, steepest.argmax(axis=1), 0)
    valley = out & (dip <= VALLEY_MAX) & (verge - dip >= VALLEY_DEPTH)
    # Beyond the line, the view ends before a dip and the verge could be told apart: the edge is out of sight.
    unseen = np.isnan(d)
    blind = np.where(unseen.any(axis=1), unseen.argmax(axis=1), VALLEY_CELLS + 1)
    blind_first = (blind <= VALLEY_START + 2) & ~(valley & (edge_at < blind))
    return np.where(blind_first, moved + step * blind, np.where(valley, moved + step * edge_at, moved))


@dataclass(frozen=True)
class Sightings:
    """Per row and grid line: the edges its frames show (metres right, in that row's frame)."""

    left: np.ndarray  # (rows, lines)
    right: np.ndarray
    left_censored: np.ndarray  # bool: the road went on out of sight
    right_censored: np.ndarray


def sight(footage: Footage) -> Sightings:
    """The edges every row's frames show (steps 1–3 of the module's method)."""
    cameras = [name for name in CAMERA_NAMES if name in footage.cameras] or ["center"]
    grid = GroundGrid(cameras)
    n = len(footage.times_s)
    labs = np.empty((n, len(SEEN_M), len(LATERAL_M), 3), np.float16)
    # Once per recording, then cached: a bar says what the pause is (none where stderr is no terminal).
    for row in tqdm(range(n), desc="reading the road surface", unit="row", leave=False, disable=None):
        frames = {}
        for name in cameras:
            frame = read_frame(footage.frames[name][row])
            if frame is None:
                raise ReplayError(f"cannot read the frame {footage.frames[name][row]} (missing, cut off or another size): "
                                  "replace it, or delete its row from the log")
            frames[name] = frame
        labs[row] = grid.lab(frames)
    roads = road_colours(np.array([patch_colour(lab.astype(np.float32)) for lab in labs]))
    shape = (n, len(SEEN_M))
    out = Sightings(np.full(shape, np.nan), np.full(shape, np.nan), np.ones(shape, bool), np.ones(shape, bool))
    for row in range(n):
        lab = labs[row].astype(np.float32)
        distance = road_distance(lab, roads[row])
        left, right, lc, rc = line_edges(road_mask(lab, roads[row], distance), distance)
        out.left[row], out.right[row] = _along_median(left), _along_median(right)
        out.left_censored[row], out.right_censored[row] = lc, rc
    return out


def _row_median(table: np.ndarray) -> np.ndarray:
    """Each station's edge as the median over ROW_MEDIAN consecutive rows: an edge that jumps for a
    row or two (a seam across the road read as its end) is noise; a car leaving the road takes longer."""
    half = ROW_MEDIAN // 2
    if len(table) <= half:
        return table
    windows = np.lib.stride_tricks.sliding_window_view(np.pad(table, ((half, half), (0, 0)), mode="edge"), ROW_MEDIAN, axis=0)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmedian(windows, axis=-1)


def _along_median(edges: np.ndarray) -> np.ndarray:
    """Each line's edge as the median of its own and its neighbours' (LINE_MEDIAN lines): a single line
    across a seam (the bridge's end, a shadow's edge) ends the road at the car, and must not count."""
    half = LINE_MEDIAN // 2
    padded = np.pad(edges, half, mode="edge")
    windows = np.lib.stride_tricks.sliding_window_view(padded, LINE_MEDIAN)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an all-NaN window stays NaN
        return np.nanmedian(windows, axis=1)


def path_stretches(times_s: np.ndarray) -> list[tuple[int, int]]:
    """[first, last] rows of each run whose consecutive rows are under GAP_S apart and forward in time:
    the stretches a recorded path joins (wider than the replay's segments: standstills and crashes too)."""
    dt = np.diff(times_s)
    joined = (dt > 0) & (dt <= GAP_S)
    breaks = np.flatnonzero(~joined)
    starts = np.concatenate([[0], breaks + 1])
    stops = np.concatenate([breaks, [len(times_s) - 1]])
    return [(int(a), int(b)) for a, b in zip(starts, stops)]


def fuse(sightings: Sightings, poses: np.ndarray, first: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(left, right, confidence) per row of one stretch (poses (rows, 3) from `recorded_poses`) and station."""
    n = len(poses)
    span = slice(first, first + n)
    x, y, h = poses[:, 0], poses[:, 1], poses[:, 2]
    s = np.concatenate([[0.0], np.cumsum(np.hypot(np.diff(x), np.diff(y)))])
    fx, fy, rx, ry = np.cos(h), np.sin(h), np.sin(h), -np.cos(h)
    used = SEEN_M <= FUSED_AHEAD_M
    ahead = SEEN_M[used]
    weight = np.broadcast_to(1.0 / ahead**2, (n, len(ahead)))
    out = [np.full((n, len(STATIONS_M)), np.nan) for _ in range(2)] + [np.zeros((n, len(STATIONS_M)))]
    sides = []
    for lateral, censored in ((sightings.left[span][:, used], sightings.left_censored[span][:, used]),
                              (sightings.right[span][:, used], sightings.right_censored[span][:, used])):
        wx = x[:, None] + fx[:, None] * ahead + rx[:, None] * lateral
        wy = y[:, None] + fy[:, None] * ahead + ry[:, None] * lateral
        sides.append((wx, wy, censored))
    for r in range(n):
        near = np.flatnonzero((np.abs(s - s[r]) <= FUSE_M) & (np.abs(_wrap(h - h[r])) <= MAX_TURN_RAD))
        agreed = []
        for side, (wx, wy, censored) in enumerate(sides):
            dx, dy = wx[near] - x[r], wy[near] - y[r]
            along = dx * fx[r] + dy * fy[r]
            across = dx * rx[r] + dy * ry[r]
            station = np.rint(np.nan_to_num(along - STATIONS_M[0], nan=-1e3) / 0.5).astype(int)
            keep = (np.abs(along - (STATIONS_M[0] + 0.5 * station)) <= 0.25) & (station >= 0) & (station < len(STATIONS_M))
            keep &= np.isfinite(across)
            edge, share = _combine(station[keep], across[keep], censored[near][keep], weight[near][keep], side == 0)
            out[side][r] = edge
            agreed.append(share)
        out[2][r] = np.minimum(*agreed)
    return out[0], out[1], out[2]


def _wrap(angle: np.ndarray) -> np.ndarray:
    return (angle + np.pi) % (2 * np.pi) - np.pi


def _combine(station: np.ndarray, value: np.ndarray, censored: np.ndarray, weight: np.ndarray,
             left: bool) -> tuple[np.ndarray, np.ndarray]:
    """Per station: the weighted mean of the sightings that saw the edge within AGREE_M of their weighted
    median, and how sure it is (weight share of sightings that saw it × weight share of those that
    agree); where none saw it, the furthest out that the road was seen to reach, with confidence 0."""
    n = len(STATIONS_M)
    edge = np.full(n, np.inf if left else -np.inf)
    (np.minimum if left else np.maximum).at(edge, station, value)  # censored sightings: the road's least reach
    total = np.bincount(station, weight, n)
    seen = ~censored
    st, v, w = station[seen], value[seen], weight[seen]
    order = np.lexsort((v, st))
    st, v, w = st[order], v[order], w[order]
    seen_total = np.bincount(st, w, n)
    cumulative = np.cumsum(w)
    before = np.concatenate([[0.0], np.cumsum(seen_total)])[st]  # weight of the stations sorted before
    first_half = np.flatnonzero(cumulative - before >= 0.5 * seen_total[st])
    median = np.full(n, np.nan)
    median[st[first_half[::-1]]] = v[first_half[::-1]]  # the first index per station wins (written last)
    agree = np.abs(v - median[st]) <= AGREE_M
    agreed = np.bincount(st[agree], w[agree], n)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.bincount(st[agree], (v * w)[agree], n) / agreed
        share = np.where(total > 0, seen_total / total, 0.0) * np.where(seen_total > 0, agreed / seen_total, 0.0)
    reach = _censored_reach(station[censored], value[censored], weight[censored], left)
    # Sightings that saw the road go on out of sight bound the edge: far sightings that end the road
    # nearer than near ones saw it reach are wrong (a hill bends the ground they assume flat).
    mean = np.where(np.isfinite(reach), np.fmin(mean, reach) if left else np.fmax(mean, reach), mean)
    edge = np.where(agreed > 0, mean, np.where(np.isfinite(edge), edge, np.nan))
    return edge, np.nan_to_num(share)


def _censored_reach(station: np.ndarray, value: np.ndarray, weight: np.ndarray, left: bool) -> np.ndarray:
    """Per station, the weighted median of how far censored sightings saw the road reach (NaN where none)."""
    reach = np.full(len(STATIONS_M), np.nan)
    for k in np.unique(station):
        here = station == k
        v, w = value[here], weight[here]
        order = np.argsort(v)
        cumulative = np.cumsum(w[order])
        reach[k] = v[order][np.searchsorted(cumulative, 0.5 * cumulative[-1])]
    return reach


def estimate(footage: Footage) -> Surface:
    """The surface of every row of `footage`, computed afresh."""
    sightings = sight(footage)
    n = len(footage.times_s)
    left, right = np.full((n, len(STATIONS_M)), np.nan), np.full((n, len(STATIONS_M)), np.nan)
    confidence = np.zeros((n, len(STATIONS_M)))
    for first, last in path_stretches(footage.times_s):
        poses = recorded_poses(footage, first, last)
        rows = slice(first, last + 1)
        left[rows], right[rows], confidence[rows] = fuse(sightings, poses, first)
        left[rows], right[rows] = _row_median(left[rows]), _row_median(right[rows])
    for table in (left, right):  # stations no frame saw (under a car that has just started): the nearest seen one's
        _fill_nearest(table)
    return Surface(STATIONS_M.copy(), left, right, confidence)


def _fill_nearest(table: np.ndarray) -> None:
    """Per row, every NaN station takes the value of the nearest station that has one (in place)."""
    for row in np.flatnonzero(np.isnan(table).any(axis=1) & np.isfinite(table).any(axis=1)):
        known = np.flatnonzero(np.isfinite(table[row]))
        nearest = known[np.abs(np.arange(table.shape[1])[:, None] - known[None]).argmin(axis=1)]
        table[row] = table[row, nearest]


def cache_folder() -> Path:
    """Where surfaces are kept: $XDG_CACHE_HOME (or ~/.cache)/behavioural-cloning/surface."""
    root = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(root) / "behavioural-cloning" / "surface"


def cache_key(footage: Footage) -> str:
    """What the surface depends on: this method's version, the rows' frames and times, and each log's
    path, size and modification time."""
    digest = hashlib.sha256(f"surface {METHOD_VERSION}".encode())
    logs = sorted({str(Path(p).resolve().parent.parent / LOG_NAME) for p in footage.frames["center"]})
    for path in logs:
        stat = os.stat(path) if os.path.exists(path) else None
        digest.update(f"{path} {stat.st_size if stat else -1} {stat.st_mtime_ns if stat else -1}".encode())
    for name in CAMERA_NAMES:
        digest.update("\n".join(map(str, footage.frames.get(name, []))).encode())
    digest.update(np.asarray(footage.times_s, np.float64).tobytes())
    digest.update(np.asarray(footage.speeds_mps, np.float64).tobytes())
    digest.update(np.asarray(footage.steering, np.float64).tobytes())
    return digest.hexdigest()[:32]


def surface_of(footage: Footage, cache: bool = True) -> Surface:
    """The surface of `footage`, from the cache when this footage's was computed before."""
    path = cache_folder() / f"{cache_key(footage)}.npz"
    if cache and path.is_file():
        try:
            with np.load(path) as saved:
                return Surface(saved["stations_m"], saved["left_m"], saved["right_m"], saved["confidence"])
        except (OSError, ValueError, KeyError) as e:
            log.warning("surface cache %s unreadable (%s): computing it again", path, e)
    surface = estimate(footage)
    if cache:
        buffer = io.BytesIO()
        np.savez_compressed(buffer, stations_m=surface.stations_m, left_m=surface.left_m,
                            right_m=surface.right_m, confidence=surface.confidence)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            write_bytes_atomic(path, buffer.getvalue())
        except OSError as e:
            log.warning("cannot cache the surface in %s (%s): it will be computed again next time", path, e)
    return surface
