"""Ensembles of seeds against the seeds alone, closed-loop on footage none of them trained on.

    python -m studies.ensemble_replay RUN [RUN ...] [--size 3] [--data-dir DIR]

RUN: run folders of `training.fit` that differ in their seed, e.g. the leave-one-driver-out runs of
`python -m studies.real_replay --protocol lodo` (`--work`/lodo/seed*/latest). Each run alone, then
every ensemble of `--size` consecutive runs (wrapping around, so each run is in `--size` of them;
one with `--size` equal to the runs; `training.ensemble`), drives another driver's lap (`track1_windows`) and the unseen jungle under the
1 m and 2 m rules. Held-out blocks are left out: each seed held out other rows.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from base.logs import read_recordings
from base.modelfile import resolve_model_path
from base.runtime import load_keras_model, load_runner
from studies import REALDATA
from studies.real_replay import JUNGLE, OTHER_DRIVER, both_rules, measure


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", type=Path, metavar="RUN")
    parser.add_argument("--size", type=int, default=3, help="models per ensemble")
    parser.add_argument("--data-dir", type=Path, default=REALDATA)
    args = parser.parse_args()
    if not 2 <= args.size <= len(args.runs):
        print(f"error: --size must be from 2 to the number of runs ({len(args.runs)})", file=sys.stderr)
        return 2
    absent = [name for name in (OTHER_DRIVER, JUNGLE) if not (args.data_dir / name).is_dir()]
    if absent:
        print(f"error: {args.data_dir} holds no {absent[0]}: pass --data-dir, the folder of the real recordings",
              file=sys.stderr)
        return 2
    from training.ensemble import build_ensemble

    sets = {f"{OTHER_DRIVER} (another driver)": read_recordings([args.data_dir / OTHER_DRIVER]),
            "jungle (unseen)": read_recordings([args.data_dir / JUNGLE])}
    paths = [resolve_model_path(run) for run in args.runs]
    rows = []
    for i, path in enumerate(paths):
        rows.append((f"run {i}", measure(sets, load_runner(path).predict)))
        print(f"run {i} ({path}) measured", flush=True)
    with tempfile.TemporaryDirectory(prefix="ensemble-") as folder:
        # Rolling sets: each run is in --size of them; with --size equal to the runs there is one.
        ensembles = list(dict.fromkeys(tuple(sorted((start + k) % len(paths) for k in range(args.size)))
                                       for start in range(len(paths))))
        for start, members in enumerate(ensembles):
            out = Path(folder) / f"ensemble{start}.keras"
            build_ensemble([load_keras_model(paths[m]) for m in members]).save(out)
            rows.append((f"ensemble of runs {', '.join(map(str, members))}", measure(sets, load_runner(out).predict)))
            print(f"ensemble {members} measured", flush=True)
    names = list(sets)
    print("\nautonomy % at 2 m / 1 m (interventions at 2 m / 1 m), steering RMSE\n")
    print("| model | " + " | ".join(names) + " |")
    print("|---|" + "---|" * len(names))
    for label, result in rows:
        print(f"| {label} | " + " | ".join(f"{both_rules(result[n])}, {result[n]['rmse']:.3f}" for n in names) + " |")
    print("| zero steering | " + " | ".join(both_rules(rows[0][1][n], "zero") for n in names) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
