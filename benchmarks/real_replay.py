"""Train on the real recordings, then drive the held-out footage closed-loop: replay scores over seeds.

    python -m benchmarks.real_replay [--data-dir DIR]         # the default recipe, seeds 0 1 2 (~15 min on 2 cores)
    python -m benchmarks.real_replay --fit-args "--epochs 6" --seeds 0 1

For each seed `python -m training.fit` trains on the two track-1 recordings of ../shared/realdata
(the seed also picks the held-out blocks); the model is then replayed (`sim.replay`'s loop) on the
blocks it held out and on `track2_jungle` (another track, never trained on), under NVIDIA's 1 m rule
and a 2 m rule, beside zero steering and the recorded human. Offline steering RMSE on the same
frames is reported beside it, never instead of it. Figures: mean over seeds and the range.
"""
from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np

from base.atomic import write_json_atomic
from base.logs import read_recordings
from base.replay import Footage, ModelPolicy, RecordedSteering, Rules, ZeroSteering, replay
from base.split import held_out_rows
from benchmarks import REALDATA, ROOT

TRAIN = ["udacity_sample_part", "track1_windows"]
UNSEEN = "track2_jungle"
RULES = (1.0, 2.0)


def train(seed: int, out: Path, fit_args: list[str], folder: Path = REALDATA) -> Path:
    data = [str(folder / name) for name in TRAIN]
    cmd = [sys.executable, "-m", "training.fit", "--data", *data, "--seed", str(seed), "--out", str(out), *fit_args]
    print("$", shlex.join(cmd), flush=True)
    subprocess.run(cmd, check=True, cwd=ROOT)
    return (out / "latest").resolve()


def offline_rmse(runner, rows) -> float:
    import cv2

    from base.frames import FRAME_SHAPE

    predicted = []
    for path in rows["center"]:
        frame = cv2.imread(path, cv2.IMREAD_COLOR_RGB)
        assert frame.shape == FRAME_SHAPE
        predicted.append(runner.predict_one(frame))
    return float(np.sqrt(np.mean((np.asarray(predicted) - rows["steering"].to_numpy(dtype=float)) ** 2)))


def measure(run: Path, folder: Path = REALDATA) -> dict:
    from base.runtime import load_runner

    runner = load_runner(run)
    sets = {"held-out track 1": held_out_rows(run), "jungle (unseen)": read_recordings([folder / UNSEEN])}
    result = {}
    for name, rows in sets.items():
        footage = Footage.from_rows(rows)
        entry = {"frames": len(rows), "rmse": offline_rmse(runner, rows),
                 "zero_rmse": float(np.sqrt(np.mean(rows["steering"].to_numpy(dtype=float) ** 2)))}
        for limit in RULES:
            rules = Rules(max_offset_m=limit)
            entry[f"model_{limit:g}m"] = replay(footage, ModelPolicy(runner.predict_one), rules).report()
            entry[f"zero_{limit:g}m"] = replay(footage, ZeroSteering(), rules).report()
            entry[f"human_{limit:g}m"] = replay(footage, RecordedSteering(footage), rules).report()
        result[name] = entry
    return result


def _spread(values: list[float], digits: int = 1) -> str:
    values = [v for v in values if v is not None]
    if len(values) == 1:
        return f"{values[0]:.{digits}f}"
    return f"{np.mean(values):.{digits}f} ({min(values):.{digits}f} – {max(values):.{digits}f})"


def report(results: dict[int, dict]) -> str:
    lines = [f"seeds {', '.join(map(str, results))}: mean (min – max)", "",
             "| footage | rule | model autonomy % | model interventions/min | zero steering autonomy % | zero interventions/min "
             "| human % | steering RMSE (zero) |", "|---|---|---|---|---|---|---|---|"]
    for name in next(iter(results.values())):
        for limit in RULES:
            per = [r[name] for r in results.values()]
            lines.append(
                f"| {name} | {limit:g} m | {_spread([p[f'model_{limit:g}m']['autonomy_percent'] for p in per])} "
                f"| {_spread([p[f'model_{limit:g}m']['interventions_per_min'] for p in per])} "
                f"| {_spread([p[f'zero_{limit:g}m']['autonomy_percent'] for p in per])} "
                f"| {_spread([p[f'zero_{limit:g}m']['interventions_per_min'] for p in per])} "
                f"| {_spread([p[f'human_{limit:g}m']['autonomy_percent'] for p in per])} "
                f"| {_spread([p['rmse'] for p in per], 3)} ({_spread([p['zero_rmse'] for p in per], 3)}) |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--fit-args", default="", help="extra training.fit arguments, e.g. '--epochs 6'")
    parser.add_argument("--work", type=Path, default=ROOT / "benchmarks" / "results" / "real_replay")
    parser.add_argument("--data-dir", type=Path, default=REALDATA,
                        help=f"the folder holding {', '.join(TRAIN + [UNSEEN])} (default: {REALDATA})")
    args = parser.parse_args()
    if not (args.data_dir / UNSEEN).is_dir():
        print(f"error: the real recordings are not in {args.data_dir}: pass --data-dir, the folder that holds "
              f"{', '.join(TRAIN + [UNSEEN])}", file=sys.stderr)
        return 2
    results = {}
    for seed in args.seeds:
        run = train(seed, args.work / f"seed{seed}", shlex.split(args.fit_args), args.data_dir)
        results[seed] = measure(run, args.data_dir)
        print(json.dumps({seed: results[seed]}), flush=True)
    write_json_atomic(args.work / "results.json", results)
    print(f"\nfit args: {args.fit_args or '(defaults)'}")
    print(report(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
