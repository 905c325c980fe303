"""PNG figures of the training data: steering histograms around balancing, and augmented samples."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

# Figures are built without pyplot: no global state, no GUI backend, nothing to close.
from matplotlib.figure import Figure

from base.atomic import write_atomic
from base.frames import CROP_BOTTOM, CROP_TOP
from training.augment import Augmenter
from training.config import TrainConfig
from training.framestore import load_frames
from training.samples import Balanced, SampleSet

GRID_ROWS, GRID_COLUMNS = 4, 4
OUTSIDE_CROP = 0.35  # brightness of the rows the model crops away, so the rows it sees stand out


def save_data_plots(samples: SampleSet, config: TrainConfig, out_dir: Path) -> list[Path]:
    """Write `steering_histograms.png` and `augmentation_grid.png` for prepared `samples` into `out_dir`."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    return [
        _save(_histograms(samples.balanced), out_dir / "steering_histograms.png"),
        _save(_augmentation_grid(samples.train, config), out_dir / "augmentation_grid.png"),
    ]


def _histograms(balanced: Balanced) -> Figure:
    figure = Figure(figsize=(12, 4))
    axes = figure.subplots(1, 2, sharey=True)
    widths = np.diff(balanced.edges)
    for ax, counts, title in [(axes[0], balanced.counts_before, "before balancing"),
                              (axes[1], balanced.counts_after, "after balancing")]:
        ax.bar(balanced.edges[:-1], counts, width=widths, align="edge", edgecolor="black", linewidth=0.3)
        ax.axhline(balanced.cap, color="red", linestyle="--", linewidth=1, label=f"cap {balanced.cap} per bin")
        ax.set_title(f"{title}: {int(counts.sum())} samples (all cameras)")
        ax.set_xlabel("steering (normalised, + = right)")
        ax.legend()
    axes[0].set_ylabel("samples per bin")
    figure.tight_layout()
    return figure


def _augmentation_grid(train: pd.DataFrame, config: TrainConfig) -> Figure:
    rng = np.random.default_rng(config.seed)
    chosen = train.iloc[np.sort(rng.choice(len(train), size=min(len(train), GRID_ROWS * GRID_COLUMNS),
                                           replace=False))]
    frames = load_frames(chosen["image"].tolist())
    steering = chosen["steering"].to_numpy(dtype=np.float32)
    if config.augment:  # exactly as training augments: only the rows the model crops to
        shown, labels, draws = Augmenter(config, rows=(CROP_TOP, CROP_BOTTOM)).augment(frames, steering, config.seed)
        operations = [draws.describe(i) for i in range(len(shown))]
    else:
        shown, labels, operations = frames, steering, ["augmentation off"] * len(frames)
    figure = Figure(figsize=(4 * GRID_COLUMNS, 2.5 * GRID_ROWS))
    axes = figure.subplots(GRID_ROWS, GRID_COLUMNS, squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, frame, camera, before, after, done in zip(axes.ravel(), shown, chosen["camera"], steering, labels,
                                                       operations):
        ax.imshow(_dim_outside_crop(frame))
        for row in (CROP_TOP, CROP_BOTTOM):
            ax.axhline(row - 0.5, color="yellow", linewidth=0.8)
        ax.set_title(f"{camera}: steering {before:+.3f} → {after:+.3f}\n{done}", fontsize=8)
    figure.suptitle(f"training samples and what augmentation did to each (label before → after); the model sees "
                    f"rows {CROP_TOP}–{CROP_BOTTOM} (between the yellow lines), the rest is shown dimmed")
    figure.tight_layout()
    return figure


def _dim_outside_crop(frame: np.ndarray) -> np.ndarray:
    dimmed = frame.copy()
    for rows in (slice(0, CROP_TOP), slice(CROP_BOTTOM, None)):
        dimmed[rows] = (dimmed[rows] * OUTSIDE_CROP).astype(np.uint8)
    return dimmed


def _save(figure: Figure, path: Path) -> Path:
    return write_atomic(path, lambda temp: figure.savefig(temp, format="png", dpi=100))
