"""Saliency: what VisualBackProp costs per frame beside the forward pass, and whether it means something.

Cost, on real frames (../shared/realdata), medians of interleaved runs in one process: the driving
forward pass (`base.runtime`, ONNX Runtime), `evaluate.saliency` (the same graph with the feature maps
as extra outputs, VisualBackProp, mapped onto the frame), and the classic saliency of Keras users,
the gradient of the steering with respect to the input (`tf.GradientTape` in a `tf.function`). The
paper's claim to check: saliency costs less than one more forward pass.

Meaning, as the PilotNet paper checked it: the 10 % most salient of the pixels the model sees moved
20 px sideways change the steering by far more than the 10 % least salient (random pixels between).
With `--model` (a trained run; `python -m benchmarks` passes models/latest where there is one) the
trained model is measured, else an untrained network.

    python -m benchmarks.saliency [--quick] [--model RUN_OR_FILE] [--figure FILE.png]

`--figure` also draws the model's saliency on one frame of each real recording into a PNG (the
saliency figure of docs/architecture.md).
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from benchmarks import REALDATA
from benchmarks.table import markdown

TRACKS = ("track1_windows", "track2_jungle", "udacity_sample_part")
SHIFT_PX, SHARE = 20, 0.1


def real_frames(count: int) -> list[np.ndarray]:
    paths = [p for track in TRACKS for p in sorted((REALDATA / track / "IMG").glob("center_*.jpg"))[::20][:count]]
    if not paths:
        raise SystemExit(f"error: no real frames under {REALDATA}: the benchmark needs ../shared/realdata")
    return [cv2.imread(str(p))[..., ::-1].copy() for p in paths]


def timed(functions: dict, frames: list[np.ndarray], rounds: int) -> dict[str, float]:
    """Median seconds per call of each function, the functions interleaved frame by frame (a noisy
    machine slows them alike)."""
    times: dict[str, list[float]] = {name: [] for name in functions}
    for i in range(rounds):
        frame = frames[i % len(frames)]
        for name, function in functions.items():
            start = time.perf_counter()
            function(frame)
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values[len(values) // 10:]) for name, values in times.items()}


def gradient_saliency(model):  # keras.Model -> frame -> |d steering / d pixel|, the classic way
    import tensorflow as tf

    @tf.function(input_signature=[tf.TensorSpec((1, 160, 320, 3), tf.float32)])
    def gradient(batch):
        with tf.GradientTape() as tape:
            tape.watch(batch)
            steering = model(batch, training=False)
        return steering, tf.reduce_max(tf.abs(tape.gradient(steering, batch)), axis=-1)

    return lambda frame: [t.numpy() for t in gradient(tf.constant(frame[None], tf.float32))]


def run(quick: bool = False, model: Path | None = None) -> list[dict]:
    import keras

    from base.runtime import load_runner
    from evaluate.saliency import saliency_for, shift_effect
    from training.model import build_model

    frames = real_frames(10 if quick else 40)
    with tempfile.TemporaryDirectory(prefix="saliency-bench-") as folder:
        keras.utils.set_random_seed(0)
        untrained = build_model()
        path = Path(folder) / "model.keras"
        untrained.save(path)
        runner = load_runner(path)  # converts to ONNX once, as the drive server does
        saliency = saliency_for(runner)
        gradient = gradient_saliency(untrained)
        cost = timed({"forward": runner.predict_one, "saliency": saliency, "gradient": gradient}, frames,
                     100 if quick else 600)
        trained = model is not None and model.exists()
        meaning = shift_effect(saliency_for(load_runner(model)) if trained else saliency, frames, SHARE, SHIFT_PX)
    ms = {name: value * 1e3 for name, value in cost.items()}
    extra = ms["saliency"] - ms["forward"]
    which = f"trained model {model}" if trained else "untrained network"
    return [
        {"metric": "forward pass, one frame (the drive server's session)", "value": round(ms["forward"], 2),
         "unit": "ms", "classic": None, "ratio": None},
        {"metric": "saliency of one frame, forward pass included (vs the gradient with tf.GradientTape)",
         "value": round(ms["saliency"], 2), "unit": "ms", "classic": round(ms["gradient"], 2),
         "ratio": round(ms["gradient"] / ms["saliency"], 1)},
        {"metric": "saliency's cost beyond the forward pass (goal < one forward pass)", "value": round(extra, 2),
         "unit": "ms", "classic": round(ms["forward"], 2), "ratio": round(ms["forward"] / max(extra, 1e-3), 1)},
        {"metric": f"mean steering change, 10 % most salient pixels moved {SHIFT_PX} px ({which}, {len(frames)} real frames)",
         "value": round(meaning["most"] * 1e3, 2), "unit": "10⁻³ of full lock", "classic": None, "ratio": None},
        {"metric": "steering change, 10 % least salient pixels moved (most / least = ratio)",
         "value": round(meaning["least"] * 1e3, 2), "unit": "10⁻³ of full lock", "classic": None,
         "ratio": round(meaning["most"] / max(meaning["least"], 1e-9), 1)},
        {"metric": "steering change, 10 % random pixels moved", "value": round(meaning["random"] * 1e3, 2), "unit": "10⁻³ of full lock",
         "classic": None, "ratio": None},
        {"metric": "steering change, the whole frame moved", "value": round(meaning["whole"] * 1e3, 2),
         "unit": "10⁻³ of full lock", "classic": None, "ratio": None},
    ]


def figure(model: Path, out: Path) -> None:
    """One frame of each real recording with the model's saliency drawn on and its steering written, stacked."""
    from base.runtime import load_runner
    from evaluate.saliency import overlay, saliency_for

    saliency = saliency_for(load_runner(model))
    panels = []
    for track in TRACKS:
        paths = sorted((REALDATA / track / "IMG").glob("center_*.jpg"))
        frame = cv2.imread(str(paths[len(paths) // 3]))[..., ::-1].copy()
        steering, mask = saliency(frame)
        panel = np.concatenate([frame, overlay(frame, mask)], axis=1)[..., ::-1].copy()
        cv2.putText(panel, f"{track}: steering {steering:+.3f}", (326, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.4,
                    (255, 255, 255), 1, cv2.LINE_AA)
        panels.append(panel)
    out.parent.mkdir(parents=True, exist_ok=True)
    small_png(np.concatenate(panels, axis=0)[..., ::-1], out)


def small_png(rgb: np.ndarray, out: Path) -> None:
    """A PNG of 256 colours: a third of the bytes of a full-colour one, for figures committed to the repository."""
    from PIL import Image

    Image.fromarray(np.ascontiguousarray(rgb)).quantize(256, method=Image.Quantize.FASTOCTREE).save(out, optimize=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer frames (a smoke run, noisier figures)")
    parser.add_argument("--model", type=Path, help="a trained run or model file for the meaning figures")
    parser.add_argument("--figure", type=Path, metavar="FILE.png", help="with --model: draw its saliency on real frames")
    args = parser.parse_args()
    if args.figure and not args.model:
        parser.error("--figure draws a model's saliency: pass --model too")
    if args.figure:
        figure(args.model, args.figure)
    print(markdown(run(quick=args.quick, model=args.model), ours="VisualBackProp", classic="classic"))
