"""How far from a recorded camera is a synthesised view still evidence of where the road is?

The replay shows the model the view synthesised (`base.viewpoint`) from the nearest recorded camera,
moved sideways and turned to where the car is, under the flat-ground assumption. In the headless
simulator the true view of any pose can be rendered, so for every lateral distance from the camera
(0–3 m) and heading error (0–20°) the synthesised view is compared with the true one, on both tracks:

- pixels: mean absolute difference (0–255) over the rows the model crops to;
- the road's edges: where the road stops in the true view and in the synthesised one, read off road
  masks (the ground the pixel sees is within the road's half-width and no roadside object hides it)
  in the image rows that see the ground 4, 6, 8 and 10 m ahead (the road rule's range); an edge's
  error is the lateral distance (metres, on the ground) to the nearest edge in the other view, both
  ways, so a missing edge and a phantom one both count;
- the steering a trained model gives on the two views (`--model`; none: that column is left out).

A view is evidence of where the road is while, over heading errors up to 10° and on both tracks, its
edges 6–10 m ahead stay within what issue 40 asks of the road surface estimate itself (median ≤ 0.25 m,
95th percentile ≤ 0.6 m) and the model's steering on it is off (median) by less than its steering on
the true views changes when the car is 0.25 m further out. The study prints the largest distance up to
which every distance meets it; `replay.evidence_m` (simulator_config) is set from it (docs/replay.md).
The real check of the same claim: on the real recordings, one camera's view synthesised from another's
frame of the same row (0.81 m apart) against the recorded frame, in pixels and in the model's steering.

    python -m studies.view_evidence [--model RUN_OR_FILE] [--poses 32] [--png docs/view_evidence.png]
"""
from __future__ import annotations

import argparse
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Sequence

import cv2
import numpy as np
import pandas as pd

from base.atomic import write_bytes_atomic
from base.frames import CROP_BOTTOM, CROP_TOP, read_frame
from base.logs import read_recordings
from base.viewpoint import Shift, ViewSynthesizer
from benchmarks import REALDATA, ROOT
from benchmarks.viewpoint import crop_error
from evaluate.surface import SEEN_M, GroundGrid, line_edges, patch_colour, road_colours
from evaluate.surface import road_mask as surface_mask
from sim.pose import Pose
from sim.render import Renderer, shared_renderer
from sim.scenery import draw_objects
from sim.tracks import Track, load_track

TRACKS = ("lake", "mountain")
DISTANCES_M = tuple(np.round(np.arange(0.0, 3.01, 0.25), 2))
HEADINGS_DEG = (0, 5, 10, 15, 20)
AHEAD_M = (4.0, 6.0, 8.0, 10.0)  # where the edges are read: the road rule looks from the axle to ~10 m
# 4 m ahead the crop's corners reach only 3.5 m to either side of a camera: there the synthesised view
# shows the edges the recorded camera saw, wherever the car is; the criterion reads the rows beyond.
CRITERION_AHEAD_M = (6.0, 8.0, 10.0)
CRITERION_HEADINGS_DEG = (0, 5, 10)
STEP_M = 0.25
EDGE_MEDIAN_M, EDGE_P95_M = 0.25, 0.6  # issue 40's tolerance for the road surface estimate
NO_EDGE_M = 5.0  # the error of an edge whose row in the other view has none at all
REAL = ("udacity_sample_part", "track2_jungle", "track1_windows")
FIGURE_DISTANCES_M = (0.0, 1.0, 2.0, 3.0)
# Real footage: (source, target) — the centre view from a side frame (what the replay shows the model)
# and the other way round (a side camera's view from the centre frame).
REAL_PAIRS = (("left", "center"), ("right", "center"), ("center", "left"), ("center", "right"))


@dataclass(frozen=True)
class Case:
    """One synthesised view: the recorded camera it comes from, and where the car is relative to it."""

    source: str  # "left" or "right": the replay synthesises beyond ±0.41 m from the side camera on that side
    distance_m: float  # lateral distance of the synthesised centre camera from the source camera, outwards
    heading_deg: float  # turned right, positive

    @property
    def shift(self) -> Shift:
        side = 1.0 if self.source == "right" else -1.0
        yaw = math.radians(self.heading_deg)
        camera_x = SYNTH.sources[self.source].position[0] + side * self.distance_m
        # The centre camera sits cz ahead of the car's origin, so turning moves it sideways by cz·sin(yaw).
        return Shift(lateral_m=camera_x - SYNTH.target.position[2] * math.sin(yaw), yaw_rad=yaw)


Steer = Callable[[np.ndarray], np.ndarray]  # a model's batch prediction: frames (N, 160, 320, 3) -> steering (N,)
SYNTH = ViewSynthesizer(top=CROP_TOP)
CAMERAS = {"center": SYNTH.target, **SYNTH.sources}  # built once: each computes its per-pixel ground points


def cases() -> list[Case]:
    return [Case(source, d, sign * h) for d in DISTANCES_M for h in HEADINGS_DEG for source in ("left", "right")
            for sign in ((1,) if h == 0 else (1, -1))]


def moved(pose: Pose, shift: Shift) -> Pose:
    return Pose(*pose.to_world(shift.lateral_m, shift.forward_m), pose.heading - shift.yaw_rad)


def road_mask(renderer: Renderer, pose: Pose, camera: str, rows: slice | list[int] = slice(CROP_TOP, CROP_BOTTOM)) -> np.ndarray:
    """uint8 (H, W), 255 where the camera at `pose` sees the road's surface in `rows` (0 elsewhere): the
    flat ground point of the pixel lies within the road's half-width and no roadside object stands in
    front of it."""
    track: Track = renderer.track
    cam = CAMERAS[camera]
    gx, gz, _ = cam.ground
    x, z = gx[rows], gz[rows]
    seen = np.isfinite(x)
    (fx, fy), (rx, ry) = pose.forward(), pose.right()
    xy = np.stack([pose.x + np.where(seen, x * rx + z * fx, 0.0), pose.y + np.where(seen, x * ry + z * fy, 0.0)], -1)
    _, offset = track.locate_many(xy.reshape(-1, 2))
    on_road = seen & (np.abs(offset.reshape(x.shape)) <= track.half_width_m)
    objects = np.zeros((cam.height, cam.width, 3), np.uint8)  # objects drawn on black: any colour is an object
    draw_objects(objects, renderer.objects, cam, pose, renderer.view_m, renderer.haze)
    mask = np.zeros((cam.height, cam.width), np.uint8)
    mask[rows] = np.where(on_road & ~objects[rows].any(axis=2), 255, 0)
    return mask


def edge_rows() -> list[int]:
    """The centre camera's image rows that see the ground AHEAD_M ahead of the car (straight ahead)."""
    _, gz, _ = SYNTH.target.ground
    centre = gz[:, SYNTH.target.width // 2]
    return [int(np.nanargmin(np.abs(np.where(np.isfinite(centre), centre, np.inf) - a))) for a in AHEAD_M]


EDGE_ROWS = edge_rows()


def edge_errors(truth: np.ndarray, synthesised: np.ndarray) -> np.ndarray:
    """(n, 3): per edge (road/not-road change) in either view's rows EDGE_ROWS, the lateral distance on
    the ground (m) to the nearest edge of the same row in the other view, how far ahead the row looks
    (m) and where the edge is (m, right of the car)."""
    gx = SYNTH.target.ground[0]
    errors = [np.zeros((0, 3))]
    for row, ahead in zip(EDGE_ROWS, AHEAD_M):
        x = gx[row]
        # an edge lies between two columns: its ground position is their mean
        edges = [0.5 * (x[1:] + x[:-1])[np.flatnonzero(np.diff(m[row] > 127))] for m in (truth, synthesised)]
        for mine, other in (edges, edges[::-1]):
            if len(mine):
                error = np.abs(mine[:, None] - other[None, :]).min(axis=1) if len(other) else np.full(len(mine), NO_EDGE_M)
                errors.append(np.stack([error, np.full(len(mine), ahead), mine], axis=1))
    return np.concatenate(errors)


@dataclass
class Measured:
    """The comparisons of one track, per case (in `cases()` order), each a list over the poses."""

    cases: list[Case]
    pixels: list[list[float]]  # crop MAE of the synthesised view against the true one
    unmoved: list[list[float]]  # crop MAE of the source frame as recorded against the true view
    edges: list[list[np.ndarray]]  # `edge_errors`
    steer_true: list[list[float]]  # the model's steering on the true view (empty without a model)
    steer_synthesised: list[list[float]]  # ... on the synthesised view


def track_poses(track: Track, count: int) -> list[Pose]:
    return [Pose(*track.pose_at(s)) for s in np.linspace(0, track.length_m, count, endpoint=False)]


def measure_track(name: str, count: int, steer: Steer | None) -> Measured:
    """Every case at `count` poses spread along the track, the recorded car on the centre line."""
    track = load_track(name)
    renderer = shared_renderer(track)
    all_cases = cases()
    out = Measured(all_cases, *([[] for _ in all_cases] for _ in range(5)))
    for pose in track_poses(track, count):
        frames = {side: renderer.render(pose, side) for side in ("left", "right")}
        masks = {side: road_mask(renderer, pose, side) for side in ("left", "right")}
        truths, views = [], []
        for i, case in enumerate(all_cases):
            shift = case.shift
            where = moved(pose, shift)
            truth = renderer.render(where, "center")
            view = SYNTH.synthesize(frames, shift, case.source)
            mask = SYNTH.synthesize(masks, shift, case.source)
            out.pixels[i].append(crop_error(view, truth))
            out.unmoved[i].append(crop_error(frames[case.source], truth))
            out.edges[i].append(edge_errors(road_mask(renderer, where, "center", EDGE_ROWS), mask))
            truths.append(truth)
            views.append(view)
        if steer is not None:
            predicted = steer(np.stack(truths + views))
            for i in range(len(all_cases)):
                out.steer_true[i].append(float(predicted[i]))
                out.steer_synthesised[i].append(float(predicted[len(all_cases) + i]))
    return out


def pooled(measured: Measured, distance: float, headings: Sequence[float] = HEADINGS_DEG) -> dict[str, float]:
    """Figures over every case at `distance` and a heading error of ± `headings`, every pose. Edges: the rows
    CRITERION_AHEAD_M ahead (`edge_median`, `edge_p95`) and the nearest row (`near_shown`: the share of
    its edges within EDGE_MEDIAN_M). Steering: |synthesised − true| (`steer_median`, `steer_p95`) beside
    the change on the true views when the car is a step further out (`steer_step`, the next distance)."""
    index = {c: i for i, c in enumerate(measured.cases)}
    chosen = [i for i, c in enumerate(measured.cases)
              if c.distance_m == distance and abs(c.heading_deg) in headings]
    edges = np.concatenate([e for i in chosen for e in measured.edges[i]])
    far = edges[np.isin(edges[:, 1], CRITERION_AHEAD_M), 0]
    near = edges[edges[:, 1] == min(AHEAD_M), 0]
    figures = {"pixels": float(np.mean([v for i in chosen for v in measured.pixels[i]])),
               "unmoved": float(np.mean([v for i in chosen for v in measured.unmoved[i]])),
               "edge_median": float(np.median(far)), "edge_p95": float(np.percentile(far, 95)),
               "near_shown": float(np.mean(near <= EDGE_MEDIAN_M)) if len(near) else float("nan")}
    if measured.steer_true[0]:
        true, synthesised = (np.array([v for i in chosen for v in values[i]])
                             for values in (measured.steer_true, measured.steer_synthesised))
        figures["steer_median"] = float(np.median(np.abs(synthesised - true)))
        figures["steer_p95"] = float(np.percentile(np.abs(synthesised - true), 95))
        step = STEP_M if distance + STEP_M <= max(DISTANCES_M) else -STEP_M
        pairs = [(i, index[Case(measured.cases[i].source, round(distance + step, 2), measured.cases[i].heading_deg)])
                 for i in chosen]
        figures["steer_step"] = float(np.median([abs(a - b) for i, j in pairs
                                                 for a, b in zip(measured.steer_true[i], measured.steer_true[j])]))
    return figures


def is_evidence(figures: dict[str, float]) -> bool:
    """Edges where the true view has them, within the road surface estimate's own tolerance, and the
    model misled by the synthesis less than by a STEP_M move of the car (when there is a model)."""
    edges = figures["edge_median"] <= EDGE_MEDIAN_M and figures["edge_p95"] <= EDGE_P95_M
    return edges and figures.get("steer_median", 0.0) <= figures.get("steer_step", 0.0)


def evidence_m(results: dict[str, Measured]) -> float:
    """The largest distance up to which every distance meets the criterion over the heading errors
    CRITERION_HEADINGS_DEG, on every track (-1 when not even the recorded camera's own position does)."""
    reach = -1.0
    for d in DISTANCES_M:
        if not all(is_evidence(pooled(m, d, CRITERION_HEADINGS_DEG)) for m in results.values()):
            break
        reach = float(d)
    return reach


def figure(path: Path) -> None:
    """True (left) and synthesised (right) centre views at FIGURE_DISTANCES_M from the right camera, one
    pair of columns per track, with the true view's road edges drawn on both (magenta); below, real
    footage: the recorded centre frame and the one synthesised from the left camera's frame (0.81 m)."""
    rows = []
    for d in FIGURE_DISTANCES_M:
        row = []
        for name in TRACKS:
            track = load_track(name)
            renderer = shared_renderer(track)
            # Approaching the sharpest bend, where a view that no longer shows the road would matter most.
            bend = float(track.s[int(np.argmax(np.abs(track.curvature)))])
            pose = Pose(*track.pose_at(bend - 12.0))
            case = Case("right", d, 0.0)
            where = moved(pose, case.shift)
            view = SYNTH.synthesize({"right": renderer.render(pose, "right")}, case.shift, "right")
            edges = cv2.Canny(road_mask(renderer, where, "center"), 50, 150) > 0
            edges[:CROP_TOP + 1] = edges[CROP_BOTTOM - 1:] = False
            row += [labelled(renderer.render(where, "center"), f"{name} true, {d:g} m", edges),
                    labelled(view, f"{name} synthesised, {d:g} m", edges)]
        rows.append(np.hstack(row))
    real = real_pairs()
    if real:
        rows.append(np.hstack(real + [np.zeros_like(real[0])] * (rows[0].shape[1] // real[0].shape[1] - len(real))))
    ok, png = cv2.imencode(".png", cv2.cvtColor(np.vstack(rows), cv2.COLOR_RGB2BGR))
    if not ok:
        raise RuntimeError(f"could not encode {path}")
    write_bytes_atomic(path, png.tobytes())


def labelled(image: np.ndarray, label: str, edges: np.ndarray | None = None) -> np.ndarray:
    image = image.copy()
    if edges is not None:
        image[edges] = (255, 0, 255)
    cv2.putText(image, label, (6, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 255), 1, cv2.LINE_AA)
    return image


def real_pairs() -> list[np.ndarray]:
    """Per real recording at hand (track 1, jungle): a recorded centre frame from the middle of it, and
    the centre view synthesised from the left camera's frame of the same row."""
    pairs = []
    for folder in REAL[:2]:
        if not (REALDATA / folder).is_dir():
            continue
        table = read_recordings([REALDATA / folder])
        middle = table.iloc[len(table) // 2]
        truth, frame = read_frame(middle["center"]), read_frame(middle["left"])
        if truth is None or frame is None:
            continue
        pairs += [labelled(truth, f"{folder} recorded centre"),
                  labelled(SYNTH.synthesize({"left": frame}, Shift(), "left"), "synthesised from left, 0.81 m")]
    return pairs


def real_check(steer: Steer | None, every: int) -> list[dict]:
    """Real footage, every `every`-th row: the view of one recorded camera synthesised from another's frame
    of the same row (0.81 m away), against the recorded frame, in pixels, steering and (centre views) the
    road's edges as `evaluate.surface` reads them, beside the source frame as recorded ("unmoved") and,
    for the edges, beside two consecutive recorded centre frames (how far that reading varies anyway)."""
    rows = []
    for folder in REAL:
        if not (REALDATA / folder).is_dir():
            print(f"real check of {folder} skipped: no recording at {REALDATA / folder}", file=sys.stderr)
            continue
        table = read_recordings([REALDATA / folder])
        reading = RoadReading(table)
        sample = np.arange(0, len(table) - 1, every)
        for source, target in REAL_PAIRS:
            row = {"footage": folder, "view": f"{target} from {source}"} | real_pair(table.iloc[sample], source, target, steer)
            if target == "center":
                synth = ViewSynthesizer(sources=(source,), top=CROP_TOP)
                views = (synth.synthesize({source: read_frame(table[source].iloc[i])}, Shift(), source) for i in sample)
                row |= reading.compare(sample, views)
            rows.append(row)
        rows.append({"footage": folder, "view": "center, the next row's"}
                    | reading.compare(sample, (reading.frames[i + 1] for i in sample)))
    return rows


class RoadReading:
    """The road's edges in a recording's centre frames as `evaluate.surface` reads one frame (its
    bird's-eye colour segmentation, with the recording's road colours), to compare other views by."""

    def __init__(self, table: pd.DataFrame) -> None:
        self.grid = GroundGrid(["center"])
        self.frames = [read_frame(path) for path in table["center"]]
        self.labs = [self.grid.lab({"center": frame}) for frame in self.frames]
        self.roads = road_colours(np.stack([patch_colour(lab) for lab in self.labs]))
        self.lines = np.isin(SEEN_M, CRITERION_AHEAD_M)

    def compare(self, rows: Sequence[int], views: Iterable[np.ndarray]) -> dict[str, str]:
        """How far the edges 6–10 m ahead read off `views` (one per row) lie from the recorded frame's,
        where both see an edge; the share of edges only one of them sees."""
        off, unmatched = [], []
        for row, view in zip(rows, views):
            truth = line_edges(surface_mask(self.labs[row], self.roads[row]))
            other = line_edges(surface_mask(self.grid.lab({"center": view}), self.roads[row]))
            for side in (0, 1):
                censored = truth[2 + side][self.lines], other[2 + side][self.lines]
                both = ~censored[0] & ~censored[1]
                off += list(np.abs(truth[side] - other[side])[self.lines][both])
                unmatched += list(censored[0] != censored[1])
        return {"edges 6–10 m off: median / p95 (m)": f"{np.median(off):.2f} / {np.percentile(off, 95):.2f}",
                "edges seen in one only": f"{np.mean(unmatched):.0%}"}


def real_pair(table: pd.DataFrame, source: str, target: str, steer: Steer | None) -> dict:
    synth = ViewSynthesizer(target=target, sources=(source,), top=CROP_TOP)
    pixels, unmoved, frames = [], [], []
    for source_path, target_path in zip(table[source], table[target]):
        frame, truth = read_frame(source_path), read_frame(target_path)
        if truth is None or frame is None:
            continue
        view = synth.synthesize({source: frame}, Shift(), source)
        pixels.append(crop_error(view, truth))
        unmoved.append(crop_error(frame, truth))
        frames.append((truth, view, frame))
    row = {"frames": len(pixels), "pixels": f"{np.mean(pixels):.1f}", "pixels unmoved": f"{np.mean(unmoved):.1f}"}
    if steer is not None:
        true, synthesised, recorded = steer(np.stack([f for triple in zip(*frames) for f in triple])).reshape(3, -1)
        unmoved_off = float(np.median(np.abs(recorded - true)))
        apart = abs(synth.sources[source].position[0] - synth.target.position[0])
        # The source frame as recorded is the true view `apart` over: scaled, what a STEP_M move does.
        row |= {"steer off, median": f"{np.median(np.abs(synthesised - true)):.3f}",
                "steer off, p95": f"{np.percentile(np.abs(synthesised - true), 95):.2f}",
                "unmoved: steer off": f"{unmoved_off:.3f}", f"a {STEP_M} m step": f"{unmoved_off * STEP_M / apart:.3f}"}
    return row


def by_distance(results: dict[str, Measured]) -> list[dict]:
    """Per distance, over the criterion's heading errors: each figure as `lake / mountain`."""
    rows = []
    for d in DISTANCES_M:
        f = [pooled(m, d, CRITERION_HEADINGS_DEG) for m in results.values()]

        def both(key: str, fmt: str = "{:.2f}", f: list[dict] = f) -> str:
            return " / ".join(fmt.format(x[key]) for x in f)

        row = {"distance m": f"{d:g}", "pixels": both("pixels", "{:.1f}"), "pixels unmoved": both("unmoved", "{:.1f}"),
               "edges 6–10 m: median / p95 (worse track)": f"{max(x['edge_median'] for x in f):.2f} / "
                                                           f"{max(x['edge_p95'] for x in f):.2f}",
               "edges 4 m ahead shown": both("near_shown", "{:.0%}")}
        if "steer_median" in f[0]:
            row |= {"steer off, median": both("steer_median", "{:.3f}"), "steer off, p95": both("steer_p95"),
                    f"steer of a {STEP_M} m step": both("steer_step", "{:.3f}"),
                    "evidence": " / ".join("yes" if is_evidence(x) else "no" for x in f)}
        rows.append(row)
    return rows


def grid(results: dict[str, Measured], key: str, worse: Callable = max) -> list[dict]:
    """`key` per distance (rows) and heading error (columns): the worse of the tracks."""
    return [{"distance m": d} | {f"{h}°": worse(pooled(m, d, (h,))[key] for m in results.values()) for h in HEADINGS_DEG}
            for d in DISTANCES_M]


def table(rows: list[dict]) -> str:
    if not rows:
        return "(none)"
    head = list(rows[0])
    cell = lambda v: f"{v:.2f}" if isinstance(v, float) else str(v)  # noqa: E731
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    return "\n".join(lines + ["| " + " | ".join(cell(r.get(k, "")) for k in head) + " |" for r in rows])


def load_steer(model: str | None) -> Steer | None:
    """The model's batch prediction, or None (no steering figures) when there is no model to load."""
    path = Path(model) if model else ROOT / "models" / "latest"
    if model is None and not path.exists():
        print(f"no model at {path}: steering left out (pass --model RUN_OR_FILE)", file=sys.stderr)
        return None
    from base.runtime import load_runner

    return load_runner(path).predict


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="run folder or model file whose steering is compared (default: models/latest, "
                                        "left out when absent)")
    parser.add_argument("--poses", type=int, default=32, help="poses spread along each track (default 32)")
    parser.add_argument("--real-every", type=int, default=10, help="every how many rows of the real footage (default 10)")
    parser.add_argument("--png", type=Path, default=ROOT / "docs" / "view_evidence.png", help="where the figure goes")
    args = parser.parse_args()
    if args.poses < 1 or args.real_every < 1:
        parser.error("--poses and --real-every take a whole number ≥ 1")
    steer = load_steer(args.model)
    results = {name: measure_track(name, args.poses, steer) for name in TRACKS}
    print(f"## Headless simulator ({args.poses} poses a track, left and right; figures `lake / mountain`, over heading "
          f"errors 0, ±5, ±10°)\n")
    print(table(by_distance(results)) + "\n")
    print("Edge error, 95th percentile (m), the worse track:\n\n" + table(grid(results, "edge_p95")) + "\n")
    print("Edge error, median (m), the worse track:\n\n" + table(grid(results, "edge_median")) + "\n")
    if steer is not None:
        print("Steering |synthesised − true|, median, the worse track:\n\n" + table(grid(results, "steer_median")) + "\n")
        print(f"Steering change on the true views {STEP_M} m further out, median, the smaller track:\n\n"
              + table(grid(results, "steer_step", min)) + "\n")
    if steer is None:
        print("No model, so only the edges half of the criterion is checked:")
    print(f"The criterion holds up to {evidence_m(results):g} m in the headless simulator (over heading errors up to {max(CRITERION_HEADINGS_DEG)}°, on every "
          f"track: edges {', '.join(map('{:g}'.format, CRITERION_AHEAD_M))} m ahead within median {EDGE_MEDIAN_M} m "
          f"and 95th percentile {EDGE_P95_M} m; the model's steering off by less than a {STEP_M} m step changes it)\n")
    print("## Real footage: one recorded camera's view synthesised from another's frame of the same row\n")
    print(table(real_check(steer, args.real_every)) + "\n")
    figure(args.png)
    print(f"figure: {args.png}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
