"""What a model path names, checked in milliseconds, before TensorFlow or ONNX Runtime is loaded.

The one place a model path is resolved (a run folder means its kept model, `model.keras`) and
checked. A missing file, a folder without a model, or a file whose contents are not what its suffix
says (a text file saved as `model.keras`, a download that is an HTML page) each get a one-line
message here; Keras itself would report the last as "File not found" for a file that exists.
"""
from __future__ import annotations

import zipfile
from pathlib import Path

KEPT_MODEL = "model.keras"  # in a run folder: the model drive.py, evaluation and the replay load
KERAS_SUFFIXES = (".keras", ".h5", ".hdf5")
SUFFIXES = (*KERAS_SUFFIXES, ".onnx", ".tflite")

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"  # at offset 0, or 512, 1024, 2048, ... after a user block
ZIP_SIGNATURE = b"PK\x03\x04"  # a local file header: how every zip archive starts
TFLITE_IDENTIFIER = b"TFL3"  # the FlatBuffer's file identifier, bytes 4–8


class ModelLoadError(ValueError):
    """The model cannot be used for driving; the message (one line) says what to do."""


def resolve_model_path(path: str | Path) -> Path:
    """The model file `path` names: the file itself, or a run folder's kept model (model.keras).

    The one place a model path is resolved, for the drive server, evaluation, export and the replay.
    Raises ModelLoadError (one line) when there is no such file.
    """
    path = Path(path)
    if path.is_dir():
        if not (path / KEPT_MODEL).is_file():
            raise ModelLoadError(f"{path} is a folder without {KEPT_MODEL}: pass a run folder from "
                                 "`python -m training.fit` or a model file (.keras, .h5, .onnx, .tflite)")
        path = path / KEPT_MODEL
    if not path.is_file():
        raise ModelLoadError(f"model {path} does not exist: pass a .keras/.h5/.onnx/.tflite file or a run folder")
    return path


def check_model_file(path: str | Path) -> Path:
    """The model file `path` names (a run folder's model.keras), or ModelLoadError saying what to pass."""
    path = resolve_model_path(path)
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise ModelLoadError(f"{path} is not a model file this project reads: pass a .keras, .h5, .onnx or "
                             ".tflite file, or a run folder")
    try:
        with open(path, "rb") as f:
            head = f.read(512)
        if suffix == ".keras" and not zipfile.is_zipfile(path):
            if head.startswith(ZIP_SIGNATURE):
                raise ModelLoadError(
                    f"{path} is a truncated model file: it starts as a zip archive (a .keras model is one) but "
                    f"ends after {path.stat().st_size} bytes without the archive's directory (an interrupted copy, "
                    "download or save?): copy it again, or pass the run folder's last.keras or another model")
            expected = "a .keras model is a zip archive"
        elif suffix in (".h5", ".hdf5") and not _is_hdf5(path):
            expected = "an .h5 model is an HDF5 file"
        elif suffix == ".tflite" and head[4:8] != TFLITE_IDENTIFIER:
            expected = "a .tflite model is a TensorFlow Lite FlatBuffer"
        else:
            return path
    except OSError as e:
        raise ModelLoadError(f"cannot read model {path} ({e.strerror or e}): check its permissions") from None
    raise ModelLoadError(f"{path} is not a model file: {expected}, and this file {_describe(head)}; "
                         f"pass the {KEPT_MODEL} of a run folder (`python -m training.fit` writes one) "
                         "or a model saved with Keras's model.save")


def _is_hdf5(path: Path) -> bool:
    size = path.stat().st_size
    offsets = [0] + [512 << k for k in range(32) if 512 << k < size]
    with open(path, "rb") as f:
        for offset in offsets:
            f.seek(offset)
            if f.read(len(HDF5_SIGNATURE)) == HDF5_SIGNATURE:
                return True
    return False


def _describe(head: bytes) -> str:
    if not head:
        return "is empty"
    text = head.decode("utf-8", errors="replace")
    if "\0" in text or "\ufffd" in text[:-3]:  # the last bytes read may cut a character in two
        return f"starts with the bytes {head[:8].hex(' ')}"
    first = text.strip().splitlines()[0] if text.strip() else ""
    return f"holds text ({first[:40]!r}{'…' if len(first) > 40 else ''})"
