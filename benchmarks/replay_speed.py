"""Replay speed on two cores: frames/s of the batched on-policy round and replay, beside one model call per frame.

The on-policy round as `training.onpolicy.OnPolicyRounds` drives it: the training rows of the three
track-1 recordings (`training.samples.split_rows`, the default seed), cut into stretches of
ROUND_STRETCH_S driven in lockstep, the model in float32 through its compiled Keras batch call, with
the default noise, its frames from the fit's frame store (decoded once for the whole fit, as
`training.dataset` does), and again decoding its own frames. Beside both, the same round with one car
at a time decoding its frames: one model call per frame, as every round drove before. Then `python -m evaluate`'s replay (ONNX Runtime, segments whole) of the
jungle recording in lockstep and one segment at a time. The model is an untrained NVIDIA network
(the same cost as a trained one); the footage is ../shared/realdata (skipped where absent).

    python -m benchmarks.replay_speed [--quick]
"""
from __future__ import annotations

import argparse
import statistics
import time
from typing import Callable

from benchmarks import REALDATA
from benchmarks.table import markdown

TRACK1 = ("udacity_sample_part", "udacity_sample_late", "track1_windows")


def run(quick: bool = False) -> list[dict]:
    if not all((REALDATA / name).is_dir() for name in (*TRACK1, "track2_jungle")):
        print(f"skipped: the real recordings are not in {REALDATA}")
        return []
    import keras

    from base.convert import to_onnx
    from base.logs import read_recordings
    from base.runners import OnnxRunner
    from evaluate.replay import LOCKSTEP, Footage, ModelPolicy, cut, replay
    from evaluate.rules import LineRule
    from training.config import TrainConfig
    from training.model import build_model
    from training.onpolicy import ROUND_STRETCH_S, DriftingNoise
    from training.precision import Float32Steering
    from training.samples import split_rows

    keras.utils.set_random_seed(0)
    model = build_model()
    config = TrainConfig(seed=0)
    train = Footage.from_rows(split_rows(read_recordings([REALDATA / name for name in TRACK1]), config)[0])
    predict = Float32Steering()(model)
    rule = LineRule(max_offset_m=config.on_policy_max_offset_m)

    store = _Store([path for camera in train.cameras for path in train.frames[camera]])

    def round_(lockstep: int, frames: _Store | None = None) -> Callable[[], int]:
        policy = DriftingNoise(ModelPolicy(predict), config.on_policy_noise, seed=0)
        return lambda: len(replay(train, policy, rule, stretch_s=ROUND_STRETCH_S, lockstep=lockstep,
                                  frames=frames).times_s)

    jungle = Footage.from_rows(read_recordings([REALDATA / "track2_jungle"]))
    onnx = ModelPolicy(OnnxRunner(to_onnx(model)).predict)

    def evaluate(lockstep: int) -> Callable[[], int]:
        return lambda: len(replay(jungle, onnx, LineRule(), lockstep=lockstep).times_s)

    repeats = 1 if quick else 3
    cars = len(cut(train, ROUND_STRETCH_S))
    return [
        _row(f"on-policy round frames/s, 2 cores, Keras float32 (track-1 training rows, {cars} cars of "
             f"≥ {ROUND_STRETCH_S:g} s in lockstep, frames from the fit's store)", round_(LOCKSTEP, store), round_(1),
             repeats),
        _row("the same round decoding its own frames", round_(LOCKSTEP), round_(1), repeats),
        _row(f"replay frames/s, 2 cores, ONNX Runtime (jungle, {len(jungle.segments)} segments whole in lockstep)",
             evaluate(LOCKSTEP), evaluate(1), repeats),
    ]


class _Store:
    """The fit's frame store, as `training.dataset` holds it when the frames fit in its cache: all decoded."""

    def __init__(self, paths: list[str]) -> None:
        import numpy as np

        from base.frames import read_frame

        self.index = {path: i for i, path in enumerate(paths)}
        self.frames = np.stack([read_frame(path) for path in paths])

    def get(self, paths):
        return self.frames[[self.index[path] for path in paths]]


def _row(metric: str, ours: Callable[[], int], classic: Callable[[], int], repeats: int) -> dict:
    """Frames/s of `ours` and `classic` (each returns the frames it drove), alternated, medians; warmed up first."""
    ours(), classic()  # caches, traces, ONNX Runtime's first runs
    rates: dict[str, list[float]] = {"ours": [], "classic": []}
    for _ in range(repeats):
        for name, drive in (("ours", ours), ("classic", classic)):
            start = time.perf_counter()
            frames = drive()
            rates[name].append(frames / (time.perf_counter() - start))
    value, before = statistics.median(rates["ours"]), statistics.median(rates["classic"])
    return {"metric": metric, "value": round(value), "unit": "frames/s", "classic": round(before),
            "ratio": round(value / before, 1)}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one timed run of each")
    print(markdown(run(quick=parser.parse_args().quick), ours="batched (lockstep)", classic="one call per frame"))
