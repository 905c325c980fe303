"""Start-up: how long each command line takes to answer `--help` or to reject a bad argument or path.

Every command is run in a fresh interpreter, as a user runs it; the figure is the median wall time.
Goal: under 1 s each. The classic approach beside it is the same command with what its work needs
imported first, as scripts that import Keras (and the rest) at the top do, the course's drive.py
among them: this project imports those only once the arguments have passed their checks.

    python -m benchmarks.startup [--quick]
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks import ROOT
from benchmarks.table import markdown

GOAL_S = 1.0
KERAS = ("keras",)
DRIVE_SERVER = ("keras", "eventlet", "socketio")  # the course's drive.py imports these at the top
SIMULATOR = ("sim.render", "sim.trackmap", "sim.expert")
# (command line, what a classic script would import first); {missing} is a path that does not exist
COMMANDS: list[tuple[list[str], tuple[str, ...] | None]] = [
    (["drive.py", "--help"], DRIVE_SERVER),
    (["drive.py", "{missing}.keras"], DRIVE_SERVER),
    (["drive.py", "{missing}", "--port", "70000"], DRIVE_SERVER),
    (["-m", "training.fit", "--help"], KERAS),
    (["-m", "training.fit", "--epochs", "0"], KERAS),
    (["-m", "training.fit", "--data", "{missing}"], KERAS),
    (["-m", "training.rmse", "--help"], KERAS),
    (["-m", "training.rmse", "{missing}.keras", "data"], KERAS),
    (["-m", "training.export", "--help"], KERAS),
    (["-m", "training.inspect", "--help"], None),
    (["-m", "training.inspect", "{missing}"], None),
    (["-m", "sim.drive", "--help"], SIMULATOR),
    (["-m", "sim.drive", "--track", "nowhere"], SIMULATOR),
    (["-m", "sim.record", "--help"], SIMULATOR),
    (["-m", "drive.video", "--help"], None),
    (["-m", "benchmarks", "--help"], None),
]


def seconds(argv: list[str], runs: int) -> float:
    """Median wall time of `python *argv` from the repository root."""
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run([sys.executable, *argv], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def eagerly(argv: list[str], modules: tuple[str, ...]) -> list[str]:
    """`argv` run with `modules` imported first."""
    target, args = (argv[1], argv[2:]) if argv[0] == "-m" else (argv[0], argv[1:])
    runner = "runpy.run_path" if target.endswith(".py") else "runpy.run_module"
    code = (f"import base.quiet_tensorflow, runpy, sys; import {', '.join(modules)}; "
            f"sys.argv = {[target, *args]!r}; {runner}({target!r}, run_name='__main__')")
    return ["-c", code]


def run(quick: bool = False) -> list[dict]:
    ours_runs, classic_runs = (2, 1) if quick else (5, 3)
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        missing = str(Path(folder) / "missing")
        for argv, classic_imports in COMMANDS:
            argv = [arg.format(missing=missing) for arg in argv]
            ours = seconds(argv, ours_runs)
            classic = seconds(eagerly(argv, classic_imports), classic_runs) if classic_imports else None
            shown = " ".join(a.replace(missing, "MISSING") for a in argv).removeprefix("-m ")
            rows.append({"metric": shown, "value": round(ours, 2), "unit": "s",
                         "classic": round(classic, 2) if classic else None,
                         "ratio": classic / ours if classic else None})
    slowest = max(rows, key=lambda row: row["value"])
    rows.append({"metric": f"slowest of these: {slowest['metric']} (goal < {GOAL_S:g} s)",
                 "value": slowest["value"], "unit": "s"})
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer repetitions (noisier figures)")
    args = parser.parse_args()
    print(markdown(run(args.quick), ours="this project", classic="imports first"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
