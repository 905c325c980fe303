"""A drive on the track map: the road, the path driven, and where the car had to be put back."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the backend is chosen first)
import numpy as np  # noqa: E402

from base.atomic import write_atomic  # noqa: E402
from sim.tracks import Track  # noqa: E402


def plot_drive(track: Track, path: list[tuple[float, float]], interventions: list[tuple[float, float, float]], report: dict, out: Path) -> None:
    """Write the map as a PNG to `out` (through a temporary file, so a failure leaves no half image)."""
    fig, ax = plt.subplots(figsize=(8, 8))
    loop = np.vstack([track.points, track.points[:1]])
    normals = np.vstack([track.right_normals, track.right_normals[:1]])
    for side in (-1, 1):
        edge = loop + side * track.half_width_m * normals
        ax.plot(edge[:, 0], edge[:, 1], color="0.45", lw=0.8)
    ax.plot(loop[:, 0], loop[:, 1], color="0.75", lw=0.6, ls="--", label="centre line")
    if path:
        xy = np.asarray(path)
        ax.plot(xy[:, 0], xy[:, 1], color="tab:blue", lw=1.0, label="driven")
    if interventions:
        xy = np.asarray(interventions)
        ax.plot(xy[:, 0], xy[:, 1], "x", color="tab:red", ms=9, mew=2, label=f"interventions ({len(xy)})")
    ax.plot(*track.points[0], "o", color="k", label="start")
    ax.set_aspect("equal")
    ax.set_xlabel("x (m)")
    ax.set_ylabel("y (m)")
    ax.set_title(
        f"{track.name}: autonomy {report['autonomy_percent']:.1f} %, {report['laps_completed']} laps, "
        f"{report['mean_speed_mph']:.1f} mph mean, |offset| {report['mean_abs_offset_m']:.2f} m mean"
    )
    ax.legend(loc="best", fontsize=8)
    try:
        write_atomic(out, lambda temp: fig.savefig(temp, dpi=110, bbox_inches="tight", format="png"))
    finally:
        plt.close(fig)
