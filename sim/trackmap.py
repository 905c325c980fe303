"""A drive on the track map: the road, its centre line, the path driven coloured by how far it was
off that line, and where the car had to be put back."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the backend is chosen first)
import numpy as np  # noqa: E402
from matplotlib.collections import LineCollection  # noqa: E402

from base.atomic import write_atomic  # noqa: E402
from sim.tracks import Track  # noqa: E402


def plot_drive(track: Track, path: list[tuple[float, float]], interventions: list[tuple[float, float, float]], report: dict, out: Path) -> None:
    """Write the map as a PNG to `out` (through a temporary file, so a failure leaves no half image)."""
    fig = drive_map(track, path, interventions, report)
    try:
        write_atomic(out, lambda temp: fig.savefig(temp, dpi=110, bbox_inches="tight", format="png"))
    finally:
        plt.close(fig)


def drive_map(track: Track, path: list[tuple[float, float]], interventions: list[tuple[float, float, float]],
              report: dict) -> plt.Figure:
    """The map as a figure (pyplot's: close it after use)."""
    fig, ax = plt.subplots(figsize=(8, 8))
    loop = np.vstack([track.points, track.points[:1]])
    normals = np.vstack([track.right_normals, track.right_normals[:1]])
    for side in (-1, 1):
        edge = loop + side * track.half_width_m * normals
        ax.plot(edge[:, 0], edge[:, 1], color="0.45", lw=0.8)
    if path:
        xy = np.asarray(path, dtype=float)
        # A segment per step, coloured by how far its start is off the centre line, dark on the line
        # (visible on white) to yellow at the road's edge; the NaN rows where the car was put back
        # leave gaps.
        _, offsets = track.locate_many(np.nan_to_num(xy))
        segments = np.stack([xy[:-1], xy[1:]], axis=1)
        keep = np.isfinite(segments).all(axis=(1, 2))
        driven = LineCollection(segments[keep], cmap="viridis", linewidths=1.6, zorder=2,
                                norm=plt.Normalize(0.0, track.half_width_m))
        driven.set_array(np.abs(offsets[:-1][keep]))
        ax.add_collection(driven)
        fig.colorbar(driven, ax=ax, shrink=0.6, extend="max",
                     label="path driven: distance from the centre line (m; top: the road's edge)")
    # Over the path, thin and mid-grey (seen on the dark path and on white): where the car should have
    # been stays visible wherever it drove.
    ax.plot(loop[:, 0], loop[:, 1], color="0.6", lw=0.6, ls=(0, (4, 3)), zorder=3, label="centre line")
    if interventions:
        xy = np.asarray(interventions)
        ax.plot(xy[:, 0], xy[:, 1], "x", color="k", ms=9, mew=2, zorder=4, label=f"interventions ({len(xy)})")
    ax.plot(*track.points[0], "o", color="k", zorder=4, label="start")
    ax.set_aspect("equal")
    ax.set_xlabel("x (m)")
    ax.set_ylabel("y (m)")
    laps = report["laps_completed"]
    ax.set_title(
        f"{track.name}: autonomy {report['autonomy_percent']:.1f} %, {laps} lap{'' if laps == 1 else 's'}, "
        f"{report['mean_speed_mph']:.1f} mph mean, |offset| {report['mean_abs_offset_m']:.2f} m mean"
    )
    ax.legend(loc="best", fontsize=8)
    return fig
