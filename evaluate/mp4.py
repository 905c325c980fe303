"""Videos that show how a model drives: the one MP4 writer, and the frames drawn for it.

`VideoFile` is the project's one video writer (the headless simulator's drive, the replay, and
recorded runs all write through it); it can draw each frame first, e.g. a model's saliency
(`evaluate.saliency`, VisualBackProp). `ReplayVideo` draws the views the replay showed the model with
its offset and both steering values (and, under the road rule, the estimated road edges and the tyres); `make_video` turns a recorded run (IMG/center_*.jpg, as the
simulator or `drive.py MODEL IMAGE_FOLDER` writes it) into a video, with the steering sent for each
frame (`python -m drive.video --overlay`) or a model's saliency and steering (`--saliency`).
"""
from __future__ import annotations

import logging
import math
from pathlib import Path, PureWindowsPath
from typing import TYPE_CHECKING, Callable

import cv2
import numpy as np

from base.atomic import PendingFile
from base.viewpoint import Shift

if TYPE_CHECKING:  # ONNX Runtime loads only for a video with saliency
    from base.runners import Runner
    from evaluate.replay import Trace
    from evaluate.road_rule import Footprint
    from evaluate.saliency import Saliency
    from evaluate.surface import Surface

log = logging.getLogger(__name__)

REPLAY_SCALE = 2  # the replay's 320×160 views drawn at twice their size, so the numbers on them stay legible
REPLAY_FPS = 10.0


class VideoError(ValueError):
    """The video cannot be made; the message says what to do."""


class VideoFile:
    """An MP4 written under a temporary name beside `path` and moved into place on `close()`.

    Frames are RGB; `draw`, where given, is applied to each frame before it is written.
    """

    def __init__(self, path: Path, fps: float, size: tuple[int, int],
                 draw: Callable[[np.ndarray], np.ndarray] | None = None) -> None:
        self.path = path
        self.draw = draw
        self._file = PendingFile(path)
        self.writer = cv2.VideoWriter(str(self._file.temp), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
        if not self.writer.isOpened():
            raise OSError(f"cannot write video {path}: check that its folder exists and is writable")

    def add(self, rgb: np.ndarray) -> None:
        if self.draw:
            rgb = self.draw(rgb)
        self.writer.write(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))

    def close(self) -> None:
        self.writer.release()
        self._file.commit()

    def discard(self) -> None:
        self.writer.release()
        self._file.discard()


def saliency_drawer(model: str | Path) -> Callable[[np.ndarray], np.ndarray]:
    """RGB frame → the frame with `model`'s saliency drawn over it; ModelLoadError or SaliencyError (ValueErrors) first."""
    from evaluate.saliency import load_saliency, overlay

    saliency = load_saliency(model)
    return lambda frame: overlay(frame, saliency(frame)[1])


def video_saliency(runner: Runner) -> Saliency | None:
    """The saliency of the model a runner drives, for a video; None, saying why, for a model without an ONNX form."""
    from evaluate.saliency import SaliencyError, saliency_for

    try:
        return saliency_for(runner)
    except SaliencyError as e:
        log.warning("%s; the video shows no saliency", e)
        return None


class ReplayVideo:
    """The views the replay showed the model, with its saliency, its offset and both steering values drawn on."""

    def __init__(self, path: Path, saliency: Saliency | None = None, surface: Surface | None = None) -> None:
        """`surface`: the drivable surface the road rule judges by; its edges and the car's tyres are drawn too."""
        self.file = VideoFile(Path(path), fps=REPLAY_FPS, size=(320 * REPLAY_SCALE, 160 * REPLAY_SCALE))
        self.saliency = saliency
        self.surface = surface
        if surface is not None:
            from evaluate.road_rule import Footprint

            self.footprint = Footprint.from_config()

    def add(self, view: np.ndarray, trace: Trace) -> None:
        if self.saliency:
            from evaluate.saliency import overlay

            view = overlay(view, self.saliency(view)[1])
        if self.surface is not None and trace.views:
            shown = trace.views[-1]  # the row and the car's shift from it that this view was synthesised for
            frame = draw_surface(view, self.surface, shown.row, self.footprint, REPLAY_SCALE, shown.shift)
        else:
            frame = cv2.resize(view, None, fx=REPLAY_SCALE, fy=REPLAY_SCALE, interpolation=cv2.INTER_NEAREST)
        offset, model, human = trace.offsets_m[-1], trace.steering[-1], trace.recorded[-1]
        colour = (255, 60, 60) if trace.intervened[-1] else (255, 255, 255)
        lines = [f"offset {offset:+.2f} m  heading {trace.headings_deg[-1]:+.1f} deg",
                 f"model {model:+.3f}   human {human:+.3f}",
                 f"interventions {sum(trace.intervened)}"]
        for i, text in enumerate(lines):
            cv2.putText(frame, text, (10, 24 + 24 * i), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (0, 0, 0), 3, cv2.LINE_AA)
            cv2.putText(frame, text, (10, 24 + 24 * i), cv2.FONT_HERSHEY_SIMPLEX, 0.6, colour, 1, cv2.LINE_AA)
        # Steering bars along the bottom: the human's in grey, the model's in blue.
        centre, half, y = frame.shape[1] // 2, frame.shape[1] // 2 - 10, frame.shape[0] - 14
        for value, tint, dy in ((human, (200, 200, 200), 0), (model, (60, 140, 255), 7)):
            cv2.line(frame, (centre, y + dy), (centre + int(value * half), y + dy), tint, 5)
        self.file.add(frame)

    def close(self) -> None:
        self.file.close()

    def discard(self) -> None:
        self.file.discard()


def frame_paths(folder: Path) -> list[Path]:
    from base.logs import IMAGE_DIR

    paths = sorted((folder / IMAGE_DIR).glob("center_*.jpg"))
    if not paths:
        raise VideoError(f"no center_*.jpg frames in {folder / IMAGE_DIR}: pass a folder recorded with "
                         "`python drive.py MODEL IMAGE_FOLDER` or by the simulator")
    return paths


def logged_commands(folder: Path) -> dict[str, tuple[float, float, float]]:
    """Image file name → (steering, throttle − brake, speed) from the folder's driving_log.csv."""
    from base.logs import LOG_NAME, LogError, read_log

    log_path = folder / LOG_NAME
    if not log_path.is_file():
        raise VideoError(f"--overlay needs {log_path}, which does not exist: leave out --overlay")
    try:
        rows = read_log(log_path).rows
    except LogError as e:
        raise VideoError(f"{e} (or leave out --overlay)") from None
    # Windows paths parse with either separator; the file name is what IMG/ holds.
    return {PureWindowsPath(center).name: (steering, throttle - brake, speed)
            for center, steering, throttle, brake, speed
            in rows[["center", "steering", "throttle", "brake", "speed"]].itertuples(index=False)}


def draw_overlay(frame: np.ndarray, steering: float, throttle: float, speed: float) -> np.ndarray:
    """The frame (RGB) with a steering needle from the bottom centre and the numbers as text."""
    height, width = frame.shape[:2]
    base = (width // 2, height - 5)
    angle = steering * math.radians(60)  # full lock drawn as 60° off vertical, clearly visible
    length = height * 0.45
    tip = (int(base[0] + length * math.sin(angle)), int(base[1] - length * math.cos(angle)))
    cv2.line(frame, base, tip, (255, 255, 0), 2, cv2.LINE_AA)
    cv2.putText(frame, f"steer {steering:+.3f}  thr {throttle:+.2f}  {speed:4.1f} mph", (5, 14),
                cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 255, 255), 1, cv2.LINE_AA)
    return frame


def draw_saliency(frame: np.ndarray, saliency: Saliency) -> np.ndarray:
    """The frame (RGB) with the model's saliency drawn over it and the steering the model gives for it."""
    from evaluate.saliency import overlay

    steering, mask = saliency(frame)
    frame = overlay(frame, mask)
    cv2.putText(frame, f"model {steering:+.3f}", (5, frame.shape[0] - 8), cv2.FONT_HERSHEY_SIMPLEX, 0.4,
                (255, 255, 255), 1, cv2.LINE_AA)
    return frame


def make_video(folder: Path, out: Path, fps: float = 60.0, overlay: bool = False,
               saliency: Saliency | None = None) -> int:
    """Write `out` (mp4v) from the folder's frames; returns the number of frames written."""
    from tqdm import tqdm

    from base.frames import FRAME_SHAPE

    paths = frame_paths(folder)
    commands = logged_commands(folder) if overlay else {}
    first = cv2.imread(str(paths[0]), cv2.IMREAD_COLOR_RGB)
    if first is None:
        raise VideoError(f"cannot read {paths[0]}: is it a JPEG?")
    height, width = first.shape[:2]
    if saliency and first.shape != FRAME_SHAPE:
        raise VideoError(f"{paths[0]} is {width}×{height}; --saliency needs the simulator's "
                         f"{FRAME_SHAPE[1]}×{FRAME_SHAPE[0]} frames")
    try:
        video = VideoFile(out, fps, (width, height))
    except OSError as e:
        raise VideoError(str(e)) from None
    written = 0
    try:
        for path in tqdm(paths, desc="video", unit="frame"):
            frame = cv2.imread(str(path), cv2.IMREAD_COLOR_RGB)
            if frame is None or frame.shape[:2] != (height, width):
                continue  # a damaged or odd-sized frame is skipped rather than ending the video
            if saliency:
                frame = draw_saliency(frame, saliency)
            if path.name in commands:
                frame = draw_overlay(frame, *commands[path.name])
            video.add(frame)
            written += 1
    except BaseException:
        video.discard()
        raise
    video.close()
    return written


EDGE_COLOURS = ((80, 255, 80), (255, 200, 0))  # an edge the estimate is sure of (confidence ≥ 0.5), and one it is not
TYRE_OFF, TYRE_OFF_UNSEEN = (255, 60, 60), (255, 140, 0)  # a tyre past an edge some frame saw, and past one none saw


def draw_surface(frame: np.ndarray, surface: Surface, row: int, footprint: Footprint, scale: int = 1,
                 shift: Shift | None = None) -> np.ndarray:
    """The centre camera's `frame` (RGB, scaled by `scale`) with the drivable surface's edges estimated for
    `row` and the car's four tyres drawn on, for a car `shift`ed from that row's recorded pose (the
    replay's synthesised view) or at it. A tyre is drawn red when it is off the surface, white when on."""
    from base.cameras import Camera

    camera = Camera.from_config("center")
    shift = shift or Shift()
    out = cv2.resize(frame, None, fx=scale, fy=scale, interpolation=cv2.INTER_NEAREST) if scale != 1 else frame.copy()
    c, s = math.cos(shift.yaw_rad), math.sin(shift.yaw_rad)
    z = surface.stations_m
    for edge in (surface.left_m[row], surface.right_m[row]):
        dx, dz = edge - shift.lateral_m, z - shift.forward_m  # into the shifted car's frame
        points = np.stack([dx * c - dz * s, np.zeros_like(z), dx * s + dz * c], axis=1)
        u, v, depth = camera.project(points)
        for k in range(len(z) - 1):
            if not (np.isfinite(u[k:k + 2]).all() and (depth[k:k + 2] > 0.5).all()):
                continue
            colour = EDGE_COLOURS[0] if surface.confidence[row, k] >= 0.5 else EDGE_COLOURS[1]
            cv2.line(out, (int(u[k] * scale), int(v[k] * scale)), (int(u[k + 1] * scale), int(v[k + 1] * scale)),
                     colour, max(1, scale), cv2.LINE_AA)
    per_tyre, confidence = footprint.tyre_margins(surface, np.array([row]), np.array([shift.forward_m]),
                                                  np.array([shift.lateral_m]), np.array([shift.yaw_rad]))
    _draw_tyres(out, footprint, per_tyre[0], confidence[0] > 0, scale)
    return out


def _draw_tyres(out: np.ndarray, footprint: Footprint, margins: np.ndarray, seen: np.ndarray, scale: int) -> None:
    """The tyres as a plan seen from above in the bottom corner (the hood hides them from the camera),
    each with its distance to the edge: red when off past an edge some frame saw, orange when past one
    no frame saw (which proves nothing: the road rule puts the car back uncharged)."""
    height = out.shape[0]
    unit = 14 * scale  # pixels a metre
    origin = (int(out.shape[1] - 3.2 * unit), int(height - 0.6 * unit - 2.0 * unit))
    for (x, z), margin, edge_seen in zip(footprint.tyres, margins, seen):
        centre = (int(origin[0] + x * unit), int(origin[1] - z * unit))
        colour = (255, 255, 255) if margin >= 0 else TYRE_OFF if edge_seen else TYRE_OFF_UNSEEN
        cv2.rectangle(out, (centre[0] - 3 * scale, centre[1] - 5 * scale), (centre[0] + 3 * scale, centre[1] + 5 * scale), colour, -1)
        cv2.putText(out, f"{margin:+.1f}", (centre[0] + (6 if x > 0 else -34) * scale // 2, centre[1] + 4),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.35 * scale / 2 + 0.15, colour, 1, cv2.LINE_AA)
