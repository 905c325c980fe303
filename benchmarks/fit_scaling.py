"""How the fit's time and memory grow with the data: the default fit on the three track-1 recordings, then on
the same recordings repeated two and four times, in one run.

    python -m benchmarks.fit_scaling                      # scales 1 2 4, the default fit (about 20 min idle)
    python -m benchmarks.fit_scaling --epochs 3 --scales 1 4

A repeat is a folder of its own (a copy of the log, its IMG/ a link to the recording's), so its frames are
other files to training: decoded, held and trained on again, as a user's longer recording would be. Each
fit is its own process; its wall time, CPU (user + system over wall: 200 % is both cores busy) and peak
resident memory come from the operating system (`wait4`). The ratios are against the 1× fit of the run.
"""
from __future__ import annotations

import argparse
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks import REALDATA, ROOT
from benchmarks.table import markdown

RECORDINGS = ("udacity_sample_part", "udacity_sample_late", "track1_windows")


def repeated(folder: Path, scale: int) -> list[Path]:
    """`scale` copies of each track-1 recording under `folder`: the log copied, everything else linked."""
    copies = []
    for name in RECORDINGS:
        source = REALDATA / name
        for i in range(scale):
            copy = folder / f"{name}_{i}"
            copy.mkdir(parents=True)
            for entry in source.iterdir():
                if entry.name == "driving_log.csv":
                    shutil.copy(entry, copy / entry.name)
                else:
                    (copy / entry.name).symlink_to(entry)
            copies.append(copy)
    return copies


def measure(data: list[Path], out: Path, fit_args: list[str]) -> dict[str, float]:
    """Wall seconds, CPU % and peak resident MB of one `training.fit` process."""
    command = [sys.executable, "-m", "training.fit", "--data", *map(str, data), "--seed", "0", "--out", str(out),
               *fit_args]
    print("$", shlex.join(command), flush=True)
    started = time.perf_counter()
    child = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - started
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode:
        raise RuntimeError(f"the fit exited with {child.returncode}: {shlex.join(command)}")
    cpu_s = usage.ru_utime + usage.ru_stime
    return {"wall_s": wall, "cpu_s": cpu_s, "cpu_percent": 100 * cpu_s / wall, "peak_mb": usage.ru_maxrss / 1024}


def run(scales: list[int], fit_args: list[str]) -> list[dict]:
    if not all((REALDATA / name / "driving_log.csv").is_file() for name in RECORDINGS):
        raise FileNotFoundError(f"the track-1 recordings are not all at {REALDATA}: this benchmark measures on them")
    results = {}
    with tempfile.TemporaryDirectory(prefix="fit-scaling-") as work:
        for scale in scales:
            data = repeated(Path(work) / f"data_{scale}", scale)
            results[scale] = measure(data, Path(work) / f"models_{scale}", fit_args)
            print(f"{scale}×: {results[scale]}", flush=True)
    first = results[scales[0]]
    rows = []
    for scale, got in results.items():  # ratio: this scale's figure over the first scale's (time and memory growth)
        rows += [{"metric": f"{scale}× the data: fit wall time", "value": got["wall_s"], "unit": "s",
                  "classic": first["wall_s"], "ratio": got["wall_s"] / first["wall_s"]},
                 # On a shared machine the wall time follows the share of the cores the fit got; its CPU time does not.
                 {"metric": f"{scale}× the data: fit CPU time (user + system)", "value": got["cpu_s"], "unit": "s",
                  "classic": first["cpu_s"], "ratio": got["cpu_s"] / first["cpu_s"]},
                 {"metric": f"{scale}× the data: CPU (200 % = both cores)", "value": got["cpu_percent"], "unit": "%"},
                 {"metric": f"{scale}× the data: peak resident memory", "value": got["peak_mb"], "unit": "MB",
                  "classic": first["peak_mb"], "ratio": got["peak_mb"] / first["peak_mb"]}]
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scales", type=int, nargs="+", default=[1, 2, 4], help="data sizes, the first the reference")
    parser.add_argument("--epochs", type=int, help="epochs of every fit (default: the fit's own default)")
    parser.add_argument("--fit-args", default="", help="more arguments for every fit, e.g. \"--memory-mb 4096\"")
    args = parser.parse_args()
    fit_args = shlex.split(args.fit_args) + (["--epochs", str(args.epochs)] if args.epochs else [])
    print(markdown(run(args.scales, fit_args), ours="this scale", classic=f"at {args.scales[0]}×"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
