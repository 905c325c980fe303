"""Replay speed on two cores: frames/s of the batched on-policy round and replay, beside one model call per frame.

The on-policy round as `training.onpolicy.OnPolicyRounds` drives it: the training rows of the three
track-1 recordings (`training.samples.split_rows`, the default seed), cut into stretches of
ROUND_STRETCH_S driven in lockstep, steered by the model as it trains (built in the precision the fit
picks here, `training.precision.detect("auto")`: bfloat16 where the CPU has it) through
`training.replay_steering`, with the default noise, its frames from the fit's frame store (decoded once
for the whole fit, as `training.dataset` does), and again decoding its own frames. Beside both, the
same round as every round drove before lockstep: one car at a time decoding its frames, one call per
frame of the model's float32 copy (`training.precision.Float32Steering`, preprocessing in TensorFlow).
Then `python -m evaluate`'s replay (ONNX Runtime, segments whole) of the jungle recording in lockstep and
one segment at a time. The model is an untrained NVIDIA network (the same cost as a trained one); the
footage is ../shared/realdata (skipped where absent).

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
    from training.framestore import FrameStore, band_top
    from training.model import build_model
    from training.onpolicy import ROUND_STRETCH_S, DriftingNoise
    from training.precision import Float32Steering, Float32View, detect, policy
    from training.replay_steering import ReplaySteering
    from training.samples import split_rows

    keras.utils.set_random_seed(0)
    precision = detect("auto").precision
    with policy(precision):
        model = build_model()
    config = TrainConfig(seed=0)
    train = Footage.from_rows(split_rows(read_recordings([REALDATA / name for name in TRACK1]), config)[0])
    predict, classic_predict = ReplaySteering(as_trained=True)(model), Float32Steering()(model)
    rule = LineRule(max_offset_m=config.on_policy_max_offset_m)

    # The fit's frame store as `training.dataset` makes it (in memory up to the default budget, beyond it in an
    # unlinked file read through the page cache), holding the round's frames.
    store = FrameStore([path for camera in train.cameras for path in train.frames[camera]], config.memory_mb,
                       top=band_top(config.pan if config.augment else 0.0))

    def round_(lockstep: int, frames: FrameStore | None = None) -> Callable[[], int]:
        steer = DriftingNoise(ModelPolicy(predict if lockstep > 1 else classic_predict), config.on_policy_noise, seed=0)
        return lambda: len(replay(train, steer, rule, stretch_s=ROUND_STRETCH_S, lockstep=lockstep,
                                  frames=frames).times_s)

    jungle = Footage.from_rows(read_recordings([REALDATA / "track2_jungle"]))
    onnx = ModelPolicy(OnnxRunner(to_onnx(Float32View()(model))).predict)

    def evaluate(lockstep: int) -> Callable[[], int]:
        return lambda: len(replay(jungle, onnx, LineRule(), lockstep=lockstep).times_s)

    repeats = 1 if quick else 3
    cars = len(cut(train, ROUND_STRETCH_S))
    return [
        _row(f"on-policy round frames/s, 2 cores, the model in {precision} (track-1 training rows, {cars} cars of "
             f"≥ {ROUND_STRETCH_S:g} s in lockstep, frames from the fit's store)", round_(LOCKSTEP, store), round_(1),
             repeats),
        _row("the same round decoding its own frames", round_(LOCKSTEP), round_(1), repeats),
        _row(f"replay frames/s, 2 cores, ONNX Runtime (jungle, {len(jungle.segments)} segments whole in lockstep)",
             evaluate(LOCKSTEP), evaluate(1), repeats),
    ]


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
