"""Headless simulator speed on ONE core: frames, recording samples, centre-line look-ups.

The renderer (`sim.render`) is compared with the straightforward way to draw the same ground in
NumPy: cast every pixel's ray each frame, intersect it with the ground and index the full-size
world map (nearest texel, no mipmaps) — and it draws less: no haze, hills, roadside objects or hood,
which the renderer's figure includes. The nearest-point look-up (`Track.locate`: a grid of
precomputed nearest samples, then a walk to the foot point) is compared with a brute-force search
over every centre-line sample. The process is pinned to one CPU and OpenCV to one thread.

    python -m benchmarks.renderer [--quick]
"""
from __future__ import annotations

import argparse
import math
import statistics
import time
from typing import Callable

import numpy as np

from base.cameras import CAMERA_NAMES, Camera  # noqa: E402
from benchmarks.one_core import one_core
from benchmarks.table import markdown
from sim.images import encode_jpeg  # noqa: E402
from sim.pose import Pose  # noqa: E402
from sim.render import Renderer  # noqa: E402
from sim.tracks import load_track  # noqa: E402

TRACK = "lake"


def classic_render(renderer: Renderer, camera: Camera, pose: Pose) -> np.ndarray:
    """The same ground the plain NumPy way: per-frame ray casting, nearest texel, no mipmaps."""
    h, w = camera.height, camera.width
    u = (np.arange(w) + 0.5 - w / 2) / camera.focal_px
    v = -(np.arange(h) + 0.5 - h / 2) / camera.focal_px
    dx, dy = np.meshgrid(u, v)
    c, s = math.cos(camera.pitch_down_rad), math.sin(camera.pitch_down_rad)
    ry, rz = dy * c - s, dy * s + c
    hits = ry < -1e-6
    t = np.where(hits, camera.position[1] / np.where(hits, -ry, 1), 0)
    x_car = camera.position[0] + t * dx
    z_car = camera.position[2] + t * rz
    (fx, fy), (rx, ry_) = pose.forward(), pose.right()
    world = renderer.world
    col = ((pose.x + x_car * rx + z_car * fx - world.origin[0]) / world.resolution_m).astype(int)
    row = ((pose.y + x_car * ry_ + z_car * fy - world.origin[1]) / world.resolution_m).astype(int)
    texture = world.levels[0]
    frame = texture[np.clip(row, 0, texture.shape[0] - 1), np.clip(col, 0, texture.shape[1] - 1)]
    frame[~hits] = renderer.track.colours["sky_horizon"]
    return frame


def brute_force_nearest(points: np.ndarray, x: float, y: float) -> int:
    return int(np.argmin((points[:, 0] - x) ** 2 + (points[:, 1] - y) ** 2))


def per_call(fn: Callable[[int], object], count: int, repeats: int = 5) -> float:
    """Median over `repeats` runs of the mean seconds per call of fn(i) for i in range(count)."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        for i in range(count):
            fn(i)
        times.append((time.perf_counter() - start) / count)
    return statistics.median(times)


def run(quick: bool = False) -> list[dict]:
    with one_core():
        return _measure(quick)


def _measure(quick: bool) -> list[dict]:
    frames = 40 if quick else 300
    track = load_track(TRACK)
    start = time.perf_counter()
    renderer = Renderer(track)
    build_s = time.perf_counter() - start
    camera = renderer.view("center").camera
    step = track.length_m / frames
    poses = [Pose(*track.pose_at(i * step, offset=0.5 * math.sin(i))) for i in range(frames)]
    for pose in poses[:5]:
        renderer.render(pose)

    ours = per_call(lambda i: renderer.render(poses[i]), frames)
    classic = per_call(lambda i: classic_render(renderer, camera, poses[i]), frames)
    sample = per_call(lambda i: [encode_jpeg(renderer.render(poses[i], c)) for c in CAMERA_NAMES], frames // 2)
    frame = renderer.render(poses[0])
    jpeg = per_call(lambda i: encode_jpeg(frame), frames)
    lookups = 200 if quick else 2000
    rng = np.random.default_rng(0)
    points = track.points[rng.integers(0, len(track.points), lookups)] + rng.normal(0, 3, (lookups, 2))
    tree = per_call(lambda i: track.locate(*points[i]), lookups)
    brute = per_call(lambda i: brute_force_nearest(track.points, *points[i]), lookups)
    return [
        {"metric": f"centre camera frame, {TRACK}, one core", "value": round(1 / ours), "unit": "frames/s",
         "classic": round(1 / classic), "ratio": round(classic / ours, 1)},
        {"metric": "one frame", "value": round(ours * 1e3, 2), "unit": "ms",
         "classic": round(classic * 1e3, 2), "ratio": round(classic / ours, 1)},
        {"metric": "recording sample: 3 cameras rendered + JPEG q75", "value": round(sample * 1e3, 2), "unit": "ms",
         "classic": None, "ratio": None},
        {"metric": "JPEG q75 encode of one frame", "value": round(jpeg * 1e3, 3), "unit": "ms", "classic": None, "ratio": None},
        {"metric": f"nearest centre-line point ({len(track.points)} samples)", "value": round(tree * 1e6, 1), "unit": "µs",
         "classic": round(brute * 1e6, 1), "ratio": round(brute / tree, 1)},
        {"metric": f"world map + scenery build, {TRACK}", "value": round(build_s, 2), "unit": "s", "classic": None, "ratio": None},
    ]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer frames (a smoke run, noisier figures)")
    print(markdown(run(quick=parser.parse_args().quick), ours="sim.render", classic="plain NumPy / brute force"))
