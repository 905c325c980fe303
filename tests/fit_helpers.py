"""Tiny recordings and run arguments shared by the training tests (fit, evaluate, export, strategy)."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from base.frames import FRAME_SHAPE

HEIGHT, WIDTH, _ = FRAME_SHAPE


def road_frame(offset: float, rng: np.random.Generator) -> np.ndarray:
    """A real-looking RGB frame: sky, grass, a grey road whose far end sits `offset` (−1..1) off centre."""
    frame = np.zeros(FRAME_SHAPE, dtype=np.uint8)
    frame[:60] = np.linspace([120, 170, 235], [200, 220, 245], 60, dtype=np.uint8)[:, None, :]  # sky
    frame[60:] = (70, 120, 50)  # grass
    far_x = WIDTH / 2 + offset * WIDTH / 3
    road = np.array([[far_x - 20, 60], [far_x + 20, 60], [WIDTH - 10, HEIGHT], [10, HEIGHT]], dtype=np.int32)
    cv2.fillPoly(frame, [road], (110, 110, 110))
    cv2.line(frame, (int(far_x), 60), (WIDTH // 2, HEIGHT), (240, 240, 240), 2)
    noise = rng.normal(0, 6, FRAME_SHAPE)
    return np.clip(frame + noise, 0, 255).astype(np.uint8)


def write_log(folder: Path, rows: int = 40, seed: int = 0, missing_images: bool = False) -> Path:
    """A recording as the simulator writes it on Linux: absolute paths, no header, plain commas."""
    rng = np.random.default_rng(seed)
    images = folder / "IMG"
    images.mkdir(parents=True, exist_ok=True)
    steering = 0.5 * np.sin(np.linspace(0, 4 * np.pi, rows))
    lines = []
    for i, steer in enumerate(steering):
        names = [images / f"{camera}_2026_01_01_00_00_{i // 15:02d}_{i % 15 * 66:03d}.jpg"
                 for camera in ("center", "left", "right")]
        if not missing_images:
            for name, shift in zip(names, (0.0, -0.3, 0.3)):
                bgr = cv2.cvtColor(road_frame(steer + shift, rng), cv2.COLOR_RGB2BGR)
                cv2.imwrite(str(name), bgr)
        lines.append(",".join(str(n) for n in names) + f",{steer:.4f},0.5,0,20.0\n")
    log = folder / "driving_log.csv"
    log.write_text("".join(lines))
    return log


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
