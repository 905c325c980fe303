"""PNG figures of a run: loss curves, and predicted against recorded steering over time."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

# Figures built without pyplot: no global state and no GUI backend on machines without a display.
from matplotlib.figure import Figure

import simulator_config
from base.atomic import write_atomic


def save_loss_plot(history_csv: Path, out: Path) -> Path:
    """Training and validation loss (MSE) per epoch, from the run's history.csv."""
    history = pd.read_csv(history_csv)
    epochs = history["epoch"]  # counted from 1
    fig = Figure(figsize=(7, 4))
    ax = fig.subplots()
    ax.plot(epochs, history["loss"], "o-", label="training (augmented)")
    if "val_loss" in history:
        ax.plot(epochs, history["val_loss"], "o-", label="validation")
        best = history["val_loss"].idxmin()
        ax.annotate(f"best {history['val_loss'][best]:.4f}", (epochs[best], history["val_loss"][best]),
                    textcoords="offset points", xytext=(0, 10), ha="center")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss (steering MSE)")
    ax.set_yscale("log")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="upper left")
    if "val_autonomy" in history:  # how each epoch drove the validation blocks (--select-by autonomy chooses by it)
        drives = ax.twinx()
        drives.plot(epochs, history["val_autonomy"], "s--", color="tab:green", label="replay autonomy (validation)")
        drives.set_ylabel("replay autonomy on the validation blocks (%)", color="tab:green")
        drives.legend(loc="upper right")
    return _save(fig, out)


def save_steering_plot(recorded: np.ndarray, predicted: np.ndarray, out: Path, title: str = "") -> Path:
    """Recorded and predicted steering, frame by frame, against recording time."""
    seconds = np.arange(len(recorded)) / simulator_config.load()["recording"]["sample_hz"]
    fig = Figure(figsize=(12, 4))
    ax = fig.subplots()
    ax.plot(seconds, recorded, lw=1, label="recorded")
    ax.plot(seconds, predicted, lw=1, label="predicted")
    ax.set_xlabel("time (s)")
    ax.set_ylabel("steering (−1 left … 1 right)")
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend()
    return _save(fig, out)


def _save(fig: Figure, out: Path) -> Path:
    fig.tight_layout()
    return write_atomic(Path(out), lambda temp: fig.savefig(temp, dpi=100, format="png"))
