"""Tracks: a closed centre line with its road width, colours and scenery, read from JSON.

A track file (see `simulator_config/tracks/lake.json`) gives the centre line as control points in
metres; a periodic cubic spline through them is resampled every `SAMPLE_SPACING_M` along its arc
length, which is what everything else (renderer, expert, scoring) works with. Angles are in radians,
counter-clockwise from +x; a positive lateral offset is to the RIGHT of the direction of travel.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from scipy.interpolate import CubicSpline
from scipy.spatial import cKDTree
from shapely.geometry import LineString

from simulator_config import TRACKS_DIR

SAMPLE_SPACING_M = 0.25
OBJECT_KINDS = ("tree", "bush", "rock")
COLOUR_KEYS = ("road", "shoulder", "ground", "ground_alt", "sky_top", "sky_horizon", "hills", "haze", "water")
CURB_MODES = ("none", "curves", "always")
# `locate` starts from a precomputed nearest sample per grid cell of this size (metres) ...
GRID_CELL_M = 1.0
GRID_MARGIN_M = 30.0  # ... over the track's extent plus this margin; further out it asks the k-d tree
# A curb is laid where the road bends tighter than this radius (metres), when `curbs` is "curves".
CURB_RADIUS_M = 120.0


class TrackError(ValueError):
    """A track that cannot be found or whose file is malformed; the message says what to fix."""


@dataclass(frozen=True)
class Markings:
    edge_line_colour: tuple[int, int, int]
    edge_line_width_m: float
    edge_line_inset_m: float
    curbs: str
    curb_width_m: float
    curb_stripe_m: float
    curb_colours: tuple[tuple[int, int, int], tuple[int, int, int]]


@dataclass(frozen=True)
class SceneryObjects:
    kind: str
    count: int
    distance_m: tuple[float, float]
    height_m: tuple[float, float]
    width_m: tuple[float, float]
    colour: tuple[int, int, int]
    trunk_colour: tuple[int, int, int] | None


@dataclass(frozen=True)
class TrackPoint:
    """Where a position lies relative to the centre line."""

    s: float  # arc length of the nearest centre-line point, 0..length
    offset: float  # lateral distance, positive to the right of the direction of travel
    heading: float  # direction of the centre line there


@dataclass(eq=False)
class Track:
    name: str
    path: Path
    road_width_m: float
    markings: Markings
    colours: dict[str, tuple[int, int, int]]
    texture_seed: int
    hill_height_deg: float
    water: list[np.ndarray]
    objects: list[SceneryObjects]
    control_points: np.ndarray
    # resampled centre line, every SAMPLE_SPACING_M
    points: np.ndarray = field(init=False)
    s: np.ndarray = field(init=False)
    tangents: np.ndarray = field(init=False)
    curvature: np.ndarray = field(init=False)  # 1/m, positive for a left-hand bend
    length_m: float = field(init=False)

    def __post_init__(self) -> None:
        self.points, self.tangents, self.curvature, self.length_m = _resample(self.control_points)
        self.s = np.arange(len(self.points)) * (self.length_m / len(self.points))
        self._tree = cKDTree(self.points)
        self._grid_origin = self.points.min(axis=0) - GRID_MARGIN_M
        nx, ny = (np.ceil((self.points.max(axis=0) + GRID_MARGIN_M - self._grid_origin) / GRID_CELL_M)).astype(int)
        cells = np.stack(np.meshgrid(np.arange(nx), np.arange(ny)), axis=-1).reshape(-1, 2)
        self._grid = self.nearest_index(self._grid_origin + (cells + 0.5) * GRID_CELL_M).reshape(ny, nx)
        # Plain lists: `locate` is called per simulation step, and list indexing is the fastest scalar access.
        self._x, self._y = self.points[:, 0].tolist(), self.points[:, 1].tolist()
        self._tx, self._ty = self.tangents[:, 0].tolist(), self.tangents[:, 1].tolist()

    @property
    def half_width_m(self) -> float:
        return self.road_width_m / 2

    @property
    def right_normals(self) -> np.ndarray:
        return np.stack([self.tangents[:, 1], -self.tangents[:, 0]], axis=1)

    def nearest_index(self, xy: np.ndarray) -> np.ndarray:
        """Index of the nearest centre-line sample of each point (n, 2)."""
        return self._tree.query(xy, workers=-1)[1]

    def locate(self, x: float, y: float) -> TrackPoint:
        """The centre-line point nearest to (x, y): arc length, signed offset and track heading.

        Exact for points nearer the road than other stretches of road are (everything the car and
        its scoring meet); from a grid cell's nearest sample it walks along the line to the foot point.
        """
        col = int((x - self._grid_origin[0]) / GRID_CELL_M)
        row = int((y - self._grid_origin[1]) / GRID_CELL_M)
        if 0 <= row < self._grid.shape[0] and 0 <= col < self._grid.shape[1]:
            i = int(self._grid[row, col])
        else:
            i = int(self._tree.query((x, y))[1])
        n = len(self._x)
        for _ in range(8):
            step = round(((x - self._x[i]) * self._tx[i] + (y - self._y[i]) * self._ty[i]) / SAMPLE_SPACING_M)
            if step == 0:
                break
            i = (i + step) % n
        dx, dy, tx, ty = x - self._x[i], y - self._y[i], self._tx[i], self._ty[i]
        s = (self.s[i] + dx * tx + dy * ty) % self.length_m
        return TrackPoint(s=float(s), offset=dx * ty - dy * tx, heading=math.atan2(ty, tx))

    def locate_many(self, xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Arc lengths and signed offsets of many points (n, 2) at once."""
        return self.project(xy, self.nearest_index(xy))

    def project(self, xy: np.ndarray, guess: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Arc lengths and signed offsets of points (n, 2) whose nearest samples are near `guess`
        (indices, a few metres off at most): each guess is walked along the line to the foot point."""
        n = len(self.points)
        i = guess
        for _ in range(3):
            d = xy - self.points[i]
            along = (d * self.tangents[i]).sum(axis=1)
            i = (i + np.round(along / SAMPLE_SPACING_M).astype(np.int64)) % n
        d = xy - self.points[i]
        t = self.tangents[i]
        s = (self.s[i] + (d * t).sum(axis=1)) % self.length_m
        return s, d[:, 0] * t[:, 1] - d[:, 1] * t[:, 0]

    def index_at(self, s: float) -> int:
        return int(round((s % self.length_m) / self.length_m * len(self.points))) % len(self.points)

    def pose_at(self, s: float, offset: float = 0.0) -> tuple[float, float, float]:
        """(x, y, heading) on the centre line at arc length `s`, shifted `offset` to the right."""
        i = self.index_at(s)
        tx, ty = self.tangents[i]
        x, y = self.points[i]
        return float(x + offset * ty), float(y - offset * tx), math.atan2(ty, tx)

    def curvature_ahead(self, s: float, distance: float) -> float:
        """The largest |curvature| over the next `distance` metres."""
        n = len(self.points)
        i = self.index_at(s)
        idx = (i + np.arange(int(distance / SAMPLE_SPACING_M) + 1)) % n
        return float(np.abs(self.curvature[idx]).max())


def _resample(control: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    closed = np.vstack([control, control[:1]])
    chord = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(closed, axis=0), axis=1))])
    spline = CubicSpline(chord, closed, bc_type="periodic")
    fine_u = np.linspace(0, chord[-1], int(chord[-1] / 0.02) + 1)
    fine = spline(fine_u)
    arc = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(fine, axis=0), axis=1))])
    length = float(arc[-1])
    n = int(round(length / SAMPLE_SPACING_M))
    u = np.interp(np.arange(n) * (length / n), arc, fine_u)
    d1, d2 = spline(u, 1), spline(u, 2)
    speed = np.linalg.norm(d1, axis=1)
    curvature = (d1[:, 0] * d2[:, 1] - d1[:, 1] * d2[:, 0]) / speed**3
    return spline(u), d1 / speed[:, None], curvature, length


def resolve_track_path(name_or_path: str | Path) -> Path:
    """A track name (`lake`) or a path to a track JSON file → the file's path."""
    text = str(name_or_path)
    if text.endswith(".json") or "/" in text or "\\" in text or Path(text).is_file():
        path = Path(text).expanduser()
        if not path.is_file():
            raise TrackError(f"track file {path} does not exist: give an existing JSON file or a track name ({_known()})")
        return path.resolve()
    path = TRACKS_DIR / f"{text}.json"
    if not path.is_file():
        raise TrackError(f"unknown track '{text}': use one of {_known()} or the path to a track JSON file")
    return path


def _known() -> str:
    return ", ".join(sorted(p.stem for p in TRACKS_DIR.glob("*.json"))) or "(none installed)"


def load_track(name_or_path: str | Path) -> Track:
    """Load and check a track by name (from simulator_config/tracks/) or by path; raises TrackError."""
    path = resolve_track_path(name_or_path)
    return _load_cached(path, path.stat().st_mtime_ns)


@lru_cache(maxsize=8)
def _load_cached(path: Path, _mtime_ns: int) -> Track:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as e:
        raise TrackError(f"track file {path} cannot be read ({e})") from None
    except json.JSONDecodeError as e:
        raise TrackError(f"track file {path} is not valid JSON ({e}): fix the file") from None
    check = _Checker(path)
    if not isinstance(raw, dict):
        check.fail("the file must hold one JSON object")
    track = check.track(raw)
    check.geometry(track)
    return track


class _Checker:
    """Validation of one track file, every complaint naming the file and the field."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def fail(self, what: str) -> None:
        raise TrackError(f"track file {self.path}: {what}")

    def get(self, obj: dict[str, Any], key: str, where: str = "") -> Any:
        if key not in obj:
            self.fail(f"missing '{where}{key}'")
        return obj[key]

    def number(self, value: Any, name: str, lo: float, hi: float) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not lo <= value <= hi:
            self.fail(f"'{name}' must be a number from {lo:g} to {hi:g}, not {value!r}")
        return float(value)

    def colour(self, value: Any, name: str) -> tuple[int, int, int]:
        if not (isinstance(value, list) and len(value) == 3 and all(isinstance(c, int) and 0 <= c <= 255 for c in value)):
            self.fail(f"'{name}' must be a colour [r, g, b] of integers 0..255, not {value!r}")
        return tuple(value)  # type: ignore[return-value]

    def span(self, value: Any, name: str, lo: float, hi: float) -> tuple[float, float]:
        if not (isinstance(value, list) and len(value) == 2):
            self.fail(f"'{name}' must be a range [low, high], not {value!r}")
        a, b = (self.number(v, name, lo, hi) for v in value)
        if a > b:
            self.fail(f"'{name}' must be [low, high] with low <= high, not {value!r}")
        return a, b

    def points(self, value: Any, name: str, minimum: int) -> np.ndarray:
        try:
            pts = np.asarray(value, dtype=float)
        except (TypeError, ValueError):
            pts = np.empty((0,))
        if pts.ndim != 2 or pts.shape[1] != 2 or len(pts) < minimum or not np.isfinite(pts).all():
            self.fail(f"'{name}' must be a list of at least {minimum} points [x, y] in metres")
        return pts

    def track(self, raw: dict[str, Any]) -> Track:
        width = self.number(self.get(raw, "road_width_m"), "road_width_m", 4.0, 30.0)
        control = self.points(self.get(raw, "centre_line_m"), "centre_line_m", 4)
        if np.allclose(control[0], control[-1]):
            control = control[:-1]  # the loop is closed implicitly; a repeated first point is harmless
        if (np.linalg.norm(np.diff(control, axis=0), axis=1) < 0.1).any():
            self.fail("'centre_line_m' has two consecutive points closer than 0.1 m: remove the duplicate")
        m = self.get(raw, "markings")
        curbs = self.get(m, "curbs", "markings.")
        if curbs not in CURB_MODES:
            self.fail(f"'markings.curbs' must be one of {', '.join(CURB_MODES)}, not {curbs!r}")
        curb_colours = self.get(m, "curb_colours", "markings.")
        if not (isinstance(curb_colours, list) and len(curb_colours) == 2):
            self.fail("'markings.curb_colours' must be two colours [[r, g, b], [r, g, b]]")
        markings = Markings(
            edge_line_colour=self.colour(self.get(m, "edge_line_colour", "markings."), "markings.edge_line_colour"),
            edge_line_width_m=self.number(self.get(m, "edge_line_width_m", "markings."), "markings.edge_line_width_m", 0.0, 1.0),
            edge_line_inset_m=self.number(self.get(m, "edge_line_inset_m", "markings."), "markings.edge_line_inset_m", 0.0, width / 4),
            curbs=curbs,
            curb_width_m=self.number(self.get(m, "curb_width_m", "markings."), "markings.curb_width_m", 0.0, 3.0),
            curb_stripe_m=self.number(self.get(m, "curb_stripe_m", "markings."), "markings.curb_stripe_m", 0.1, 10.0),
            curb_colours=(self.colour(curb_colours[0], "markings.curb_colours"), self.colour(curb_colours[1], "markings.curb_colours")),
        )
        c = self.get(raw, "colours")
        colours = {k: self.colour(self.get(c, k, "colours."), f"colours.{k}") for k in COLOUR_KEYS}
        seed = self.get(raw, "texture_seed")
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            self.fail(f"'texture_seed' must be a non-negative integer, not {seed!r}")
        scenery = self.get(raw, "scenery")
        water = [self.points(p, "scenery.water[]", 3) for p in self.get(scenery, "water", "scenery.")]
        objects = [self.objects(o) for o in self.get(scenery, "objects", "scenery.")]
        name = raw.get("name", self.path.stem)
        if not isinstance(name, str) or not name:
            self.fail(f"'name' must be a non-empty string, not {name!r}")
        return Track(
            name=name,
            path=self.path,
            road_width_m=width,
            markings=markings,
            colours=colours,
            texture_seed=seed,
            hill_height_deg=self.number(self.get(scenery, "hill_height_deg", "scenery."), "scenery.hill_height_deg", 0.0, 20.0),
            water=water,
            objects=objects,
            control_points=control,
        )

    def objects(self, o: Any) -> SceneryObjects:
        if not isinstance(o, dict):
            self.fail(f"each of 'scenery.objects' must be an object, not {o!r}")
        kind = self.get(o, "kind", "scenery.objects[].")
        if kind not in OBJECT_KINDS:
            self.fail(f"'scenery.objects[].kind' must be one of {', '.join(OBJECT_KINDS)}, not {kind!r}")
        count = self.get(o, "count", "scenery.objects[].")
        if isinstance(count, bool) or not isinstance(count, int) or not 0 <= count <= 5000:
            self.fail(f"'scenery.objects[].count' must be an integer from 0 to 5000, not {count!r}")
        trunk = o.get("trunk_colour")
        return SceneryObjects(
            kind=kind,
            count=count,
            distance_m=self.span(self.get(o, "distance_m", "scenery.objects[]."), "scenery.objects[].distance_m", 0.0, 500.0),
            height_m=self.span(self.get(o, "height_m", "scenery.objects[]."), "scenery.objects[].height_m", 0.05, 100.0),
            width_m=self.span(self.get(o, "width_m", "scenery.objects[]."), "scenery.objects[].width_m", 0.05, 100.0),
            colour=self.colour(self.get(o, "colour", "scenery.objects[]."), "scenery.objects[].colour"),
            trunk_colour=None if trunk is None else self.colour(trunk, "scenery.objects[].trunk_colour"),
        )

    def geometry(self, track: Track) -> None:
        if not LineString(np.vstack([track.points, track.points[:1]])).is_simple:
            self.fail("the centre line crosses itself: move the control points so the loop does not intersect")
        tightest = int(np.argmax(np.abs(track.curvature)))
        radius = 1 / max(abs(track.curvature[tightest]), 1e-9)
        if radius < track.half_width_m + 1.0:
            self.fail(
                f"the curve at {track.s[tightest]:.0f} m has a radius of {radius:.1f} m, too tight for a "
                f"{track.road_width_m:g} m road: spread the control points there"
            )
        # Two stretches of road closer than a road's width that are far apart along the track would overlap.
        reach = track.road_width_m + 2 * track.markings.curb_width_m
        for i, j in track._tree.query_pairs(reach):
            gap = abs(track.s[i] - track.s[j])
            if min(gap, track.length_m - gap) > 3 * reach:
                self.fail(
                    f"the road at {track.s[i]:.0f} m and at {track.s[j]:.0f} m would overlap: "
                    "keep separate stretches of road further apart"
                )
