"""Run arguments and models shared by the training tests (fit, evaluate, export, strategy)."""
from __future__ import annotations

from pathlib import Path


def fit_args(data: Path, out: Path, *extra: str) -> list[str]:
    """A quick run: one epoch of a few batches, validation in blocks that a 40-row log holds."""
    return ["--data", str(data), "--out", str(out), "--epochs", "1", "--batch-size", "16",
            "--val-block", "10", "--val-fraction", "0.25", "--workers", "1", *extra]


def save_untrained_model(folder: Path, seed: int) -> Path:
    """An untrained NVIDIA model (weights fixed by `seed`) saved as `folder/model.keras`."""
    import keras

    from training.model import build_model

    keras.utils.set_random_seed(seed)
    path = folder / "model.keras"
    build_model().save(path)
    return path
