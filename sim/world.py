"""The top-down picture of a track's flat world: road, markings, curbs, water, textured ground.

Built once per track as an RGB image of `texture_resolution_m` per texel plus its mipmap pyramid;
the renderer looks every ground pixel up in it. The textures are noise at several scales so that
the car's offset and motion are visible in the camera frames; every random draw comes from the
track's `texture_seed`, so a track always looks the same.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

import cv2
import numpy as np

import simulator_config
from sim.tracks import CURB_RADIUS_M, SAMPLE_SPACING_M, Track

log = logging.getLogger(__name__)

MARGIN_M = 40.0  # ground mapped around the track; beyond it the ground texture is mirrored
SHOULDER_M = 0.9  # dirt strip between the road (or its curb) and the ground
CURB_EXTEND_M = 8.0  # curbs start this far before a curve and end this far after it
MIN_LEVEL_PX = 8  # the pyramid stops when a level would be smaller than this


@dataclass(frozen=True)
class WorldMap:
    levels: list[np.ndarray]  # RGB uint8 images; level k has 2**k times coarser texels
    origin: tuple[float, float]  # world (x, y) of the corner of texel (0, 0)
    resolution_m: float  # texel size of level 0


def build_world_map(track: Track) -> WorldMap:
    res = float(simulator_config.load()["headless"]["texture_resolution_m"])
    lo = track.points.min(axis=0) - MARGIN_M
    hi = track.points.max(axis=0) + MARGIN_M
    width, height = (int(np.ceil(v)) for v in (hi - lo) / res)
    rng = np.random.default_rng(track.texture_seed)
    image = _ground(track, (height, width), res, rng)
    _water(track, image, lo, res, rng)
    _road(track, image, lo, res)
    levels = [image]
    while min(levels[-1].shape[:2]) >= 2 * MIN_LEVEL_PX:
        levels.append(cv2.pyrDown(levels[-1]))
    log.info("world map of %s: %dx%d texels of %.2f m, %d levels", track.name, width, height, res, len(levels))
    return WorldMap(levels, (float(lo[0]), float(lo[1])), res)


def _noise(shape: tuple[int, int], scale_px: float, rng: np.random.Generator) -> np.ndarray:
    """Smooth noise of unit-ish amplitude whose blobs are about `scale_px` texels across."""
    h, w = shape
    coarse = rng.standard_normal((int(h / scale_px) + 3, int(w / scale_px) + 3)).astype(np.float32)
    big = cv2.resize(coarse, (int(coarse.shape[1] * scale_px), int(coarse.shape[0] * scale_px)), interpolation=cv2.INTER_CUBIC)
    return big[:h, :w]


def _ground(track: Track, shape: tuple[int, int], res: float, rng: np.random.Generator) -> np.ndarray:
    mix = _noise(shape, 30 / res, rng)
    mix *= 0.35
    mix += 0.2 * _noise(shape, 6 / res, rng) + 0.5
    np.clip(mix, 0, 1, out=mix)
    light = _noise(shape, 1.5 / res, rng)
    light *= 0.10
    light += 1 + _grain(shape, rng)
    light[_noise(shape, 0.7 / res, rng) > 1.3] *= 0.72  # dark clumps: motion cues at every distance
    image = np.empty((*shape, 3), np.uint8)
    for c, (g, a) in enumerate(zip(track.colours["ground"], track.colours["ground_alt"])):
        channel = mix * (a - g)
        channel += g
        channel *= light
        image[..., c] = np.clip(channel, 0, 255)
    return image


def _grain(shape: tuple[int, int], rng: np.random.Generator, tile: int = 509) -> np.ndarray:
    """Texel-sized grain, tiled (its period is far below what the eye can pick out in it)."""
    h, w = shape
    pattern = 0.09 * rng.standard_normal((tile, tile), dtype=np.float32)
    return np.tile(pattern, (h // tile + 1, w // tile + 1))[:h, :w]


def _water(track: Track, image: np.ndarray, lo: np.ndarray, res: float, rng: np.random.Generator) -> None:
    if not track.water:
        return
    mask = np.zeros(image.shape[:2], np.uint8)
    for polygon in track.water:
        cv2.fillPoly(mask, [np.round((polygon - lo) / res * 16).astype(np.int32)], 255, cv2.LINE_AA, shift=4)
    blur = 1.5 / res
    alpha = cv2.GaussianBlur(mask, (0, 0), blur)
    rows, cols = np.nonzero(alpha)
    ripples = 1 + 0.06 * _noise(image.shape[:2], 2 / res, rng)[rows, cols, None]
    water = np.asarray(track.colours["water"], np.float32) * ripples
    image[rows, cols] = _blend(image[rows, cols].astype(np.float32), water, alpha[rows, cols, None] / np.float32(255))


def _coverage(inside_by_m: np.ndarray, res: float) -> np.ndarray:
    """Anti-aliased coverage of a texel whose centre lies `inside_by_m` inside an edge."""
    return np.clip(inside_by_m / res + 0.5, 0, 1)[:, None]


def _road(track: Track, image: np.ndarray, lo: np.ndarray, res: float) -> None:
    m = track.markings
    hw = track.half_width_m
    reach = hw + m.curb_width_m + SHOULDER_M + 2 * res
    band = np.zeros(image.shape[:2], np.uint8)
    line = np.round((np.vstack([track.points, track.points[:1]]) - lo) / res).astype(np.int32)
    cv2.polylines(band, [line], True, 255, thickness=int(2 * reach / res) + 3)
    rows, cols = np.nonzero(band)
    s, offset = _road_coordinates(track, rows, cols, lo, res)
    a = np.abs(offset)
    keep = a < reach
    rows, cols, s, a = rows[keep], cols[keep], s[keep], a[keep]
    base = image[rows, cols].astype(np.float32)
    texture = base.mean(axis=1, keepdims=True) / np.mean(track.colours["ground"])  # reuse the ground's grain

    shoulder = np.asarray(track.colours["shoulder"], np.float32) * texture
    curb_at_s = _curbed(track)[np.minimum((s / SAMPLE_SPACING_M).astype(int), len(track.points) - 1)]
    curb_edge = hw + np.where(curb_at_s, m.curb_width_m, 0.0)
    out = base
    _paint(out, shoulder, _coverage(curb_edge + SHOULDER_M - a, res))
    stripe = (np.floor(s / m.curb_stripe_m).astype(int) % 2)[:, None]
    curb = np.where(stripe == 0, np.asarray(m.curb_colours[0], np.float32), np.asarray(m.curb_colours[1], np.float32))
    _paint(out, curb * (0.85 + 0.15 * texture), _coverage(curb_edge - a, res) * curb_at_s[:, None])
    asphalt = np.asarray(track.colours["road"], np.float32) * (0.55 + 0.45 * texture)
    _paint(out, asphalt, _coverage(hw - a, res))
    outer = hw - m.edge_line_inset_m
    in_line = np.minimum(outer - a, a - (outer - m.edge_line_width_m))
    _paint(out, np.asarray(m.edge_line_colour, np.float32) * (0.9 + 0.1 * texture), _coverage(in_line, res))
    image[rows, cols] = np.clip(out, 0, 255)


def _blend(under: np.ndarray, over: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    return under * (1 - alpha) + over * alpha


def _paint(out: np.ndarray, colour: np.ndarray, alpha: np.ndarray) -> None:
    """Lay `colour` over `out` (both (n, 3)) with coverage `alpha` (n, 1), touching covered texels only."""
    full = alpha[:, 0] >= 1
    out[full] = colour[full]
    part = (alpha[:, 0] > 0) & ~full
    out[part] = _blend(out[part], colour[part], alpha[part])


def _road_coordinates(track: Track, rows: np.ndarray, cols: np.ndarray, lo: np.ndarray, res: float) -> tuple[np.ndarray, np.ndarray]:
    """Arc length and signed offset of texels: the nearest centre-line sample is looked up once per
    block of 4×4 texels, then refined per texel (far cheaper than a tree query per texel)."""
    coarse = 4
    width = cols.max() // coarse + 1
    unique, inverse = np.unique((rows // coarse) * width + cols // coarse, return_inverse=True)
    centres = np.stack([unique % width, unique // width], axis=1) * coarse + coarse / 2
    nearest = track.nearest_index(lo + centres * res)
    xy = np.stack([lo[0] + (cols + 0.5) * res, lo[1] + (rows + 0.5) * res], axis=1)
    return track.project(xy, nearest[inverse])


def _curbed(track: Track) -> np.ndarray:
    """Per centre-line sample: whether the road there has curbs."""
    mode = track.markings.curbs
    n = len(track.points)
    if mode != "curves":
        return np.full(n, mode == "always")
    tight = np.abs(track.curvature) > 1 / CURB_RADIUS_M
    reach = int(CURB_EXTEND_M / SAMPLE_SPACING_M)
    idx = (np.arange(n)[:, None] + np.arange(-reach, reach + 1)[None, :]) % n
    return tight[idx].any(axis=1)
