"""Closed-loop scores of a trained model: the drive server steers the headless simulator.

    python -m studies.closed_loop [MODEL] [--quick]

`lake` is the track the demo trains on, `mountain` one it never saw. The figures are the report
of `sim.drive` (autonomy as NVIDIA scored it, mean speed, offsets from the centre line).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from benchmarks.table import markdown
from sim.demo import DRIVES, score_model


def run(model: Path, quick: bool = False) -> list[dict]:
    if not model.exists():
        print(f"closed loop skipped: no model at {model} (train one with `python -m sim.demo`)", file=sys.stderr)
        return []
    drives = [(track, min(laps, 0.5)) for track, laps in DRIVES] if quick else DRIVES
    rows = []
    for track, report in score_model(model, drives).items():
        laps = dict(drives)[track]
        rows += [
            {"metric": f"{track}: autonomy over {laps:g} laps", "value": round(report["autonomy_percent"], 1), "unit": "%"},
            {"metric": f"{track}: interventions", "value": report["interventions"], "unit": "count"},
            {"metric": f"{track}: mean speed", "value": round(report["mean_speed_mph"], 1), "unit": "mph"},
            {"metric": f"{track}: mean abs offset from centre line", "value": round(report["mean_abs_offset_m"], 2), "unit": "m"},
        ]
    return rows


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", type=Path, nargs="?", default=Path("models/latest"))
    parser.add_argument("--quick", action="store_true", help="half a lap of each track")
    args = parser.parse_args()
    print(markdown(run(args.model, args.quick)))
