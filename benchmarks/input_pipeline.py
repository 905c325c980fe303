"""Input pipeline and training throughput on the real recordings, against the tutorials' way, in one run.

The tutorials' way (the classic behavioural-cloning notebook): a Python generator that picks random
samples, reads each JPEG with matplotlib, augments it with imgaug augmenters made and called per
image, preprocesses it with OpenCV (crop, YUV, blur, resize) and stacks a batch, fed to `fit` with
`steps_per_epoch`. This pipeline is exactly what `training.fit` runs from its first on-policy round on
(`training.dataset.make_datasets` with the default settings on the three track-1 recordings): frames
decoded once into the frame store (`training.framestore`, with the default --memory-mb), half of every
batch replaced by views synthesised for on-policy states (`StatePool.mix_into`; the states here are
those a straight-steering car with the rounds' drifting noise reaches, shown its views as the model is
in a round, so no model is needed to make them), the batch augmented (one OpenCV warp per image for pan,
zoom and mirror, on the rows the model crops to), in `--workers` parallel tf.data calls; preprocessing
inside the model. What one batch of that path costs a core, step by step, is a row of its own.

`python -m benchmarks.input_pipeline [--quick]` prints a markdown table of medians and ratios.
"""
from __future__ import annotations

import argparse
import random
import time
from typing import Any, Callable, Iterator

import keras
import numpy as np

from base.frames import CROP_BOTTOM, CROP_TOP, FRAME_SHAPE
from base.logs import read_recordings
from benchmarks import REALDATA, tutorial_recipe
from benchmarks.table import markdown
from evaluate.rules import LineRule
from training.augment import Augmenter
from training.config import TrainConfig
from training.dataset import Datasets, make_datasets
from training.framestore import load_frames
from training.model import build_model
from training.onpolicy import DriftingNoise
from training.samples import prepare_samples

BATCH = TrainConfig().batch_size
TRACK1 = ("udacity_sample_part", "udacity_sample_late", "track1_windows")  # what the default fit is measured on


# --- measuring ------------------------------------------------------------------------------------
# Other work may share the machine: each approach runs in short turns, alternating, and a figure is
# the median over all turns, so a burst of load hits every approach alike.
class _StepEnds(keras.callbacks.Callback):
    def __init__(self) -> None:
        super().__init__()
        self.ends: list[float] = []

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self.ends.append(time.perf_counter())


def _batch_ends(batches: Iterator, steps: int) -> list[float]:
    ends = []
    for _ in range(steps):
        next(batches)
        ends.append(time.perf_counter())
    return ends


def fit_ends(fit: Callable[[list[keras.callbacks.Callback]], Any]) -> list[float]:
    step_ends = _StepEnds()
    fit([step_ends])
    return step_ends.ends


def alternate(turns: dict[str, Callable[[], list[float]]], rounds: int, skip: int) -> dict[str, float]:
    """Images per second of each approach: BATCH / median interval between batch ends, over `rounds` turns each.

    The first `skip` intervals of a turn (start-up, prefetched batches) are left out.
    """
    intervals: dict[str, list[float]] = {name: [] for name in turns}
    for _ in range(rounds):
        for name, turn in turns.items():
            intervals[name] += np.diff(turn()).tolist()[skip:]
    return {name: BATCH / float(np.median(values)) for name, values in intervals.items()}


class _Straight:
    """Steers straight, shown the views as the model in a round is: the pool gets the states it reaches (a policy
    that sees no view, as `ZeroSteering`, pools none, and the batches would have no on-policy sample)."""

    sees = True

    def __call__(self, views: np.ndarray | None, rows: np.ndarray, cars: np.ndarray) -> np.ndarray:
        return np.zeros(len(rows))


def path_costs(data: Datasets, config: TrainConfig, batches: int) -> dict[str, float]:
    """CPU milliseconds (this process's: OpenCV's threads too; no tf.data iterator runs yet) a batch of the fit's path costs, step by step, medians over `batches`
    batches: the frames from the store, the on-policy views that replace half of them, the augmentation."""
    images = data.samples.train["image"].to_numpy()
    steering = data.samples.train["steering"].to_numpy(dtype=np.float32)
    augmenter = Augmenter(config, rows=(CROP_TOP, CROP_BOTTOM))
    rng = np.random.default_rng(0)
    costs: dict[str, list[float]] = {"frames": [], "on-policy views": [], "augmentation": []}
    for seed in range(batches):
        indices = rng.choice(len(images), BATCH, replace=False)
        started = time.process_time()
        mix = data.pool.draw(BATCH, seed)  # as training.dataset's batches: the slots views replace are not fetched
        kept = np.setdiff1d(np.arange(BATCH), mix.slots)
        x, y = np.empty((BATCH, *FRAME_SHAPE), np.uint8), steering[indices]
        data.frames.fill(x, kept, images[indices[kept]])
        fetched = time.process_time()
        data.pool.mix_into(x, y, data.frames, mix)
        mixed = time.process_time()
        augmenter(x, y, seed)
        costs["frames"].append(fetched - started)
        costs["on-policy views"].append(mixed - fetched)
        costs["augmentation"].append(time.process_time() - mixed)
    return {name: 1000 * float(np.median(values)) for name, values in costs.items()}


def run(quick: bool = False) -> list[dict]:
    if not (REALDATA / "udacity_sample_part" / "driving_log.csv").exists():
        raise FileNotFoundError(f"the real recordings are not at {REALDATA}: this benchmark measures on them")
    rounds, steps = (2, 10) if quick else (4, 16)
    random.seed(0)
    keras.utils.set_random_seed(0)  # also seeds NumPy, which the tutorials' generator uses
    config = TrainConfig(data=[str(REALDATA / name) for name in TRACK1], batch_size=BATCH, seed=0)

    started = time.perf_counter()
    data = make_datasets(config)
    prepare_s = time.perf_counter() - started
    straight = DriftingNoise(_Straight(), config.on_policy_noise, seed=0)
    data.pool.gather(straight, LineRule(max_offset_m=config.on_policy_max_offset_m))
    costs = path_costs(data, config, batches=20 if quick else 50)
    train = data.train.repeat()
    # The same balanced training samples (all cameras) the pipeline serves, for the tutorials' generator.
    samples = prepare_samples(read_recordings(config.data), config).train
    classic_batches = tutorial_recipe.batch_generator(samples["image"].tolist(), samples["steering"].to_numpy(), BATCH)
    skip = 4  # batches a fresh tf.data iterator may already hold (prefetch 2 + 2 parallel calls)
    inputs = alternate({
        "ours": lambda: _batch_ends(iter(train), steps + skip),
        "classic": lambda: _batch_ends(classic_batches, steps + skip),
    }, rounds, skip)

    head = samples.iloc[:BATCH * (steps + skip)]
    frames, labels = load_frames(head["image"].tolist()), head["steering"].to_numpy(dtype=np.float32)
    models = {"in_memory": build_model(), "ours": build_model(),
              "classic": tutorial_recipe.build()}
    # shuffle=False: the tf.data pipeline reshuffles itself, the generators draw at random.
    fits = {
        "in_memory": lambda callbacks: models["in_memory"].fit(
            frames, labels, batch_size=BATCH, epochs=1, verbose=0, callbacks=callbacks),
        "ours": lambda callbacks: models["ours"].fit(
            train, steps_per_epoch=steps + skip, epochs=1, verbose=0, shuffle=False, callbacks=callbacks),
        "classic": lambda callbacks: models["classic"].fit(
            classic_batches, steps_per_epoch=steps + skip, epochs=1, verbose=0, shuffle=False, callbacks=callbacks),
    }
    for fit in fits.values():  # warm-up: tracing, first allocations
        fit([])
    fitted = alternate({name: (lambda fit=fit: fit_ends(fit)) for name, fit in fits.items()}, rounds, skip)
    return [
        {"metric": "input: the fit's batches, on-policy views and augmented (vs the tutorials' generator)",
         "value": inputs["ours"], "unit": "img/s", "classic": inputs["classic"], "ratio": inputs["ours"] / inputs["classic"]},
        *({"metric": f"input, one core: {name} of a batch of {BATCH} ({data.pool.size} on-policy states pooled)",
           "value": cost, "unit": "CPU ms"} for name, cost in costs.items()),
        {"metric": f"input: read logs + decode {data.summary['frames']} frames once "
                   f"({'in memory' if data.summary['frames_in_memory'] else 'on disk'})", "value": prepare_s, "unit": "s"},
        {"metric": "fit: in-memory arrays, not augmented (reference)", "value": fitted["in_memory"], "unit": "img/s"},
        {"metric": "fit: this pipeline, augmented (vs the tutorials' generator fit)", "value": fitted["ours"],
         "unit": "img/s", "classic": fitted["classic"], "ratio": fitted["ours"] / fitted["classic"]},
        {"metric": "fit: this pipeline augmented / in-memory arrays (goal ≥ 0.85)",
         "value": fitted["ours"] / fitted["in_memory"], "unit": "ratio"},
    ]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer batches and steps (about a minute)")
    print(markdown(run(parser.parse_args().quick), ours="this pipeline", classic="tutorials' way"))
