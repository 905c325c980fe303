"""The simulator's cameras: pinhole geometry from simulator_config, fixed in the car frame.

Because a camera never moves relative to the car, everything per pixel that does not depend on
where the car is (the ray, where it meets the ground in car coordinates, how far that is) is
computed once here; the renderer only moves those ground points into the world each frame.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np

import simulator_config
from base.logformat import CAMERAS as CAMERA_NAMES  # the simulator's three cameras, in log column order


@dataclass(frozen=True)
class Camera:
    name: str
    position: tuple[float, float, float]  # car frame: x right, y up, z forward (metres)
    pitch_down_rad: float
    width: int
    height: int
    focal_px: float

    @classmethod
    def from_config(cls, name: str) -> Camera:
        if name not in CAMERA_NAMES:
            raise ValueError(f"unknown camera {name!r}: use one of {', '.join(CAMERA_NAMES)}")
        cams = simulator_config.load()["cameras"]
        width, height = simulator_config.image_size()
        focal = (height / 2) / math.tan(math.radians(cams["vertical_fov_deg"]) / 2)
        return cls(name, tuple(cams[name]), math.radians(cams["pitch_down_deg"]), width, height, focal)

    @property
    def horizon_row(self) -> float:
        """The image row (continuous) where the flat ground meets the sky."""
        return self.height / 2 - self.focal_px * math.tan(self.pitch_down_rad)

    @cached_property
    def rays(self) -> np.ndarray:
        """Per pixel (height, width, 3): the direction of its ray through the pixel centre, car frame."""
        u = (np.arange(self.width) + 0.5 - self.width / 2) / self.focal_px
        v = -(np.arange(self.height) + 0.5 - self.height / 2) / self.focal_px
        dx, dy = np.meshgrid(u, v)
        c, s = math.cos(self.pitch_down_rad), math.sin(self.pitch_down_rad)
        return np.stack([dx, dy * c - s, dy * s + c], axis=-1)

    @cached_property
    def ground(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per pixel: the car-frame ground point (x right, z forward) its ray hits, and the ray's
        length to it; inf where the ray points at or above the horizon."""
        rays = self.rays
        down = -rays[..., 1]
        with np.errstate(divide="ignore"):
            t = np.where(down > 1e-9, self.position[1] / np.maximum(down, 1e-9), np.inf)
        x = self.position[0] + t * rays[..., 0]
        z = self.position[2] + t * rays[..., 2]
        return x, z, t * np.linalg.norm(rays, axis=-1)

    def project(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Car-frame points (..., 3) → image column, row (continuous) and depth along the optical axis."""
        q = points - np.asarray(self.position)
        c, s = math.cos(self.pitch_down_rad), math.sin(self.pitch_down_rad)
        y_cam = q[..., 1] * c + q[..., 2] * s
        depth = -q[..., 1] * s + q[..., 2] * c
        with np.errstate(divide="ignore", invalid="ignore"):
            u = self.width / 2 + self.focal_px * q[..., 0] / depth
            v = self.height / 2 - self.focal_px * y_cam / depth
        return u, v, depth
