"""The one Keras→ONNX (and →LiteRT) conversion, kept only once the export steers like the Keras model.

`training.export` and the Keras path of `base.runtime.load_runner` use it.
"""
from __future__ import annotations

import math
import tempfile
import warnings
from pathlib import Path

import numpy as np

from base.atomic import write_atomic
from base.frames import FRAME_SHAPE
from base.modelfile import ModelLoadError
from base.runners import OnnxRunner, TFLiteRunner, first_line

EXPORT_FORMATS = ("onnx", "tflite")
# Steering is in −1..1 and the car reacts to ~1e-2; float32 reorderings differ by ~1e-6.
TOLERANCE = 1e-4
CHECK_FRAMES = 4


class ConversionError(ModelLoadError):
    """A Keras model could not be exported, or its export disagrees with it; the message says what to do."""


def check_frames() -> np.ndarray:
    """Fixed, frame-like input for comparing an export with its Keras model: a seeded noisy gradient,
    so every pixel path is exercised."""
    rng = np.random.default_rng(0)
    ramp = np.linspace(0, 255, FRAME_SHAPE[1], dtype=np.float32)[None, None, :, None]
    noise = rng.uniform(-40, 40, size=(CHECK_FRAMES, *FRAME_SHAPE)).astype(np.float32)
    return np.clip(ramp + noise, 0, 255)


def export_checked(model, fmt: str, out: Path) -> float:  # model: a keras.Model
    """Write `model` as `fmt` ("onnx" or "tflite") to `out`, atomically and only once the export steers
    like the Keras model (within TOLERANCE on `check_frames()`); returns the largest difference.

    The one Keras→ONNX (and →LiteRT) conversion: `training.export` and the Keras path of `load_runner`
    use it. Raises ConversionError when the converter fails or the export disagrees.
    """
    if fmt not in EXPORT_FORMATS:
        raise ConversionError(f"unknown format {fmt!r}: choose one of {', '.join(EXPORT_FORMATS)}")
    # Calling the model first also gives Keras the input signature it exports: (N, 160, 320, 3).
    # (An explicit input_signature made every LiteRT dimension dynamic, which the drive server rejects.)
    frames = check_frames()
    expected = model.predict(frames, verbose=0).reshape(-1)
    difference = math.nan

    def write(temp: Path) -> None:
        nonlocal difference
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # converter deprecation notices
            try:  # LiteRT is Keras' name for the TFLite format
                model.export(str(temp), format="onnx" if fmt == "onnx" else "litert", verbose=False)
            except OSError:  # the file cannot be written here (a read-only folder, a full disk): not the model's fault
                raise
            except Exception as e:  # the converters raise many types; the first line says what failed
                raise ConversionError(f"{fmt} conversion failed ({first_line(e)})") from None
        runner = OnnxRunner(str(temp)) if fmt == "onnx" else TFLiteRunner(temp)
        difference = float(np.max(np.abs(runner.predict(frames) - expected)))
        if not difference <= TOLERANCE:
            raise ConversionError(f"the {fmt} export steers up to {difference:.2g} away from the Keras model "
                                  f"(tolerance {TOLERANCE:g}): nothing written; report this with the model file")

    write_atomic(out, write)
    return difference


def to_onnx(model) -> bytes:  # model: a keras.Model
    """The model as checked ONNX bytes (`export_checked` through a temporary folder that is removed again)."""
    with tempfile.TemporaryDirectory(prefix="onnx-") as folder:
        target = Path(folder) / "model.onnx"
        export_checked(model, "onnx", target)
        return target.read_bytes()

