"""Camera frames of a track, laid out like the simulator's: sky, road and ground, objects, hood.

Each ground pixel's ray meets the flat ground at a point fixed in the car frame (`Camera.ground`);
per frame those points are moved to the world with the car's pose and looked up in the track's
top-down world map with `cv2.remap`, from the mipmap level that matches the pixel's footprint (so
far ground does not shimmer). The sky, distant hills, haze and the car's hood are precomputed per
camera. Nothing loops over pixels in Python.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

import simulator_config
from base.cameras import CAMERA_NAMES, Camera
from sim.pose import Pose
from sim.scenery import FOG_EXPONENT, Objects, draw_objects, place_objects
from sim.tracks import Track
from sim.world import WorldMap, build_world_map

HOOD_COLOUR = (176, 164, 146)
HILL_PROFILE_STEPS = 3600  # hill heights every 0.1° of azimuth


@dataclass(frozen=True)
class _Band:
    rows: slice  # rows of the ground part of the frame
    level: int  # mipmap level for those rows


class _View:
    """What is fixed for one camera: ground points, fog, mip bands, sky, hood."""

    def __init__(self, camera: Camera, track: Track, world: WorldMap, view_m: float) -> None:
        self.camera = camera
        self.first_ground_row = int(math.floor(camera.horizon_row - 0.5)) + 1
        gx, gz, dist = (a[self.first_ground_row :] for a in camera.ground)
        far = dist > view_m
        # Past the view distance the ground is pure haze; clamp so lookups stay finite.
        scale = np.where(far, view_m / np.where(np.isfinite(dist), dist, np.inf), 1.0)
        self.ground_x = (gx * np.nan_to_num(scale, nan=0.0)).astype(np.float32)
        self.ground_z = np.where(np.isfinite(gz), gz * scale, view_m).astype(np.float32)
        fog = np.minimum(1.0, np.where(far, 1.0, dist / view_m)) ** FOG_EXPONENT
        self.fog = np.repeat(fog.astype(np.float32)[..., None], 3, axis=2)
        self.clear = 1 - self.fog
        haze = np.asarray(track.colours["haze"], np.float32)
        self.haze_layer = (self.fog * haze).astype(np.float32)
        self.bands = self._mip_bands(world, len(world.levels))
        self.sky = self._sky(track)
        self.elevation, self.azimuth = self._angles()
        hill = np.asarray(track.colours["hills"], np.float32)
        self.hill_colour = hill * 0.7 + haze * 0.3
        self.hood_rows, self.hood_mask, self.hood = self._hood()

    def _mip_bands(self, world: WorldMap, n_levels: int) -> list[_Band]:
        x, z = self.ground_x.astype(np.float64), self.ground_z.astype(np.float64)
        across = np.hypot(np.diff(x, axis=1), np.diff(z, axis=1))[:, :-1][:-1]
        along = np.hypot(np.diff(x, axis=0), np.diff(z, axis=0))[:, :-1][:, :-1]
        footprint = np.median(np.sqrt(across * along), axis=1)
        footprint = np.append(footprint, footprint[-1])
        levels = np.clip(np.round(np.log2(np.maximum(footprint / world.resolution_m, 1e-9))), 0, n_levels - 1).astype(int)
        bands, start = [], 0
        for r in range(1, len(levels) + 1):
            if r == len(levels) or levels[r] != levels[start]:
                bands.append(_Band(slice(start, r), int(levels[start])))
                start = r
        return bands

    def _sky(self, track: Track) -> np.ndarray:
        rows = self.first_ground_row
        t = (np.arange(rows, dtype=np.float32) / max(rows - 1, 1))[:, None, None] ** 0.8
        top, horizon = (np.asarray(track.colours[k], np.float32) for k in ("sky_top", "sky_horizon"))
        return np.broadcast_to(top * (1 - t) + horizon * t, (rows, self.camera.width, 3)).astype(np.uint8)

    def _angles(self) -> tuple[np.ndarray, np.ndarray]:
        rays = self.camera.rays[: self.first_ground_row]
        elevation = np.degrees(np.arctan2(rays[..., 1], np.hypot(rays[..., 0], rays[..., 2])))
        azimuth = np.degrees(np.arctan2(rays[..., 0], rays[..., 2]))  # to the right of straight ahead
        return elevation.astype(np.float32), azimuth.astype(np.float32)

    def _hood(self) -> tuple[slice, np.ndarray, np.ndarray]:
        """The car's hood: its front edge is a curve in the car frame, projected with this camera."""
        cam = self.camera
        x = np.linspace(-1.0, 1.0, 41)
        edge = np.stack([x, 0.88 - 0.14 * x**2, 1.5 - 0.45 * x**2], axis=1)
        u, v, _ = cam.project(edge)
        outline = np.concatenate([np.stack([u, v], 1), [[u[-1], cam.height * 4], [u[0], cam.height * 4]]])
        mask = np.zeros((cam.height, cam.width), np.uint8)
        cv2.fillPoly(mask, [np.round(outline * 16).astype(np.int32)], 255, cv2.LINE_AA, 4)
        top = int(np.flatnonzero(mask.any(axis=1))[0])
        rows = np.arange(cam.height, dtype=np.float32)[:, None, None]
        shade = 1.08 - 0.25 * np.clip((rows - top) / max(cam.height - top, 1), 0, 1)
        hood = np.clip(np.asarray(HOOD_COLOUR, np.float32) * shade, 0, 255)
        hood = np.broadcast_to(hood, (cam.height, cam.width, 3))
        alpha = (mask.astype(np.float32) / 255)[top:, :, None]
        return slice(top, cam.height), alpha, hood[top:].astype(np.float32)


class Renderer:
    """Renders the simulator's camera frames of one track: `render(pose, camera)`."""

    def __init__(self, track: Track) -> None:
        self.track = track
        self.view_m = float(simulator_config.load()["headless"]["view_distance_m"])
        self.world = build_world_map(track)
        self.objects: Objects = place_objects(track)
        self.haze = np.asarray(track.colours["haze"], np.float32)
        rng = np.random.default_rng(track.texture_seed + 2)
        self.hills = _hill_profile(rng, track.hill_height_deg)
        self._views: dict[str, _View] = {}

    def view(self, camera: str) -> _View:
        if camera not in self._views:
            self._views[camera] = _View(Camera.from_config(camera), self.track, self.world, self.view_m)
        return self._views[camera]

    def render(self, pose: Pose, camera: str = "center") -> np.ndarray:
        """The frame `camera` ("center", "left" or "right") sees at `pose`: (160, 320, 3) uint8 RGB."""
        if camera not in CAMERA_NAMES:
            raise ValueError(f"unknown camera {camera!r}: use one of {', '.join(CAMERA_NAMES)}")
        v = self.view(camera)
        cam = v.camera
        frame = np.empty((cam.height, cam.width, 3), np.uint8)
        self._sky(frame, v, pose)
        self._ground(frame[v.first_ground_row :], v, pose)
        draw_objects(frame, self.objects, cam, pose, self.view_m, self.haze)
        hood = frame[v.hood_rows]
        hood[:] = (hood * (1 - v.hood_mask) + v.hood * v.hood_mask).astype(np.uint8)
        return frame

    def _sky(self, frame: np.ndarray, v: _View, pose: Pose) -> None:
        sky = frame[: v.first_ground_row]
        sky[:] = v.sky
        heading = math.degrees(pose.heading)
        # Azimuths to the right are clockwise, i.e. smaller mathematical angles.
        steps = np.round((heading - v.azimuth) * (HILL_PROFILE_STEPS / 360)).astype(np.int64) % HILL_PROFILE_STEPS
        hill = v.elevation < self.hills[steps]
        sky[hill] = v.hill_colour.astype(np.uint8)

    def _ground(self, out: np.ndarray, v: _View, pose: Pose) -> None:
        world = self.world
        (fx, fy), (rx, ry) = pose.forward(), pose.right()
        inv = 1 / world.resolution_m
        # Texel coordinates (level 0) of each pixel's ground point; +0.5 puts texel centres on integers.
        map_x = v.ground_x * np.float32(rx * inv) + v.ground_z * np.float32(fx * inv) + np.float32((pose.x - world.origin[0]) * inv)
        map_y = v.ground_x * np.float32(ry * inv) + v.ground_z * np.float32(fy * inv) + np.float32((pose.y - world.origin[1]) * inv)
        for band in v.bands:
            k = np.float32(2.0**-band.level)
            cv2.remap(
                world.levels[band.level],
                map_x[band.rows] * k - np.float32(0.5),
                map_y[band.rows] * k - np.float32(0.5),
                cv2.INTER_LINEAR,
                dst=out[band.rows],
                borderMode=cv2.BORDER_REFLECT_101,
            )
        out[:] = (out * v.clear + v.haze_layer).astype(np.uint8)


@lru_cache(maxsize=2)
def shared_renderer(track: Track) -> Renderer:
    """One renderer per track per process: building the world map takes a second or two."""
    return Renderer(track)


def _hill_profile(rng: np.random.Generator, height_deg: float) -> np.ndarray:
    """Height (degrees above the horizon) of the distant hills, every 0.1° of world azimuth."""
    a = np.linspace(0, 2 * np.pi, HILL_PROFILE_STEPS, endpoint=False)
    profile = np.zeros_like(a)
    for k, weight in ((2, 1.0), (5, 0.6), (11, 0.35), (23, 0.2), (47, 0.1)):
        profile += weight * np.sin(k * a + rng.uniform(0, 2 * np.pi))
    profile = (profile - profile.min()) / (profile.max() - profile.min())
    return (0.15 + profile * height_deg).astype(np.float32)
