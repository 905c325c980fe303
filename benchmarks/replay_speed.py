"""Replay speed on ONE core: steps per second of `evaluate.replay` with ONNX Runtime, beside the naive loop.

Each step decodes the recorded frame, synthesises the view (maps computed vectorised, one
cv2.remap), runs the model and integrates the bicycle model. The naive loop does the same step the
straightforward way: the remap maps built pixel by pixel in Python and the classic `model.predict`
per frame. The model is an untrained NVIDIA network (the same cost as a trained one); the footage is
the real jungle recording when ../shared/realdata is there, else a headless recording. The process
is pinned to one CPU, OpenCV and ONNX Runtime to one thread.

    python -m benchmarks.replay_speed [--quick]
"""
from __future__ import annotations

import argparse
import math
import statistics
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from base.logs import read_recordings
from base.viewpoint import HOOD_TOP, Shift, ViewSynthesizer
from benchmarks import REALDATA
from benchmarks.one_core import one_core
from benchmarks.table import markdown
from evaluate.replay import Footage, ModelPolicy, replay
from evaluate.rules import LineRule

NAIVE_STEPS = 8


def naive_maps(synth: ViewSynthesizer, shift: Shift, source: str) -> tuple[np.ndarray, np.ndarray]:
    """The remap maps, one pixel at a time: the ray, its ground point, its projection into the source."""
    target, src = synth.target, synth.sources[source]
    tx, tz = synth.target_position(shift)
    c, s = math.cos(shift.yaw_rad), math.sin(shift.yaw_rad)
    pc, ps = math.cos(src.pitch_down_rad), math.sin(src.pitch_down_rad)
    rays = target.rays
    map_x = np.empty((HOOD_TOP, target.width), np.float32)
    map_y = np.empty_like(map_x)
    for row in range(HOOD_TOP):
        for col in range(target.width):
            rx, ry, rz = rays[row, col]
            wx, wz = rx * c + rz * s, rz * c - rx * s
            if ry < -1e-9:
                t = target.position[1] / -ry
                qx, qy, qz = tx + t * wx - src.position[0], target.position[1] + t * ry - src.position[1], tz + t * wz - src.position[2]
            else:
                qx, qy, qz = wx, ry, wz
            depth = max(qz * pc - qy * ps, 1e-6)
            map_x[row, col] = src.width / 2 - 0.5 + src.focal_px * qx / depth
            map_y[row, col] = src.height / 2 - 0.5 - src.focal_px * (qy * pc + qz * ps) / depth
    return map_x, map_y


def _footage() -> tuple[Footage, str]:
    if (REALDATA / "track2_jungle").is_dir():
        return Footage.from_rows(read_recordings([REALDATA / "track2_jungle"])), "real jungle recording"
    from sim.record import record_session

    folder = Path(tempfile.mkdtemp(prefix="replay-bench-"))
    record_session("lake", laps=0.3, out=folder, progress=False)
    return Footage.from_rows(read_recordings([folder])), "headless lake recording"


def run(quick: bool = False) -> list[dict]:
    with one_core():
        return _measure(quick)


def _measure(quick: bool) -> list[dict]:
    import keras

    from base.convert import to_onnx
    from base.runners import OnnxRunner
    from training.model import build_model

    keras.utils.set_random_seed(0)
    model = build_model()
    runner = OnnxRunner(to_onnx(model))  # created after pinning: one intra-op thread
    footage, what = _footage()
    steps = sum(last - first for first, last in footage.segments)
    policy = ModelPolicy(runner.predict_one)
    replay(footage, policy)  # warm-up: caches, ONNX Runtime's first runs
    times = []
    for _ in range(1 if quick else 3):
        start = time.perf_counter()
        replay(footage, policy, LineRule())
        times.append(time.perf_counter() - start)
    ours = statistics.median(times) / steps

    synth = ViewSynthesizer()
    frame = cv2.imread(footage.frames["center"][footage.segments[0][0]], cv2.IMREAD_COLOR_RGB)
    batch = np.empty((1, *frame.shape), np.float32)
    naive = []
    for i in range(2 if quick else NAIVE_STEPS):
        start = time.perf_counter()
        raw = cv2.imread(footage.frames["center"][footage.segments[0][0] + i], cv2.IMREAD_COLOR_RGB)
        shift = Shift(0.3 * math.sin(i), math.radians(2.0 * math.cos(i)))
        view = raw.copy()
        view[:HOOD_TOP] = cv2.remap(raw, *naive_maps(synth, shift, "center"), cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        batch[0] = view
        float(model.predict(batch, verbose=0)[0, 0])
        naive.append(time.perf_counter() - start)
    classic = statistics.median(naive)
    maps_s = statistics.median([_timed(lambda: synth.maps(Shift(0.3, 0.02), "center")) for _ in range(200)])
    return [
        {"metric": f"replay steps per second, one core, ONNX Runtime ({what}, {steps} steps)",
         "value": round(1 / ours), "unit": "steps/s", "classic": round(1 / classic, 1), "ratio": round(classic / ours)},
        {"metric": "one replay step (decode, synthesise, infer, integrate)", "value": round(ours * 1e3, 2), "unit": "ms",
         "classic": round(classic * 1e3, 1), "ratio": round(classic / ours)},
        {"metric": "view synthesis maps, vectorised (naive: per pixel in Python)", "value": round(maps_s * 1e3, 2),
         "unit": "ms", "classic": None, "ratio": None},
    ]


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one timed replay, two naive steps")
    print(markdown(run(quick=parser.parse_args().quick), ours="evaluate.replay", classic="naive loop"))
