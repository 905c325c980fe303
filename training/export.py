"""Export a trained Keras model to ONNX or LiteRT (.tflite) for fast CPU inference in the drive server.

    python -m training.export models/latest --format onnx          # → models/<run>/model.onnx
    python -m training.export models/latest/model.keras --format tflite --out car.tflite

The exported file is checked against the Keras model before it replaces anything: both must give the
same steering (within TOLERANCE) on the same frames, through the loader the drive server uses.
"""
from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import keras
import numpy as np

from base.atomic import write_atomic
from base.frames import FRAME_SHAPE
from base.runtime import ModelLoadError, load_runner
from training.runs import RunError, resolve_model_path

SUFFIXES = {"onnx": ".onnx", "tflite": ".tflite"}
# Steering is in −1..1 and the car reacts to ~1e-2; float32 reorderings differ by ~1e-6.
TOLERANCE = 1e-4
CHECK_FRAMES = 4


class ExportError(ValueError):
    """The model cannot be exported, or the export disagrees with it; the message says what to do."""


def export_model(model: keras.Model, fmt: str, out: Path) -> float:
    """Write `model` as `fmt` to `out` (atomically, only once verified); returns the largest steering difference."""
    if fmt not in SUFFIXES:
        raise ExportError(f"unknown format {fmt!r}: choose one of {', '.join(SUFFIXES)}")
    difference = float("nan")

    # Calling the model first also gives Keras the input signature it exports: (N, 160, 320, 3).
    # (An explicit input_signature made every LiteRT dimension dynamic, which the drive server rejects.)
    frames = check_frames()
    expected = model.predict(frames, verbose=0).reshape(-1)

    def write(temp: Path) -> None:
        nonlocal difference
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # converter deprecation notices
            try:  # LiteRT is Keras' name for the TFLite format
                model.export(str(temp), format="onnx" if fmt == "onnx" else "litert", verbose=False)
            except Exception as e:  # the converters raise many types; the first line says what failed
                raise ExportError(f"{fmt} conversion failed ({str(e).strip().splitlines()[0]})") from None
        difference = float(np.max(np.abs(load_runner(temp).predict(frames) - expected)))
        if not difference <= TOLERANCE:
            raise ExportError(f"the {fmt} export steers up to {difference:.2g} away from the Keras model "
                              f"(tolerance {TOLERANCE:g}): nothing written; report this with the model file")

    write_atomic(out, write)
    return difference


def check_frames() -> np.ndarray:
    """Fixed, frame-like test input: a seeded noisy gradient, so every pixel path is exercised."""
    rng = np.random.default_rng(0)
    ramp = np.linspace(0, 255, FRAME_SHAPE[1], dtype=np.float32)[None, None, :, None]
    noise = rng.uniform(-40, 40, size=(CHECK_FRAMES, *FRAME_SHAPE)).astype(np.float32)
    return np.clip(ramp + noise, 0, 255)


def load_keras_model(path: Path) -> keras.Model:
    try:
        return keras.models.load_model(path, compile=False)
    except Exception as e:  # zip, h5py and Keras each raise their own types for a file they cannot read
        raise ExportError(f"cannot load {path} as a Keras model ({str(e).strip().splitlines()[0]}): "
                          "pass the model.keras of a run folder") from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m training.export", description=__doc__.splitlines()[0])
    parser.add_argument("model", metavar="MODEL", help="a run folder (its model.keras) or a .keras/.h5 file")
    parser.add_argument("--format", required=True, choices=sorted(SUFFIXES), help="onnx (ONNX Runtime) or tflite (LiteRT)")
    parser.add_argument("--out", metavar="FILE", help="output file (default: beside MODEL, with the format's suffix)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        source = resolve_model_path(args.model)
        out = Path(args.out) if args.out else source.with_suffix(SUFFIXES[args.format])
        difference = export_model(load_keras_model(source), args.format, out)
    except (ExportError, RunError, ModelLoadError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB); it agrees with {source}: "
          f"largest steering difference {difference:.1e} on {CHECK_FRAMES} frames")
    print(f"drive with it: python drive.py {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
