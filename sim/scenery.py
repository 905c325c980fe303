"""Roadside objects (trees, bushes, rocks): placed once per track, drawn as flat billboards.

Each object is a few convex polygons standing upright on the ground, facing the car; they are
projected with the camera's own geometry and drawn far to near, so near ones hide far ones.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import shapely

from base.cameras import Camera
from sim.pose import Pose
from sim.tracks import Track

# Shapes in units of the object's (width, height): x across, y up; every polygon convex.
_ELLIPSE = [(0.5 * np.cos(a), 0.5 + 0.5 * np.sin(a)) for a in np.linspace(0, 2 * np.pi, 14, endpoint=False)]
_DOME = [(0.5 * np.cos(a), np.sin(a)) for a in np.linspace(0, np.pi, 9)]
# (polygon, which colour: 0 = the object's colour, 1 = its trunk colour, 2 = the colour lightened)
SHAPES: dict[str, list[tuple[list[tuple[float, float]], int]]] = {
    "tree": [
        ([(-0.06, 0.0), (0.06, 0.0), (0.06, 0.3), (-0.06, 0.3)], 1),
        ([(-0.5, 0.2), (0.5, 0.2), (0.0, 0.75)], 0),
        ([(-0.36, 0.48), (0.36, 0.48), (0.0, 1.0)], 2),
    ],
    "bush": [(_ELLIPSE, 0)],
    "rock": [(_DOME, 0)],
}
NEAREST_M = 1.5  # objects closer to the camera than this are not drawn (they would fill the frame)
# Haze grows as (distance / view)^FOG_EXPONENT; the renderer fades the ground by the same law, so
# objects and the road beneath them fade alike.
FOG_EXPONENT = 1.5
SUBPIXEL_BITS = 4  # cv2 drawing with fractional coordinates, so objects move smoothly


@dataclass(frozen=True)
class Objects:
    kinds: list[str]
    positions: np.ndarray  # (n, 2) world x, y
    sizes: np.ndarray  # (n, 2) width, height in metres
    colours: np.ndarray  # (n, 3, 3) RGB per colour slot (see SHAPES)


def place_objects(track: Track) -> Objects:
    """Scatter each scenery group beside the road, off the road and out of the water."""
    rng = np.random.default_rng(track.texture_seed + 1)
    water = [shapely.Polygon(p) for p in track.water]
    kinds: list[str] = []
    positions, sizes, colours = [], [], []
    for group in track.objects:
        n = group.count * 3
        s = rng.uniform(0, track.length_m, n)
        side = rng.choice([-1.0, 1.0], n)
        distance = rng.uniform(*group.distance_m, n)
        idx = np.array([track.index_at(v) for v in s])
        normal = track.right_normals[idx]
        xy = track.points[idx] + normal * (side * distance)[:, None]
        _, offset = track.locate_many(xy)
        ok = np.abs(offset) >= group.distance_m[0] - 0.01  # not beside another stretch of road
        for polygon in water:
            ok &= ~shapely.contains_xy(polygon, xy[:, 0], xy[:, 1])
        chosen = np.flatnonzero(ok)[: group.count]
        m = len(chosen)
        shade = rng.uniform(0.8, 1.15, (m, 1))
        base = np.asarray(group.colour, float) * shade
        trunk = np.asarray(group.trunk_colour or group.colour, float) * shade
        colours.append(np.clip(np.stack([base, trunk, base * 1.18], axis=1), 0, 255))
        sizes.append(np.stack([rng.uniform(*group.width_m, m), rng.uniform(*group.height_m, m)], axis=1))
        positions.append(xy[chosen])
        kinds += [group.kind] * m
    if not kinds:
        return Objects([], np.zeros((0, 2)), np.zeros((0, 2)), np.zeros((0, 3, 3)))
    return Objects(kinds, np.vstack(positions), np.vstack(sizes), np.vstack(colours))


def draw_objects(frame: np.ndarray, objects: Objects, camera: Camera, pose: Pose, view_m: float, haze: np.ndarray) -> None:
    """Draw the objects the camera sees onto `frame` (RGB), fading into `haze` with distance."""
    if not objects.kinds:
        return
    (fx, fy), (rx, ry) = pose.forward(), pose.right()
    rel = objects.positions - (pose.x, pose.y)
    x_car = rel[:, 0] * rx + rel[:, 1] * ry
    z_car = rel[:, 0] * fx + rel[:, 1] * fy
    depth = z_car - camera.position[2]
    half_fov = camera.width / 2 / camera.focal_px
    visible = (depth > NEAREST_M) & (depth < view_m)
    visible &= np.abs(x_car - camera.position[0]) < depth * half_fov + objects.sizes[:, 0]
    order = np.flatnonzero(visible)[np.argsort(-depth[visible])]
    if not len(order):
        return
    fog = (np.minimum(1.0, depth[order] / view_m) ** FOG_EXPONENT)[:, None, None]
    colours = objects.colours[order] * (1 - fog) + haze * fog
    # Project every polygon of every visible object in one go per kind, then draw far to near.
    polygons: list[list[tuple[np.ndarray, np.ndarray]]] = [[] for _ in order]
    kinds = np.asarray(objects.kinds)[order]
    for kind, shapes in SHAPES.items():
        rows = np.flatnonzero(kinds == kind)
        if not len(rows):
            continue
        idx = order[rows]
        for polygon, slot in shapes:
            shape = np.asarray(polygon)
            width, height = objects.sizes[idx, :1], objects.sizes[idx, 1:]
            pts = np.stack(np.broadcast_arrays(x_car[idx, None] + shape[:, 0] * width, shape[:, 1] * height, z_car[idx, None]), axis=-1)
            u, v, _ = camera.project(pts)
            projected = np.round(np.stack([u, v], axis=-1) * (1 << SUBPIXEL_BITS)).astype(np.int32)
            for r, poly in zip(rows, projected):
                polygons[r].append((poly, colours[r, slot]))
    for shapes_of_one in polygons:
        for poly, colour in shapes_of_one:
            cv2.fillConvexPoly(frame, poly, colour.tolist(), cv2.LINE_AA, SUBPIXEL_BITS)
