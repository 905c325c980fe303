"""How true are synthesised viewpoints? Pixel error against the true view, beside not moving the camera.

In the headless simulator the true view of any pose can be rendered: the centre camera of a car moved
sideways and turned, against the view synthesised (`base.viewpoint`) from the nearest of the three
cameras at the recorded pose, and against that nearest camera's frame as recorded ("not moving").
On real footage the one true view at another position is the side camera's: the centre frame moved
to the right (left) camera's position against the real right (left) frame, beside the unmoved
centre frame. Error: mean absolute difference (0–255) over the rows the model sees (60–135),
averaged over poses spread along the track (frames spread along the recording).

    python -m benchmarks.viewpoint [--quick]
"""
from __future__ import annotations

import argparse
import math
import sys

import numpy as np

from base.cameras import Camera
from base.frames import CROP_BOTTOM, CROP_TOP, read_frame
from base.logs import read_recordings
from base.viewpoint import Shift, ViewSynthesizer
from benchmarks import REALDATA
from benchmarks.table import markdown
from sim.pose import Pose
from sim.render import shared_renderer
from sim.tracks import load_track

TRACK = "lake"
SHIFTS = [(0.2, 0), (0.4, 0), (0.8, 0), (1.2, 0), (0, 2), (0, 5), (0, 10), (0.6, -5), (-1.0, 8)]  # metres, degrees
REAL = {"udacity_sample_part": "track 1 (lake)", "track2_jungle": "jungle"}


def crop_error(a: np.ndarray, b: np.ndarray) -> float:
    """Mean absolute difference (0–255) over the rows the model crops to."""
    return float(np.abs(a[CROP_TOP:CROP_BOTTOM].astype(np.float32) - b[CROP_TOP:CROP_BOTTOM].astype(np.float32)).mean())


def simulated(quick: bool) -> list[dict]:
    track = load_track(TRACK)
    renderer = shared_renderer(track)
    synth = ViewSynthesizer()
    poses = [Pose(*track.pose_at(s)) for s in np.linspace(0, track.length_m, 6 if quick else 24, endpoint=False)]
    recorded = [{name: renderer.render(pose, name) for name in ("center", "left", "right")} for pose in poses]
    rows = []
    for lateral, yaw_deg in SHIFTS:
        shift = Shift(lateral, math.radians(yaw_deg))
        source = synth.nearest_source(shift)
        ours, still = [], []
        for pose, frames in zip(poses, recorded):
            truth = renderer.render(Pose(*pose.to_world(lateral, 0.0), pose.heading - shift.yaw_rad), "center")
            ours.append(crop_error(synth.synthesize(frames, shift), truth))
            still.append(crop_error(frames[source], truth))
        rows.append({"metric": f"{TRACK}: {lateral:+.1f} m, {yaw_deg:+d}° (from the {source} camera)",
                     "value": round(float(np.mean(ours)), 1), "unit": "MAE",
                     "classic": round(float(np.mean(still)), 1), "ratio": round(float(np.mean(still) / np.mean(ours)), 1)})
    return rows


def real(quick: bool) -> list[dict]:
    if not (REALDATA / "udacity_sample_part").is_dir():
        print(f"real-frame check skipped: no recordings at {REALDATA}", file=sys.stderr)
        return []
    synth = ViewSynthesizer()
    rows = []
    for folder, name in REAL.items():
        table = read_recordings([REALDATA / folder])
        table = table.iloc[:: 60 if quick else 10]
        for side in ("left", "right"):
            camera = Camera.from_config(side)
            shift = Shift(lateral_m=camera.position[0], forward_m=camera.position[2] - synth.target.position[2])
            ours, still = [], []
            for centre_path, side_path in zip(table["center"], table[side]):
                centre, truth = read_frame(centre_path), read_frame(side_path)
                if centre is None or truth is None:
                    continue
                ours.append(crop_error(synth.synthesize({"center": centre}, shift), truth))
                still.append(crop_error(centre, truth))
            rows.append({"metric": f"real {name}: centre moved to the {side} camera, vs the real {side} frame "
                                   f"({len(ours)} frames)",
                         "value": round(float(np.mean(ours)), 1), "unit": "MAE",
                         "classic": round(float(np.mean(still)), 1), "ratio": round(float(np.mean(still) / np.mean(ours)), 2)})
    return rows


def run(quick: bool = False) -> list[dict]:
    return simulated(quick) + real(quick)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer poses and frames")
    print(markdown(run(quick=parser.parse_args().quick), ours="synthesised", classic="not moved"))
