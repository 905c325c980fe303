"""Does the recorded path turn as the footage turns? The replay's path against the camera's own yaw.

The replay's recorded path integrates the logged steering with the bicycle model (`base.kinematics`);
nothing in it looks at the frames. The frames say how the car really turned: far scenery moves
sideways in the image by the focal length × the yaw between two frames, whatever the car's own
sideways motion. This measures that shift (phase correlation of the rows just above the horizon)
between consecutive centre frames and sets it beside the path's heading change, summed over 1 s so
that the frames' time stamps, which jitter by tens of milliseconds, do not decide it.

    python -m studies.recorded_path [--data-dir DIR] [--rows RECORDING FIRST LAST]

`--rows` prints the two headings row by row over a stretch of one recording (rows counted from 0,
the first data row of driving_log.csv).
"""
from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import cv2
import numpy as np

from base.cameras import Camera
from base.logs import read_recordings
from evaluate.replay import Footage, recorded_poses
from studies import REALDATA

WINDOW_ROWS = 10  # 1 s at the simulator's 10 frames a second
AZIMUTH_DEG = 40.0  # either side of straight ahead: inside the camera's ±49°
ELEVATION_DEG = (0.5, 12.0)  # far scenery just above the horizon (trees, hills); below it the road's parallax dominates
PANORAMA_COLUMNS, PANORAMA_ROWS = 320, 32
MIN_RESPONSE = 0.1  # phase correlation's peak strength below which a shift is noise (a blank sky, a blur)
MIN_SPEED_MPS = 5.0  # slower, the yaw per frame is too small to measure against JPEG noise


def _panorama_map(camera: Camera) -> tuple[np.ndarray, np.ndarray]:
    """Where each cell of an (elevation × azimuth) grid of far directions falls in the image: a yaw of the
    car is then the same sideways shift in every cell, which it is not in the pinhole image (at its edges
    the same turn moves scenery twice as many pixels as in the middle)."""
    azimuth = np.radians(np.linspace(-AZIMUTH_DEG, AZIMUTH_DEG, PANORAMA_COLUMNS))
    elevation = np.radians(np.linspace(ELEVATION_DEG[1], ELEVATION_DEG[0], PANORAMA_ROWS))
    a, e = np.meshgrid(azimuth, elevation)
    far = np.stack([np.sin(a) * np.cos(e), np.sin(e), np.cos(a) * np.cos(e)], axis=-1) * 1e4 + np.asarray(camera.position)
    u, v, _ = camera.project(far)
    return (u - 0.5).astype(np.float32), (v - 0.5).astype(np.float32)  # pixel i's centre is at i + 0.5


def footage_yaw(paths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(heading change in radians counter-clockwise, correlation peak) from each centre frame to the next."""
    map_x, map_y = _panorama_map(Camera.from_config("center"))
    window = cv2.createHanningWindow((PANORAMA_COLUMNS, PANORAMA_ROWS), cv2.CV_64F)
    radians_per_column = math.radians(2 * AZIMUTH_DEG) / (PANORAMA_COLUMNS - 1)
    yaw, response = np.zeros(len(paths) - 1), np.zeros(len(paths) - 1)
    previous = None
    for i, path in enumerate(paths):
        grey = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
        band = cv2.remap(grey, map_x, map_y, cv2.INTER_LINEAR).astype(np.float64)
        if previous is not None:
            (dx, _), response[i - 1] = cv2.phaseCorrelate(previous, band, window)
            yaw[i - 1] = dx * radians_per_column  # scenery moving right (dx > 0): the car turned left
        previous = band
    return yaw, response


def compare(folder) -> dict:
    """Per 1 s window of every driven segment: the path's heading change and the footage's."""
    footage = Footage.from_rows(read_recordings([folder]))
    path_turns, frame_turns, per_row = [], [], {}
    for first, last in footage.segments:
        headings = recorded_poses(footage, first, last)[:, 2]
        path_yaw = np.diff(headings)
        seen_yaw, response = footage_yaw(footage.frames["center"][first:last + 1])
        usable = (response >= MIN_RESPONSE) & (footage.speeds_mps[first:last] >= MIN_SPEED_MPS)
        for row in range(len(path_yaw)):
            per_row[first + row] = (footage.steering[first + row], path_yaw[row], seen_yaw[row], bool(usable[row]))
        for start in range(0, len(path_yaw) - WINDOW_ROWS + 1, WINDOW_ROWS):
            if usable[start:start + WINDOW_ROWS].all():
                path_turns.append(path_yaw[start:start + WINDOW_ROWS].sum())
                frame_turns.append(seen_yaw[start:start + WINDOW_ROWS].sum())
    path_turns, frame_turns = np.degrees(path_turns), np.degrees(frame_turns)
    return {"windows": len(path_turns), "path": path_turns, "frames": frame_turns, "per_row": per_row,
            "delay_s": _mean_delay_s(footage, per_row)}


def _mean_delay_s(footage: Footage, per_row: dict) -> float:
    """How long after the path the footage turns: the footage's yaw from row i to i+1, fitted (least squares)
    as a weighted sum of the path's yaw over rows i+1 … i−3; the weights' centre of mass, in seconds."""
    lags = np.arange(-1, 4)
    features, targets = [], []
    for row, (_, _, seen, usable) in per_row.items():
        if usable and all(row - lag in per_row for lag in lags):
            features.append([per_row[row - lag][1] for lag in lags])
            targets.append(seen)
    if len(targets) < 10 * len(lags):
        return float("nan")
    weights, *_ = np.linalg.lstsq(np.array(features), np.array(targets), rcond=None)
    return float(weights @ lags / weights.sum() * np.median(np.diff(footage.times_s)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m studies.recorded_path", description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=str(REALDATA), help="folder holding the recordings (one per subfolder)")
    parser.add_argument("--rows", nargs=3, metavar=("RECORDING", "FIRST", "LAST"),
                        help="also print both headings row by row over this stretch of one recording")
    args = parser.parse_args(argv)
    data_dir = Path(args.data_dir)
    recordings = sorted(p for p in data_dir.iterdir() if (p / "driving_log.csv").is_file()) if data_dir.is_dir() else []
    if not recordings:
        print(f"error: no recordings (folders with a driving_log.csv) in {args.data_dir}: pass --data-dir", file=sys.stderr)
        return 2
    print("| recording | 1 s windows | correlation | path's turn ÷ footage's (least squares) | median |difference| (°/s) | sharpest 1 s turn, path / footage (°) | footage behind the path (ms) |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    stretch = None
    for folder in recordings:
        result = compare(folder)
        path, frames = result["path"], result["frames"]
        if len(path) < 3:
            print(f"| {folder.name} | {len(path)} | too few usable windows | | | | |")
            continue
        sharpest = int(np.argmax(np.abs(path)))
        print(f"| {folder.name} | {len(path)} | {np.corrcoef(path, frames)[0, 1]:.3f} | {(path @ frames) / (frames @ frames):.2f} "
              f"| {np.median(np.abs(path - frames)):.1f} | {path[sharpest]:+.0f} / {frames[sharpest]:+.0f} | {1000 * result['delay_s']:.0f} |")
        if args.rows and folder.name == args.rows[0]:
            stretch = result["per_row"]
    if args.rows:
        if stretch is None:
            print(f"error: no recording named {args.rows[0]} in {args.data_dir}", file=sys.stderr)
            return 2
        first, last = int(args.rows[1]), int(args.rows[2])
        print(f"\n{args.rows[0]}, rows {first}–{last}: heading change to the next row (°; + turns left)\n")
        print("| row | steering | path | footage | path, summed | footage, summed |")
        print("| --- | --- | --- | --- | --- | --- |")
        path_sum = frame_sum = 0.0
        for row in range(first, last + 1):
            if row not in stretch:
                continue  # not driven (a pause, a crash): no path there
            steering, path_yaw, seen_yaw, _ = stretch[row]
            path_sum += math.degrees(path_yaw)
            frame_sum += math.degrees(seen_yaw)
            print(f"| {row} | {steering:+.2f} | {math.degrees(path_yaw):+.1f} | {math.degrees(seen_yaw):+.1f} "
                  f"| {path_sum:+.1f} | {frame_sum:+.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
