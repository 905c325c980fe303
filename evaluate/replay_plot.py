"""The replay's plot, a replay over time: the offset from the recorded path with the interventions, and the steering."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the backend is chosen first)
import numpy as np  # noqa: E402

from base.atomic import write_atomic  # noqa: E402
from evaluate.replay import Trace  # noqa: E402


def plot_replay(model: Trace, zero: Trace, report: dict, max_offset_m: float | None, title: str, out: Path) -> None:
    """Write the PNG to `out` (through a temporary file, so a failure leaves no half image); `max_offset_m`:
    the line rule's limit, drawn (None under a rule without one)."""
    # Driven time, steps end to end: the recorded clock jumps at gaps, standstills, crashes and between recordings.
    t = np.cumsum(model.step_s)
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(12, 6.5), sharex=True, gridspec_kw={"height_ratios": [3, 2]})
    top.plot(t, zero.offsets_m, color="0.7", lw=0.7, label=f"zero steering ({sum(zero.intervened)} interventions)")
    top.plot(t, model.offsets_m, color="tab:blue", lw=1.0, label=f"model ({sum(model.intervened)} interventions)")
    hit = np.flatnonzero(model.intervened)
    top.plot(t[hit], np.asarray(model.offsets_m)[hit], "x", color="tab:red", ms=7, mew=2, label="intervention")
    for side in (-1, 1) if max_offset_m else ():
        top.axhline(side * max_offset_m, color="tab:red", lw=0.6, ls="--")
    top.set_ylabel("offset from recorded path (m, right +)")
    top.legend(loc="upper right", fontsize=8)
    top.set_title(f"{title}: autonomy {report['autonomy_percent']:.1f} %, "
                  f"{report['interventions_per_min']:.1f} interventions/min, |offset| {report['mean_abs_offset_m']:.2f} m mean")
    bottom.plot(t, model.recorded, color="0.4", lw=0.8, label="recorded (human)")
    bottom.plot(t, model.steering, color="tab:blue", lw=0.9, label="model")
    bottom.set_ylabel("steering (−1..1)")
    bottom.set_xlabel("driven time (s)")
    bottom.legend(loc="upper right", fontsize=8)
    try:
        write_atomic(out, lambda temp: fig.savefig(temp, dpi=100, bbox_inches="tight", format="png"))
    finally:
        plt.close(fig)
