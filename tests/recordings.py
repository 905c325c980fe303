"""Small simulator recordings for the tests: real JPEG frames and a driving_log.csv in any style found in the wild.

`write_recording` is the one log writer of the tests. It is written here on purpose, not through
`base.logformat`: the reader's tests must not pass just because writer and reader share a mistake.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import cv2
import numpy as np

from base.frames import FRAME_SHAPE

HEIGHT, WIDTH, _ = FRAME_SHAPE
CAMERAS = ("center", "left", "right")
HZ = 15  # rows per second, as the simulator samples


def image_name(camera: str, row: int) -> str:
    """The simulator's name for the frame of `row`: 15 rows a second from 2026-01-01 00:00:00."""
    ms = round(row * 1000 / HZ)
    return f"{camera}_2026_01_01_00_{ms // 60_000:02d}_{ms // 1000 % 60:02d}_{ms % 1000:03d}.jpg"


def frame(seed: int) -> np.ndarray:
    """A smooth RGB frame (JPEG-friendly) whose content depends on `seed`: gradients plus a bright vertical bar."""
    x = np.linspace(0, 1, WIDTH)[None, :]
    y = np.linspace(0, 1, HEIGHT)[:, None]
    rgb = np.stack([60 + 120 * x + 0 * y, 40 + 100 * y + 0 * x, np.full((HEIGHT, WIDTH), 20.0 + 7 * (seed % 20))],
                   axis=-1)
    bar = 40 + (seed * 37) % 240
    rgb[:, bar:bar + 6] = 250
    return rgb.astype(np.uint8)


def road_frame(offset: float, rng: np.random.Generator) -> np.ndarray:
    """A real-looking RGB frame: sky, grass, a grey road whose far end sits `offset` (−1..1) off centre."""
    image = np.zeros(FRAME_SHAPE, dtype=np.uint8)
    image[:60] = np.linspace([120, 170, 235], [200, 220, 245], 60, dtype=np.uint8)[:, None, :]  # sky
    image[60:] = (70, 120, 50)  # grass
    far_x = WIDTH / 2 + offset * WIDTH / 3
    road = np.array([[far_x - 20, 60], [far_x + 20, 60], [WIDTH - 10, HEIGHT], [10, HEIGHT]], dtype=np.int32)
    cv2.fillPoly(image, [road], (110, 110, 110))
    cv2.line(image, (int(far_x), 60), (WIDTH // 2, HEIGHT), (240, 240, 240), 2)
    noise = rng.normal(0, 6, FRAME_SHAPE)
    return np.clip(image + noise, 0, 255).astype(np.uint8)


def write_recording(folder: Path, steering: Sequence[float], *, style: str = "absolute", header: bool = False,
                    sep: str = ",", newline: str = "\n", number_format: str = "{}",
                    speed: float | None = None, draw: Callable[[int, int], np.ndarray] | None = None,
                    missing_images: bool = False) -> Path:
    """Write len(steering) rows into folder/driving_log.csv with frames in folder/IMG; returns the log path.

    style: "absolute" (POSIX paths to the files), "relative" (IMG/name), "windows" (C:\\...\\IMG\\name,
    which does not exist here), "bare" (name only), "elsewhere" (absolute POSIX paths of another machine).
    speed: mph on every row (default: rising from 0 to 30). draw(row, camera index): the RGB frame
    (default: `frame`). missing_images: the log lists frames that were never written.
    """
    image_dir = folder / "IMG"
    image_dir.mkdir(parents=True, exist_ok=True)
    draw = draw or (lambda row, camera: frame(3 * row + camera))
    lines = [",".join(CAMERAS + ("steering", "throttle", "brake", "speed"))] if header else []
    for i, value in enumerate(steering):
        paths = []
        for c, camera in enumerate(CAMERAS):
            name = image_name(camera, i)
            if not missing_images:
                cv2.imwrite(str(image_dir / name), cv2.cvtColor(draw(i, c), cv2.COLOR_RGB2BGR))
            paths.append({
                "absolute": str((image_dir / name).absolute()),
                "relative": f"IMG/{name}",
                "windows": f"C:\\Users\\driver\\My Recordings\\IMG\\{name}",
                "bare": name,
                "elsewhere": f"/home/someone/run 1/IMG/{name}",
            }[style])
        mph = 30.0 * i / max(1, len(steering)) if speed is None else speed
        numbers = [number_format.format(v) for v in (value, 0.5, 0.0, mph)]
        lines.append(sep.join(paths + numbers))
    log = folder / "driving_log.csv"
    log.write_text(newline.join(lines) + newline, encoding="utf-8", newline="")
    return log


def write_log(folder: Path, rows: int = 40, seed: int = 0, missing_images: bool = False) -> Path:
    """The training tests' recording: a road that bends with the steering (a sine), seen from the three
    cameras (the side ones shifted), at 20 mph; the simulator's style on Linux."""
    rng = np.random.default_rng(seed)
    steering = (0.5 * np.sin(np.linspace(0, 4 * np.pi, rows))).round(4)
    shifts = (0.0, -0.3, 0.3)
    return write_recording(folder, steering.tolist(), speed=20.0, missing_images=missing_images,
                           draw=lambda row, camera: road_frame(steering[row] + shifts[camera], rng))
