"""Writes small simulator recordings (real JPEG frames + driving_log.csv) in any log style, for the data tests."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import cv2
import numpy as np

HEIGHT, WIDTH = 160, 320


def frame(seed: int) -> np.ndarray:
    """A smooth RGB frame (JPEG-friendly) whose content depends on `seed`: gradients plus a bright vertical bar."""
    x = np.linspace(0, 1, WIDTH)[None, :]
    y = np.linspace(0, 1, HEIGHT)[:, None]
    rgb = np.stack([60 + 120 * x + 0 * y, 40 + 100 * y + 0 * x, np.full((HEIGHT, WIDTH), 20.0 + 7 * (seed % 20))],
                   axis=-1)
    bar = 40 + (seed * 37) % 240
    rgb[:, bar:bar + 6] = 250
    return rgb.astype(np.uint8)


def write_recording(folder: Path, steering: Sequence[float], *, style: str = "absolute", header: bool = False,
                    sep: str = ",", newline: str = "\n", number_format: str = "{}") -> Path:
    """Write len(steering) rows into folder/driving_log.csv with frames in folder/IMG; returns the log path.

    style: "absolute" (POSIX paths to the files), "relative" (IMG/name), "windows" (C:\\...\\IMG\\name,
    which does not exist here), "bare" (name only), "elsewhere" (absolute POSIX paths of another machine).
    """
    image_dir = folder / "IMG"
    image_dir.mkdir(parents=True, exist_ok=True)
    lines = ["center,left,right,steering,throttle,brake,speed"] if header else []
    for i, value in enumerate(steering):
        paths = []
        for c, camera in enumerate(("center", "left", "right")):
            name = f"{camera}_2026_11_25_21_00_{i // 100:02d}_{i % 100:03d}.jpg"
            cv2.imwrite(str(image_dir / name), cv2.cvtColor(frame(3 * i + c), cv2.COLOR_RGB2BGR))
            paths.append({
                "absolute": str((image_dir / name).absolute()),
                "relative": f"IMG/{name}",
                "windows": f"C:\\Users\\driver\\My Recordings\\IMG\\{name}",
                "bare": name,
                "elsewhere": f"/home/someone/run 1/IMG/{name}",
            }[style])
        numbers = [number_format.format(v) for v in (value, 0.5, 0.0, 30.0 * i / max(1, len(steering)))]
        lines.append(sep.join(paths + numbers))
    log = folder / "driving_log.csv"
    log.write_text(newline.join(lines) + newline, encoding="utf-8", newline="")
    return log
