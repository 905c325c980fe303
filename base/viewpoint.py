"""Views from where the car is not: a recorded camera frame re-projected to a moved and turned car.

NVIDIA's DAVE-2 assumption (arXiv 1604.07316): what lies below the horizon is flat ground, what lies
above it is infinitely far. Under it a frame from one recorded camera shows what a camera at another
pose of the same height and pitch would see. Flat ground seen from one camera and from another is a
homography, and so is the sky; a pixel's ray is on the ground or in the sky by its row alone (turning
the car about its vertical axis keeps it there), so a view is one `cv2.warpPerspective` for the rows
below the horizon and one for those above, each a 3×3 matrix made per view. The hood rows (from
CROP_BOTTOM down) are part of the car, so they keep their recorded pixels; where only the model will
look, only the rows it crops to need synthesising (all below the horizon). The replay
(`evaluate.replay`) and training's on-policy states share this one definition.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping, Sequence

import cv2
import numpy as np

from base.cameras import CAMERA_NAMES, Camera
from base.frames import CROP_BOTTOM, CROP_TOP

HOOD_TOP = CROP_BOTTOM  # the first row of the car's own hood: the crop stops above it for that reason


@dataclass(frozen=True)
class Shift:
    """Where the synthesised car is, in the frame of the recorded car (metres, radians)."""

    lateral_m: float = 0.0  # to the right
    yaw_rad: float = 0.0  # turned right (clockwise seen from above)
    forward_m: float = 0.0


class ViewSynthesizer:
    """Synthesises what the `target` camera of a shifted car sees from one of the recorded cameras."""

    def __init__(self, target: str = "center", sources: Sequence[str] = CAMERA_NAMES, top: int = 0) -> None:
        """`top`: synthesise rows `top` to the hood only; the rows above keep the source frame's pixels.
        The model crops to rows CROP_TOP–CROP_BOTTOM, so it sees the same whether `top` is 0 or CROP_TOP."""
        if not 0 <= top < HOOD_TOP:
            raise ValueError(f"top is {top}: use a row in [0, {HOOD_TOP})")
        self.top = top
        self.target = Camera.from_config(target)
        self.sources = {name: Camera.from_config(name) for name in sources}
        if not self.sources:
            raise ValueError("no source cameras: pass at least one of " + ", ".join(CAMERA_NAMES))
        # A pixel's ray climbs or falls with its row alone: the rows above the first ground row see the sky.
        ground = np.flatnonzero(self.target.rays[:HOOD_TOP, 0, 1] < -1e-9)
        self.ground_top = int(ground[0]) if len(ground) else HOOD_TOP
        # Bands of rows, each warped by one homography (first, last row + 1, sky). OpenCV computes a pixel's source
        # in float32 from its place in the band, so the model's rows are always a band of their own: its view
        # is the same to the bit whatever `top` is.
        edges = sorted({top, HOOD_TOP} | {row for row in (self.ground_top, CROP_TOP) if top < row < HOOD_TOP})
        self.bands = [(first, last, last <= self.ground_top) for first, last in zip(edges[:-1], edges[1:])]
        self._ray_rows: dict[int, tuple[tuple[float, ...], ...]] = {}
        self._pitch = {name: (math.cos(cam.pitch_down_rad), math.sin(cam.pitch_down_rad)) for name, cam in self.sources.items()}

    def nearest_source(self, shift: Shift, available: Sequence[str] | None = None) -> str:
        """The recorded camera (of `available`, default all sources) closest sideways to the synthesised one."""
        x, _ = self.target_position(shift)
        names = [name for name in (available or self.sources) if name in self.sources]
        return min(names, key=lambda name: abs(self.sources[name].position[0] - x))

    def target_position(self, shift: Shift) -> tuple[float, float]:
        """(x right, z forward) of the synthesised camera in the recorded car's frame."""
        cx, _, cz = self.target.position
        c, s = math.cos(shift.yaw_rad), math.sin(shift.yaw_rad)
        return shift.lateral_m + cx * c + cz * s, shift.forward_m - cx * s + cz * c

    def homography(self, shift: Shift, source: str, first: int, sky: bool = False) -> np.ndarray:
        """3×3 (float64): pixel (column, row − `first`) of the shifted view → homogeneous pixel (column, row,
        depth) of the `source` frame, pixel centres at integers, for rows that see the ground (`sky`: the sky).
        Written out in floats: a view's own matrix costs a few microseconds, not NumPy's call per 3×3."""
        src = self.sources[source]
        (xj, xi, x1), (yj, yi, y1), (zj, zi, z1) = self._rays(first)
        c, s = math.cos(shift.yaw_rad), math.sin(shift.yaw_rad)
        # Turned with the car (turned right, it looks further right); the vertical part never turns.
        xj, xi, x1, zj, zi, z1 = c * xj + s * zj, c * xi + s * zi, c * x1 + s * z1, c * zj - s * xj, c * zi - s * xi, c * z1 - s * x1
        if not sky:
            # The ground point the ray meets, relative to the source camera, times -ray_y / camera height
            # (homogeneous): the turned ray plus the cameras' offset times that factor. The sky is infinitely
            # far: the direction alone.
            tx, tz = self.target_position(shift)
            height = self.target.position[1]
            kj, ki, k1 = -yj / height, -yi / height, -y1 / height
            dx, dy, dz = tx - src.position[0], height - src.position[1], tz - src.position[2]
            xj, xi, x1 = xj + dx * kj, xi + dx * ki, x1 + dx * k1
            yj, yi, y1 = yj + dy * kj, yi + dy * ki, y1 + dy * k1
            zj, zi, z1 = zj + dz * kj, zi + dz * ki, z1 + dz * k1
        pc, ps = self._pitch[source]
        dj, di, d1 = pc * zj - ps * yj, pc * zi - ps * yi, pc * z1 - ps * y1  # depth along the source's axis
        uj, ui, u1 = pc * yj + ps * zj, pc * yi + ps * zi, pc * y1 + ps * z1  # up in the source's image
        f, cx, cy = src.focal_px, src.width / 2 - 0.5, src.height / 2 - 0.5
        return np.array([[f * xj + cx * dj, f * xi + cx * di, f * x1 + cx * d1],
                         [cy * dj - f * uj, cy * di - f * ui, cy * d1 - f * u1], [dj, di, d1]])

    def _rays(self, first: int) -> tuple[tuple[float, ...], ...]:
        """The target camera's ray (x, y, z rows; car frame, as Camera.rays has it) of pixel (column j, row
        first + i), linear in (j, i, 1): three rows of three coefficients."""
        if first not in self._ray_rows:
            cam = self.target
            c, s, f = math.cos(cam.pitch_down_rad), math.sin(cam.pitch_down_rad), cam.focal_px
            pixel = np.array([[1 / f, 0, (0.5 - cam.width / 2) / f], [0, -1 / f, -(first + 0.5 - cam.height / 2) / f],
                              [0, 0, 1]])
            rays = np.array([[1, 0, 0], [0, c, -s], [0, s, c]]) @ pixel
            self._ray_rows[first] = tuple(tuple(float(v) for v in row) for row in rays)
        return self._ray_rows[first]

    def synthesize(self, frames: Mapping[str, np.ndarray], shift: Shift, source: str | None = None,
                   out: np.ndarray | None = None) -> np.ndarray:
        """The view of the shifted car, from `frames[source]` (default: the nearest camera in `frames`).

        `frames` maps camera names to uint8 RGB frames (H, W, 3) taken at the recorded pose.
        """
        source = source or self.nearest_source(shift, list(frames))
        frame = frames[source]
        if out is None:
            out = np.empty_like(frame)
        for first, last, sky in self.bands:
            _warp(frame, self.homography(shift, source, first, sky), out[first:last])
        out[:self.top] = frame[:self.top]
        out[HOOD_TOP:] = frame[HOOD_TOP:]
        return out


def _warp(frame: np.ndarray, homography: np.ndarray, out: np.ndarray) -> None:
    """`out` (rows of the view) sampled bilinearly from `frame` where `homography` puts each of its pixels.

    Edge pixels are repeated where the view turns past the recorded frame: a black wedge would tell a
    network how far it is turned without looking at the road. A point behind the source camera (a car
    turned some 50° or more) lands off the frame, at its edge, as if at a depth of 1e-6.
    """
    height, width = out.shape[:2]
    across, down, depth = homography[2].tolist()  # the depth is linear in the pixel: least at a corner
    if min(depth, depth + across * (width - 1), depth + down * (height - 1),
           depth + across * (width - 1) + down * (height - 1)) > 1e-6:
        # One homography for the band: OpenCV computes each pixel's source and samples it bilinearly, with no
        # per-pixel maps made here (against cv2.remap of float32 maps computed per view: 1 level apart in about
        # 0.014 % of the values, none further; measured in docs/replay.md).
        cv2.warpPerspective(frame, homography, (width, height), dst=out, flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                            borderMode=cv2.BORDER_REPLICATE)
        return
    # Off the frame on the side the point lies: the principal point plus the projection, its depth held at 1e-6
    # (the homography's depth, like its columns and rows, is the true one times a positive factor), clipped to
    # just off the frame (OpenCV's conversion of far larger coordinates can wrap to the other side).
    centre_x, centre_y = (frame.shape[1] - 1) / 2, (frame.shape[0] - 1) / 2
    cols, rows = np.meshgrid(np.arange(width, dtype=np.float64), np.arange(height, dtype=np.float64))
    x, y, depth = (homography @ np.stack([cols.ravel(), rows.ravel(), np.ones(cols.size)])).reshape(3, height, width)
    held = np.maximum(depth, 1e-6)
    map_x = centre_x + (x - centre_x * depth) / held
    map_y = centre_y + (y - centre_y * depth) / held
    map_x = np.clip(map_x, -1, frame.shape[1]).astype(np.float32)
    map_y = np.clip(map_y, -1, frame.shape[0]).astype(np.float32)
    cv2.remap(frame, map_x, map_y, cv2.INTER_LINEAR, dst=out,
              borderMode=cv2.BORDER_REPLICATE)
