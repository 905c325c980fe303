"""Training throughput in float32 and in mixed bfloat16 (`--precision`), in one run, on the real pipeline.

Both models train on the same augmented batches of the real recordings, served by tf.data as
`training.fit` serves them, in alternating turns (`benchmarks.input_pipeline`'s method); a figure is
the median over all turns. Which precision `--precision auto` picks on this machine, and why, is a
row of its own: bfloat16 is fast only on processors with bfloat16 instructions (avx512_bf16 or
amx_bf16); elsewhere TensorFlow emulates it, and the ratio shows what that costs.

`python -m benchmarks.precision [--quick]` prints a markdown table.
"""
from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import keras
import numpy as np

from benchmarks import REALDATA
from benchmarks.input_pipeline import BATCH, alternate, fit_ends
from benchmarks.table import markdown
from training import precision
from training.config import TrainConfig
from training.dataset import make_datasets
from training.model import build_model

# The pipeline delivers batches far faster than either precision trains them (thousands of images/s
# against hundreds), so prefetched batches do not flatter a turn: only the first interval, which
# includes the iterator's start, is left out.
SKIP = 1


class _CpuEnds(keras.callbacks.Callback):
    """This process's CPU time (both cores' work) at the end of every training step."""

    def __init__(self) -> None:
        super().__init__()
        self.ends: list[float] = []

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self.ends.append(time.process_time())


def cpu_ends(fit: Callable[[list[keras.callbacks.Callback]], None]) -> list[float]:
    ends = _CpuEnds()
    fit([ends])
    return ends.ends


def run(quick: bool = False) -> list[dict]:
    if not (REALDATA / "udacity_sample_part" / "driving_log.csv").exists():
        raise FileNotFoundError(f"the real recordings are not at {REALDATA}: this benchmark measures on them")
    rounds, steps = (2, 3) if quick else (3, 6)  # few steps: emulated bfloat16 takes seconds a batch
    keras.utils.set_random_seed(0)
    train = make_datasets(TrainConfig(data=[str(REALDATA)], batch_size=BATCH, seed=0)).train.repeat()
    models = {}
    for name in ("float32", "bfloat16"):
        with precision.policy(name):
            models[name] = build_model()

    def fit(model: keras.Model, callbacks: list[keras.callbacks.Callback], batches: int = steps + SKIP) -> None:
        model.fit(train, steps_per_epoch=batches, epochs=1, verbose=0, shuffle=False, callbacks=callbacks)

    # The trainer alone: the same kind of batches, taken from the pipeline once and trained on from memory,
    # so what the precision changes is not hidden behind what the pipeline costs.
    taken = list(train.take(steps + SKIP).as_numpy_iterator())
    x, y = np.concatenate([b[0] for b in taken]), np.concatenate([b[1] for b in taken])

    def fit_arrays(model: keras.Model, callbacks: list[keras.callbacks.Callback]) -> None:
        model.fit(x, y, batch_size=BATCH, epochs=1, verbose=0, shuffle=False, callbacks=callbacks)

    for model in models.values():  # warm-up: tracing (once a model), first allocations
        fit(model, [], batches=2)
        fit_arrays(model, [])
    turns = {name: (lambda model=model: fit_ends(lambda callbacks: fit(model, callbacks))) for name, model in models.items()}
    turns |= {f"{name} alone": (lambda model=model: fit_ends(lambda callbacks: fit_arrays(model, callbacks)))
              for name, model in models.items()}
    fitted = alternate(turns, rounds, SKIP)
    # CPU time a step, between step ends as the images/s are (a fit's set-up left out): what a precision costs
    # whatever share of the cores other work leaves the benchmark. alternate() gives BATCH / median interval.
    per_cpu_s = alternate({name: (lambda model=model: cpu_ends(lambda callbacks: fit_arrays(model, callbacks)))
                           for name, model in models.items()}, rounds, SKIP)
    cpu = {name: 1000 * BATCH / images for name, images in per_cpu_s.items()}
    auto = precision.detect("auto")
    return [
        {"metric": "fit: float32, augmented real batches", "value": fitted["float32"], "unit": "img/s"},
        {"metric": "fit: mixed bfloat16, the same batches (vs float32; goal ≥ 1.5× on a CPU with avx512_bf16/amx_bf16)",
         "value": fitted["bfloat16"], "unit": "img/s", "classic": fitted["float32"],
         "ratio": fitted["bfloat16"] / fitted["float32"]},
        {"metric": "trainer alone (augmented batches from memory): float32", "value": fitted["float32 alone"],
         "unit": "img/s"},
        {"metric": "trainer alone: mixed bfloat16 (vs float32; goal ≥ 1.5× on a CPU with avx512_bf16/amx_bf16)",
         "value": fitted["bfloat16 alone"], "unit": "img/s", "classic": fitted["float32 alone"],
         "ratio": fitted["bfloat16 alone"] / fitted["float32 alone"]},
        {"metric": "trainer alone: CPU ms a step (both cores' work; a busy machine's figure), float32", "value": cpu["float32"],
         "unit": "CPU ms"},
        {"metric": "trainer alone: CPU ms a step, mixed bfloat16 (ratio: float32's CPU over bfloat16's)",
         "value": cpu["bfloat16"], "unit": "CPU ms", "classic": cpu["float32"], "ratio": cpu["float32"] / cpu["bfloat16"]},
        {"metric": f"--precision auto picks here: {auto.reason}", "value": auto.precision, "unit": ""},
    ]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer turns and steps")
    print(markdown(run(parser.parse_args().quick), ours="value", classic="float32"))
