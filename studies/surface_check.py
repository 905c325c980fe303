"""Is the drivable-surface estimate (`evaluate.surface`) right? Measured where the truth is known, and by eye.

1. The headless simulator: the expert drives each track (with recovery drifts, so the car is seen
   off-centre too) and is recorded as `sim.record` records, with the steering it was given in place of
   its label (the recorded path must be the path driven); the estimate of every recorded row is set
   beside the truth, the road's edges from the track itself (`sim.tracks`: road_width_m and where the
   car is). Error of each edge at every station, median and 95th percentile.
2. The four real recordings: the rows where a tyre of the recorded car (the footprint in simulator.json)
   is off the estimated surface, and the road rule's replay of the recorded human and of zero steering
   (autonomy, interventions in brackets). The humans stay on the road, except `track1_windows`' driver, who
   leaves it onto the verge and into the barrier (rows ≈485–510). Contact sheets of those rows, with
   the estimated edges drawn, go to docs/surface/.

    python -m studies.surface_check [--sim-seconds 40] [--out docs/surface]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from base.atomic import write_atomic
from base.frames import read_frame
from base.logs import read_recordings
from evaluate.mp4 import draw_surface
from evaluate.replay import Footage, RecordedSteering, ZeroSteering, replay
from evaluate.road_rule import Footprint, RoadRule
from evaluate.surface import Surface, surface_of
from studies import REALDATA, ROOT

RECORDINGS = ("udacity_sample_part", "udacity_sample_late", "track1_windows", "track2_jungle")
TRACKS = ("lake", "mountain")
SHEET_COLUMNS, SHEET_MAX = 4, 12
NEAR_M = Footprint.from_config().track_width_m / 2 + 2.0  # edges this close to the car's centre line decide the rule


def record_with_poses(track_name: str, seconds: float, folder: Path) -> tuple[Footage, np.ndarray]:
    """The expert's drive of `seconds` on a track, recorded into `folder` as `sim.record` records it, and
    the car's true pose (x, y, heading) at every recorded row."""
    from base.cameras import CAMERA_NAMES
    from sim.expert import Expert
    from sim.logwriter import RecordingWriter
    from sim.pose import Pose
    from sim.record import SAMPLE_HZ
    from sim.render import shared_renderer
    from sim.tracks import load_track
    from sim.vehicle import Vehicle

    track = load_track(track_name)
    renderer = shared_renderer(track)
    vehicle = Vehicle(Pose(*track.pose_at(0.0)))
    expert = Expert(track, seed=1, recovery=True)
    writer = RecordingWriter(folder)
    every = round(1 / (SAMPLE_HZ * vehicle.params.time_step_s))
    poses = []
    for step in range(1, int(seconds / vehicle.params.time_step_s) + 1):
        command = expert.command(vehicle)
        vehicle.step(command.steering, command.throttle, command.brake)
        if step % every == 0:
            frames = {camera: renderer.render(vehicle.pose, camera) for camera in CAMERA_NAMES}
            # The steering the car was given, not the expert's label (they differ while it drifts): the
            # estimate follows the recorded path, which must be the path the frames were taken on.
            writer.add(step * vehicle.params.time_step_s, frames, command.steering, vehicle.throttle, command.brake, vehicle.speed_mph)
            poses.append(tuple(vehicle.pose))
    writer.flush()
    return Footage.from_rows(read_recordings([folder])), np.array(poses)


def true_edges(track_name: str, poses: np.ndarray, stations: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The asphalt's left and right edges (metres right of the pose) at each station ahead of each pose."""
    from sim.tracks import load_track

    track = load_track(track_name)
    across = np.arange(-12.0, 12.0, 0.05)
    left = np.full((len(poses), len(stations)), np.nan)
    right = np.full_like(left, np.nan)
    for i, (x, y, h) in enumerate(poses):
        for k, z in enumerate(stations):
            wx = x + z * np.cos(h) + across * np.sin(h)
            wy = y + z * np.sin(h) - across * np.cos(h)
            _, offset = track.locate_many(np.stack([wx, wy], axis=1))
            road = np.abs(offset) <= track.half_width_m
            if not road.any():
                continue
            seed = int(np.argmin(np.where(road, np.abs(across), np.inf)))
            off = np.flatnonzero(~road)
            below, above = off[off < seed], off[off > seed]
            left[i, k] = across[below[-1]] + 0.025 if len(below) else np.nan
            right[i, k] = across[above[0]] - 0.025 if len(above) else np.nan
    return left, right


def simulator_errors(seconds: float) -> list[dict]:
    rows = []
    for name in TRACKS:
        with tempfile.TemporaryDirectory() as tmp:
            footage, poses = record_with_poses(name, seconds, Path(tmp))
            surface = surface_of(footage, cache=False)
        left, right = true_edges(name, poses, surface.stations_m)
        for side, estimate, truth in (("left", surface.left_m, left), ("right", surface.right_m, right)):
            tyres = _tyre_stations(surface)
            for label, stations, near_m in (("all stations", slice(None), np.inf), ("at the tyres (−1.6, 1.3 m)", tyres, np.inf),
                                            ("at the tyres, edge within 2 m of a tyre", tyres, NEAR_M)):
                error = np.abs(estimate[:, stations] - truth[:, stations])
                # Where no frame saw an edge (confidence 0) the estimate only says how far the road reaches at least.
                known = np.isfinite(error) & (surface.confidence[:, stations] > 0) & (np.abs(truth[:, stations]) <= near_m)
                if known.any():
                    rows.append({"track": name, "edge": side, "where": label, "samples": int(known.sum()),
                                 "median_m": float(np.median(error[known])), "p95_m": float(np.percentile(error[known], 95))})
    return rows


def _tyre_stations(surface: Surface) -> np.ndarray:
    footprint = Footprint.from_config()
    return np.flatnonzero(np.isin(np.round(surface.stations_m, 1),
                                  np.round(np.round(np.array([footprint.rear_m, footprint.front_m]) * 2) / 2, 1)))


def human_departures(name: str, out: Path) -> dict:
    """Where the recorded car's tyres are off the estimated surface, with a contact sheet of those rows."""
    footage = Footage.from_rows(read_recordings([REALDATA / name]))
    start = time.perf_counter()
    surface = surface_of(footage, cache=False)
    seconds = time.perf_counter() - start
    rows = np.arange(len(footage.times_s))
    margin = Footprint.from_config().margins(surface, rows, np.zeros(len(rows)), np.zeros(len(rows)), np.zeros(len(rows)))[0]
    off = np.flatnonzero(margin < 0)
    sheet_rows = off if len(off) else rows[:: max(1, len(rows) // SHEET_MAX)]
    write_sheet(footage, surface, sheet_rows, out / f"{name}.png")
    rule = RoadRule(footage, surface)
    human, zero = (replay(footage, policy, rule).report() for policy in (RecordedSteering(footage), ZeroSteering()))
    return {"recording": name, "rows": len(rows), "seconds": seconds, "off_rows": _ranges(off),
            "human": human, "zero": zero}


def write_sheet(footage: Footage, surface: Surface, rows: np.ndarray, path: Path) -> None:
    """Up to SHEET_MAX frames of `rows` (evenly picked), each with the estimated edges and tyres drawn."""
    pick = rows[np.linspace(0, len(rows) - 1, min(SHEET_MAX, len(rows))).round().astype(int)] if len(rows) else rows
    tiles = []
    for row in pick:
        frame = read_frame(footage.frames["center"][row])
        tile = draw_surface(frame, surface, int(row), Footprint.from_config(), scale=2)
        cv2.putText(tile, f"row {row}", (8, 22), cv2.FONT_HERSHEY_SIMPLEX, 0.7, (255, 255, 0), 2, cv2.LINE_AA)
        tiles.append(tile)
    while len(tiles) % SHEET_COLUMNS:
        tiles.append(np.zeros_like(tiles[0]))
    grid = np.vstack([np.hstack(tiles[i:i + SHEET_COLUMNS]) for i in range(0, len(tiles), SHEET_COLUMNS)])
    path.parent.mkdir(parents=True, exist_ok=True)
    small = cv2.resize(grid, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA)
    # 256 colours: a contact sheet to check by eye, at a fifth of a full-colour PNG's size.
    write_atomic(path, lambda temp: Image.fromarray(small).quantize(256).save(temp, format="PNG", optimize=True))


def _ranges(rows: np.ndarray) -> str:
    if not len(rows):
        return "none"
    breaks = np.flatnonzero(np.diff(rows) > 3)
    starts, stops = np.r_[rows[0], rows[breaks + 1]], np.r_[rows[breaks], rows[-1]]
    return ", ".join(f"{a}–{b}" if b > a else f"{a}" for a, b in zip(starts, stops))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m studies.surface_check", description=__doc__.split("\n")[0])
    parser.add_argument("--sim-seconds", type=float, default=40.0, help="seconds of expert driving per track (default %(default)s)")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "surface", help="folder for the contact sheets")
    args = parser.parse_args(argv)
    print("| track | edge | where | edges compared | median error | 95th percentile |\n|---|---|---|---|---|---|")
    for r in simulator_errors(args.sim_seconds):
        print(f"| {r['track']} | {r['edge']} | {r['where']} | {r['samples']} | {r['median_m']:.2f} m | {r['p95_m']:.2f} m |")
    if not REALDATA.is_dir():
        print(f"no real recordings at {REALDATA}: the real part is skipped")
        return 0
    print("\n| recording | rows | estimate (s, no cache) | rows with a tyre of the recorded car off the estimated surface "
          "| road rule: recorded human | zero steering |\n|---|---|---|---|---|---|")
    for name in RECORDINGS:
        r = human_departures(name, args.out)
        human, zero = r["human"], r["zero"]
        print(f"| {name} | {r['rows']} | {r['seconds']:.1f} | {r['off_rows']} | {human['autonomy_percent']:.0f} % "
              f"({human['interventions']}) | {zero['autonomy_percent']:.0f} % ({zero['interventions']}) |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
