"""The model runtime: load a model in any of the forms users have, ready to run fast on single frames.

A Keras model runs with ONNX Runtime (`base.runners`): it is converted once, checked against Keras
(`base.convert`), and the `.onnx` kept beside the `.keras` for the next start; if the conversion fails
the runner falls back to a `tf.function`. Driving an `.onnx` or `.tflite` file imports no
TensorFlow (LiteRT falls back to TensorFlow's interpreter only where `ai_edge_litert` is not
installed). What a model path names is `base.modelfile`'s.
"""
from __future__ import annotations

import logging
from pathlib import Path

from base.convert import ConversionError, export_checked, to_onnx
from base.frames import FRAME_SHAPE
from base.modelfile import KERAS_SUFFIXES, ModelLoadError, check_model_file
from base.runners import KerasRunner, OnnxRunner, Runner, TFLiteRunner, check_input_shape, first_line

log = logging.getLogger(__name__)

ALLOW_UNSAFE_HELP = ("load models that contain Python code (Keras Lambda layers, e.g. the course's normalisation "
                     "layer in Keras-2-era .h5 files); only for files you trust")


def load_runner(path: str | Path, allow_unsafe: bool = False) -> Runner:
    """The model at `path` (.keras, a run folder, .h5, .onnx or .tflite), ready to drive.

    A Keras model runs from the ONNX file beside it (same name, `.onnx`) when that is newer than the
    Keras file; otherwise it is converted, checked against Keras and kept there for the next start.
    Raises ModelLoadError with a one-line message for a missing or unreadable file, a model that
    needs unsafe deserialisation without `allow_unsafe`, or a model whose input is not raw frames.
    """
    path = check_model_file(path)
    suffix = path.suffix.lower()
    if suffix in KERAS_SUFFIXES:
        return _keras_runner(path, allow_unsafe)
    if suffix == ".onnx":
        try:
            return OnnxRunner(str(path))
        except ModelLoadError as e:
            raise ModelLoadError(f"{path}: {e}") from None
        except Exception as e:  # onnxruntime raises its own exception types for broken files
            raise ModelLoadError(f"cannot load {path} with ONNX Runtime ({first_line(e)}): "
                                 "re-export it with training/export.py") from None
    if suffix == ".tflite":
        try:
            return TFLiteRunner(path)
        except ModelLoadError as e:
            raise ModelLoadError(f"{path}: {e}") from None
        except Exception as e:
            raise ModelLoadError(f"cannot load {path} with LiteRT ({first_line(e)}): "
                                 "re-export it with training/export.py") from None
    raise ModelLoadError(f"{path} is not a model file this server reads: pass a .keras, .h5, .onnx or .tflite "
                         "file, or a run folder")


def load_keras_model(path: Path, allow_unsafe: bool = False):  # -> keras.Model; untyped to keep this module light
    """The Keras model in `path`, with a one-line ModelLoadError for what cannot be loaded or driven."""
    import keras

    import base.mirror  # noqa: F401  (registers the layers of mirror-averaged models)

    try:
        model = keras.models.load_model(path, compile=False, safe_mode=not allow_unsafe)
    except ValueError as e:
        if "safe_mode" in str(e) or "Lambda" in str(e):
            raise ModelLoadError(
                f"{path} contains a Lambda layer (Python code), which loads only with --allow-unsafe "
                "(allow_unsafe=True): pass it if you trust where the file came from") from None
        raise ModelLoadError(f"cannot load {path} ({first_line(e)}): is it a Keras model file?") from None
    except Exception as e:  # h5py, zipfile and TensorFlow each raise their own types for a damaged file
        raise ModelLoadError(f"cannot load {path} ({first_line(e)}): is it a Keras model file?") from None
    if len(model.inputs) != 1:
        raise ModelLoadError(f"{path} has {len(model.inputs)} inputs, expected one: raw frames "
                             f"(N, {', '.join(map(str, FRAME_SHAPE))})")
    try:
        check_input_shape(list(model.inputs[0].shape))
    except ModelLoadError as e:
        raise ModelLoadError(f"{path}: {e}") from None
    # A run's last.keras (for --resume) computes in bfloat16 where it trained so; ONNX Runtime has no
    # bfloat16 convolution, and drive, export and the replay steer in float32 anyway.
    return float32_copy(model) if computes_in_bfloat16(model) else model


def computes_in_bfloat16(model) -> bool:  # model: a keras.Model
    """Whether any layer of `model`, or of a model nested in it (an ensemble's members), computes in bfloat16."""
    return any(layer.dtype_policy.compute_dtype == "bfloat16" or
               (hasattr(layer, "layers") and computes_in_bfloat16(layer)) for layer in model.layers)


def float32_copy(model):  # keras.Model in and out
    """The same layers and weights with every layer, nested ones too, in float32 (the variables already
    are): uncompiled."""
    import keras

    def float32_layer(layer: keras.layers.Layer) -> keras.layers.Layer:
        return layer.__class__.from_config(layer.get_config() | {"dtype": "float32"})

    copy = keras.models.clone_model(model, clone_function=float32_layer, recursive=True)
    copy.set_weights(model.get_weights())
    return copy


def _keras_runner(path: Path, allow_unsafe: bool) -> Runner:
    onnx_path = path.with_suffix(".onnx")
    if _newer(onnx_path, path):
        try:
            return OnnxRunner(str(onnx_path), source=f"ONNX Runtime ({onnx_path.name}, kept beside {path.name})")
        except Exception as e:  # a damaged file: make it again
            log.warning("cannot load %s (%s); converting %s again", onnx_path, first_line(e), path)
    model = load_keras_model(path, allow_unsafe)
    try:
        try:
            export_checked(model, "onnx", onnx_path)
        except OSError as e:  # a folder this user cannot write to: convert for this start only
            log.warning("cannot keep %s (%s); converting in memory, again at the next start", onnx_path,
                        e.strerror or e)
            return OnnxRunner(to_onnx(model), source=f"ONNX Runtime (converted from {path.name} at start-up)")
    except ConversionError as e:  # tf2onnx fails in many ways on unusual layers; the TF path still drives
        log.warning("%s; driving %s with a tf.function instead", e, path)
        return KerasRunner(model)
    log.info("converted %s to %s (checked against Keras), kept for the next start", path, onnx_path)
    return OnnxRunner(str(onnx_path), source=f"ONNX Runtime ({onnx_path.name}, converted from {path.name} now)")


def _newer(path: Path, than: Path) -> bool:
    try:
        return path.stat().st_mtime_ns > than.stat().st_mtime_ns
    except FileNotFoundError:
        return False

