"""Views from where the car is not: a recorded camera frame re-projected to a moved and turned car.

NVIDIA's DAVE-2 assumption (arXiv 1604.07316): what lies below the horizon is flat ground, what lies
above it is infinitely far. Under it a frame from one recorded camera shows what a camera at another
pose of the same height and pitch would see, and one `cv2.remap` makes it. The rays of the target
camera are fixed in the car frame and turning the car about its vertical axis keeps them on or off
the ground, so per view only a rotation, a scaled translation and a projection remain — all
vectorised. The hood rows (from CROP_BOTTOM down) are part of the car, so they keep their recorded
pixels; where only the model will look, only the rows it crops to need synthesising. The replay (`evaluate.replay`) and training's viewpoint augmentation share this one definition.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping, Sequence

import cv2
import numpy as np

from base.cameras import CAMERA_NAMES, Camera
from base.frames import CROP_BOTTOM

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
        cam = self.target
        rays = cam.rays[top:HOOD_TOP]
        on_ground = rays[..., 1] < -1e-9
        # A ground pixel sees the point (camera + t·ray) with t fixed in the car frame; a sky pixel
        # sees the direction alone, which the same formula gives with no translation and t = 1. The
        # vertical part never rotates. float32 keeps map errors far below a pixel at half the cost.
        reach = np.where(on_ground, cam.position[1] / np.where(on_ground, -rays[..., 1], 1.0), 1.0)
        self._reach_x = (reach * rays[..., 0]).astype(np.float32)
        self._reach_z = (reach * rays[..., 2]).astype(np.float32)
        self._reach_y = (reach * rays[..., 1]).astype(np.float32)
        self._translates = on_ground.astype(np.float32)

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

    def maps(self, shift: Shift, source: str) -> tuple[np.ndarray, np.ndarray]:
        """cv2.remap maps (rows `top` to the hood × width, float32): where in the `source` frame each
        pixel of the shifted view is."""
        src = self.sources[source]
        tx, tz = self.target_position(shift)
        sx, sy, sz = src.position
        c, s = math.cos(shift.yaw_rad), math.sin(shift.yaw_rad)
        pc, ps = math.cos(src.pitch_down_rad), math.sin(src.pitch_down_rad)
        # The point each pixel sees, relative to the source camera, in the recorded car's frame (a car
        # turned right looks further right), then projected by the source camera: only the depth
        # along its axis and the two image coordinates are needed, so the rotation by the pitch is
        # folded into the coefficients.
        qx = self._reach_x * np.float32(c) + self._reach_z * np.float32(s)
        qz = self._reach_z * np.float32(c) - self._reach_x * np.float32(s)
        qx += self._translates * np.float32(tx - sx)
        qz += self._translates * np.float32(tz - sz)
        qy = self._reach_y + self._translates * np.float32(self.target.position[1] - sy)
        depth = qz * np.float32(pc) - qy * np.float32(ps)
        np.maximum(depth, np.float32(1e-6), out=depth)  # points behind the source camera land off-frame
        focal = np.float32(src.focal_px) / depth
        # Pixel i spans [i, i+1) in the projection; remap addresses pixel centres at integers.
        map_x = qx * focal
        map_x += np.float32(src.width / 2 - 0.5)
        up = qy * np.float32(pc) + qz * np.float32(ps)
        map_y = np.float32(src.height / 2 - 0.5) - up * focal
        return map_x, map_y

    def synthesize(self, frames: Mapping[str, np.ndarray], shift: Shift, source: str | None = None,
                   out: np.ndarray | None = None) -> np.ndarray:
        """The view of the shifted car, from `frames[source]` (default: the nearest camera in `frames`).

        `frames` maps camera names to uint8 RGB frames (H, W, 3) taken at the recorded pose.
        """
        source = source or self.nearest_source(shift, list(frames))
        frame = frames[source]
        if out is None:
            out = np.empty_like(frame)
        map_x, map_y = self.maps(shift, source)
        # Edge pixels repeated where the view turns past the recorded frame: a black wedge would tell
        # a network how far it is turned without looking at the road.
        cv2.remap(frame, map_x, map_y, cv2.INTER_LINEAR, dst=out[self.top:HOOD_TOP], borderMode=cv2.BORDER_REPLICATE)
        out[:self.top] = frame[:self.top]
        out[HOOD_TOP:] = frame[HOOD_TOP:]
        return out
