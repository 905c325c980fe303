"""Train on the real recordings, then drive footage it never trained on closed-loop: replay scores per seed.

    python -m studies.real_replay [--data-dir DIR]         # both protocols, seeds 0-4 (~25 min on 2 cores in bfloat16)
    python -m studies.real_replay --protocol lodo --fit-args "--on-policy-share 0" --seeds 0 1
    python -m studies.real_replay --protocol pair --recipe tutorial   # the tutorials' generator and last epoch
    python -m studies.real_replay --protocol pair --sim-data data/lake [--no-real]   # sim.record recordings added (only)
    python -m studies.real_replay --with-jungle          # train on the jungle too, replay its test blocks
    python -m studies.real_replay --reuse --work DIR     # measure the runs in DIR again (e.g. after a rule changed)
    python -m studies.real_replay --reuse --network-alone # the same runs steering without the mirror average

Protocols (what trains, what is replayed beside its test blocks and the unseen jungle):
  all   the three track-1 recordings of ../shared/realdata;
  lodo  leave one driver out: the Udacity sample's two slices (one driver) train, and the whole of
        `track1_windows` (another driver's lap of the same track) is replayed;
  pair  `udacity_sample_part` and `track1_windows`, the pair earlier measurements trained on.

For each protocol and seed `python -m training.fit` trains (the seed also picks the held-out blocks);
`--recipe tutorial` instead trains the tutorials' way
(`benchmarks.tutorial_recipe`, side cameras ±0.2, no lead) on the same balanced training rows, for as many
epochs, keeping the last,
and holds out the same blocks. `--sim-data` adds recordings of the headless simulator to the training
data; with `--no-real` they are all it trains on, and it is replayed on the blocks `training.fit`
would have tested of the real recordings for that seed. The model is then replayed (`python -m evaluate`'s loop) on its
test blocks (held out, and choosing nothing: `training.fit --test-share`; a run without them on the ones a
default run of its seed tests) and on `track2_jungle` (another track, never trained on), under the road
rule (the yardstick: no tyre leaves the drivable surface, as the whole recording shows it), and NVIDIA's 1 m and a 2 m line rule for
comparison, beside zero steering and the recorded human. Offline steering RMSE on the same
frames is reported beside it, never instead of it. Figures: mean over seeds and the range.
"""
from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from base.atomic import write_json_atomic
from base.frames import read_frame
from base.logs import read_recordings
from base.runners import BATCH
from base.runtime import load_runner
from base.split import has_test_blocks, held_out_rows
from evaluate.replay import Footage, ModelPolicy, RecordedSteering, ReplayError, ZeroSteering, replay
from evaluate.road_rule import RoadRule
from evaluate.rules import LineRule
from evaluate.surface import Surface, surface_of
from studies import REALDATA, ROOT

OTHER_DRIVER = "track1_windows"  # the Udacity sample's slices are one driver's laps, this another's
PROTOCOLS = {  # name: (recordings trained on, recordings replayed whole beside the held-out blocks)
    "all": (["udacity_sample_part", "udacity_sample_late", OTHER_DRIVER], []),
    "lodo": (["udacity_sample_part", "udacity_sample_late"], [OTHER_DRIVER]),
    "pair": (["udacity_sample_part", OTHER_DRIVER], []),
}
JUNGLE = "track2_jungle"  # another track: unseen, unless --with-jungle trains on it too
LINE_RULES = (2.0, 1.0)  # metres from the driver's line: NVIDIA's 1 m and a looser 2 m, for comparison
RULES = ("road", *LINE_RULES)  # the yardstick first: no tyre leaves the drivable surface (evaluate.road_rule)
NO_ROWS = "no rows"  # a seed's split tested nothing of the footage (runs made before every recording was tested)


def train(seed: int, out: Path, fit_args: list[str], data: list[Path], reuse: bool = False) -> Path:
    if reuse and (out / "latest").is_dir():
        print(f"reusing {(out / 'latest').resolve()}", flush=True)
        return (out / "latest").resolve()
    cmd = [sys.executable, "-m", "training.fit", "--data", *map(str, data), "--seed", str(seed), "--out", str(out), *fit_args]
    print("$", shlex.join(cmd), flush=True)
    subprocess.run(cmd, check=True, cwd=ROOT)
    return (out / "latest").resolve()


def train_tutorial(seed: int, out: Path, folder: Path, train_on: list[str]) -> tuple[Path, Callable[[np.ndarray], np.ndarray]]:
    """The tutorials' recipe on the samples `training.fit --seed seed` would train on; (run folder, its
    steering of a batch of frames, a frame at a time: the tutorials preprocess one frame at a time)."""
    from base.split import save_split
    from benchmarks import tutorial_recipe
    from training.config import TrainConfig
    from training.samples import prepare_samples

    # The tutorials' labels (the frame's own steering, side cameras ±0.2), not this project's lead and
    # pure pursuit; the same balancing.
    config = TrainConfig(data=[str(folder / name) for name in train_on], seed=seed, label_lead_s=0.0)
    samples = prepare_samples(read_recordings(config.data), config, correction=0.2)
    print(f"tutorial recipe, seed {seed}: {len(samples.train)} samples, {config.epochs} epochs", flush=True)
    model = tutorial_recipe.train(samples.train, config.epochs, config.batch_size, seed, out / "model.keras")
    save_split(out, samples.rows, samples.val_rows, samples.test_rows)
    steer = tutorial_recipe.Steerer(model)
    return out, lambda frames: np.array([steer(frame) for frame in frames])


def network_alone(run: Path) -> Callable[[np.ndarray], np.ndarray]:
    """The steering of the run's kept model without its mirror average (`training.model.network_alone`)."""
    from base.runners import KerasRunner
    from base.runtime import load_keras_model
    from training import model

    return KerasRunner(model.network_alone(load_keras_model(run / "model.keras"))).predict


def offline_rmse(predict: Callable[[np.ndarray], np.ndarray], rows: pd.DataFrame) -> float:
    """Steering RMSE of `predict` (frames → steering) on the rows' recorded centre frames."""
    paths = rows["center"].tolist()
    predicted = np.concatenate([predict(np.stack([_frame(path) for path in paths[i:i + BATCH]]))
                                for i in range(0, len(paths), BATCH)])
    return float(np.sqrt(np.mean((predicted - rows["steering"].to_numpy(dtype=float)) ** 2)))


def _frame(path: str) -> np.ndarray:
    frame = read_frame(path)
    if frame is None:
        raise ReplayError(f"cannot read the frame {path}: restore it")
    return frame


def real_held_out(run: Path, seed: int, trained_on_real: bool, folder: Path, train_on: list[str]) -> pd.DataFrame:
    """The real track-1 test rows of `run` (held out, and choosing nothing). For a run without test blocks
    (`--test-share 0`, or made before them), or one that never saw the real recordings, the rows a default
    `training.fit --seed` run on the real recordings alone would test: every recipe of a seed trained on
    them alone is then scored on the same footage (with --with-jungle or --sim-data the test blocks are
    drawn over more recordings, so they differ)."""
    from training.config import TrainConfig
    from training.samples import split_rows, split_test

    real = [folder / name for name in train_on]
    if trained_on_real and has_test_blocks(run):
        return held_out_rows(run, real, blocks="test", empty_ok=True)
    config = TrainConfig(seed=seed)
    if not trained_on_real:
        return split_rows(read_recordings(real), config)[2]
    print(f"{run} kept no test blocks: replaying those a default run of seed {seed} keeps (it validated on them)")
    return split_test(held_out_rows(run, real), config.test_share, seed, config.val_block)[1]


def rule_key(rule: str | float) -> str:
    """'road', or the line rule's limit as '2m'."""
    return rule if isinstance(rule, str) else f"{rule:g}m"


def rule_shown(rule: str | float) -> str:
    return rule if isinstance(rule, str) else f"line {rule:g} m"


def scored(entry: dict, who: str, rule: str | float) -> dict:
    """`measure`'s report for `who` (model, zero or human) under `rule` ("road", or a line rule's metres)."""
    return entry[f"{who}_{rule_key(rule)}"]


def both_rules(entry: dict, who: str = "model") -> str:
    """'autonomy % by the road / the 2 m line (interventions likewise; put back beyond the cameras' evidence
    under the road rule, and the road rule's autonomy were those charged)', the cell of every per-seed table."""
    if not entry["frames"]:
        return NO_ROWS
    road, line = scored(entry, who, "road"), scored(entry, who, max(LINE_RULES))
    unproven = road.get("autonomy_unproven_charged_percent")
    return (f"{road['autonomy_percent']:.0f} / {line['autonomy_percent']:.0f} % "
            f"({road['interventions']} / {line['interventions']}; {road.get('beyond_evidence', 0)} beyond evidence"
            f"{'' if unproven is None else f', {unproven:.0f} % if charged'})")


def surface_of_rows(rows: pd.DataFrame) -> Surface:
    """The drivable surface at `rows` (held-out blocks: any rows of whole recordings) as the whole of each
    recording shows it (`evaluate.surface`, cached per recording), not as the blocks' own frames do.

    Ground under and behind the car is seen only by earlier frames: estimated from a block alone, its
    first rows have none, and the edges there are guesses (a jungle block's first rows put the right edge
    0.25 m from the path where the recording shows it 3.7 m away, and charged a car 0.18 m off the path)."""
    recording = rows["recording"].to_numpy()
    tables = None
    for folder in pd.unique(recording):
        whole = read_recordings([folder], skip_missing=True)
        surface = surface_of(Footage.from_rows(whole))
        if tables is None:
            tables = [np.full((len(rows), len(surface.stations_m)), np.nan) for _ in range(3)]
        mine = recording == folder
        at = pd.Series(np.arange(len(whole)), index=whole["row"].to_numpy()).loc[rows["row"].to_numpy()[mine]].to_numpy()
        for table, whole_table in zip(tables, (surface.left_m, surface.right_m, surface.confidence)):
            table[mine] = whole_table[at]
    return Surface(surface.stations_m, *tables)


def measure(sets: dict[str, pd.DataFrame], predict: Callable[[np.ndarray], np.ndarray]) -> dict:
    """Replay scores and offline RMSE of `predict` (RGB frames → steering) on each set of rows; each
    replay drives the set's segments in lockstep. A set without rows (a run that tested none of a
    recording) is reported as such, `{"frames": 0}`."""
    result = {}
    for name, rows in sets.items():
        if rows.empty:
            print(f"no rows to replay in {name}: reported as none", flush=True)
            result[name] = {"frames": 0}
            continue
        footage = Footage.from_rows(rows)
        entry = {"frames": len(rows), "rmse": offline_rmse(predict, rows),
                 "zero_rmse": float(np.sqrt(np.mean(rows["steering"].to_numpy(dtype=float) ** 2)))}
        for judged_by in RULES:
            rule = RoadRule(footage, surface_of_rows(rows)) if judged_by == "road" else LineRule(max_offset_m=judged_by)
            for who, policy in (("model", ModelPolicy(predict)), ("zero", ZeroSteering()),
                                ("human", RecordedSteering(footage))):
                entry[f"{who}_{rule_key(judged_by)}"] = replay(footage, policy, rule).report()
        result[name] = entry
    return result


def _spread(values: list[float], digits: int = 1) -> str:
    values = [v for v in values if v is not None]
    if not values:
        return NO_ROWS
    if len(values) == 1:
        return f"{values[0]:.{digits}f}"
    return f"{np.mean(values):.{digits}f} ({min(values):.{digits}f} – {max(values):.{digits}f})"


def report(results: dict[int, dict]) -> str:
    """Mean (min – max) over seeds, then every seed: a mean alone hides the seed that leaves the road."""
    lines = [f"seeds {', '.join(map(str, results))}: mean (min – max)", "",
             "| footage | rule | model autonomy % | model interventions/min | zero steering autonomy % | zero interventions/min "
             "| human % | steering RMSE (zero) |", "|---|---|---|---|---|---|---|---|"]
    names = list(next(iter(results.values())))
    for name in names:
        for limit in RULES:
            per = [r[name] for r in results.values() if r[name]["frames"]]
            lines.append(
                f"| {name} | {rule_shown(limit)} | {_spread([scored(p, 'model', limit)['autonomy_percent'] for p in per])} "
                f"| {_spread([scored(p, 'model', limit)['interventions_per_min'] for p in per])} "
                f"| {_spread([scored(p, 'zero', limit)['autonomy_percent'] for p in per])} "
                f"| {_spread([scored(p, 'zero', limit)['interventions_per_min'] for p in per])} "
                f"| {_spread([scored(p, 'human', limit)['autonomy_percent'] for p in per])} "
                f"| {_spread([p['rmse'] for p in per], 3)} ({_spread([p['zero_rmse'] for p in per], 3)}) |")
    lines += ["", "Every seed: autonomy % by the road rule / the 2 m line rule (interventions likewise; cars put back "
              "uncharged beyond the cameras' evidence under the road rule), steering RMSE", "",
              "| seed | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    for seed, result in results.items():
        cells = [f"{both_rules(result[name])}, {result[name]['rmse']:.3f}" if result[name]["frames"] else NO_ROWS
                 for name in names]
        lines.append(f"| {seed} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--protocol", choices=PROTOCOLS, nargs="+", default=["all", "lodo"],
                        help="which recordings train and which are replayed (see above)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--recipe", choices=("ours", "tutorial"), default="ours",
                        help="train with training.fit (ours) or the tutorials' generator and last epoch")
    parser.add_argument("--fit-args", default="", help="extra training.fit arguments, e.g. '--epochs 6'")
    parser.add_argument("--sim-data", type=Path, nargs="+", default=[],
                        help="recordings of the headless simulator (python -m sim.record) to train on as well")
    parser.add_argument("--no-real", action="store_true", help="train on --sim-data only")
    parser.add_argument("--with-jungle", action="store_true",
                        help=f"train on {JUNGLE} too and replay its test blocks instead of all of it")
    parser.add_argument("--network-alone", action="store_true",
                        help="replay each run's network alone, not mirror-averaged (one pass a frame; results in "
                             "results_network_alone.json)")
    parser.add_argument("--reuse", action="store_true",
                        help="measure the runs --work already holds again instead of training them anew")
    parser.add_argument("--work", type=Path, default=ROOT / "benchmarks" / "results" / "real_replay")
    parser.add_argument("--data-dir", type=Path, default=REALDATA,
                        help=f"the folder holding the real recordings (default: {REALDATA})")
    args = parser.parse_args()
    needed = sorted({name for train_on, whole in PROTOCOLS.values() for name in train_on + whole} | {JUNGLE})
    absent = [name for name in needed if not (args.data_dir / name).is_dir()]
    if absent:
        print(f"error: the real recordings are not in {args.data_dir} (no {absent[0]}): pass --data-dir, the folder "
              f"that holds {', '.join(needed)}", file=sys.stderr)
        return 2
    if args.recipe == "tutorial" and (args.fit_args or args.sim_data or args.reuse or args.network_alone):
        print("error: --fit-args, --sim-data, --reuse and --network-alone are for training.fit's runs: leave them out with --recipe tutorial",
              file=sys.stderr)
        return 2
    if args.with_jungle and (args.no_real or args.recipe == "tutorial"):
        print("error: --with-jungle adds the jungle to the real recordings training.fit trains on: leave out "
              "--no-real and --recipe tutorial", file=sys.stderr)
        return 2
    if args.no_real and not args.sim_data:
        print("error: --no-real trains on --sim-data only: pass --sim-data FOLDER (python -m sim.record makes one)",
              file=sys.stderr)
        return 2
    missing = [str(f) for f in args.sim_data if not (f / "driving_log.csv").is_file()]
    if missing:
        print(f"error: {missing[0]} holds no driving_log.csv: pass a recording folder to --sim-data", file=sys.stderr)
        return 2
    reports = []
    for protocol in args.protocol:
        results, data = run_protocol(args, protocol)
        reports.append(f"\nprotocol {protocol}: recipe {args.recipe}, fit args: {args.fit_args or '(defaults)'}, "
                       f"trained on: {', '.join(str(f) for f in data)}\n{report(results)}")
    print("\n".join(reports))
    return 0


def run_protocol(args: argparse.Namespace, protocol: str) -> tuple[dict[str, dict], list[Path]]:
    """Train and replay every seed of one protocol; (results by seed, the recordings trained on). The
    seeds join those results.json under --work/PROTOCOL already holds."""
    train_on, whole = PROTOCOLS[protocol]
    jungle = args.data_dir / JUNGLE
    data = ([] if args.no_real else [args.data_dir / name for name in train_on]) + [jungle] * args.with_jungle + args.sim_data
    work = args.work / protocol
    if args.recipe == "tutorial":
        data = [args.data_dir / name for name in train_on]
    saved = work / ("results_network_alone.json" if args.network_alone else "results.json")
    earlier = json.loads(saved.read_text(encoding="utf-8")) if saved.is_file() else {}
    results = {}
    for seed in args.seeds:
        if args.recipe == "tutorial":
            run, steer = train_tutorial(seed, work / f"seed{seed}", args.data_dir, train_on)
        else:
            run = train(seed, work / f"seed{seed}", shlex.split(args.fit_args), data, args.reuse)
            steer = network_alone(run) if args.network_alone else load_runner(run).predict
        sets = {"held-out track 1": real_held_out(run, seed, not args.no_real, args.data_dir, train_on)}
        for name in whole:
            sets[f"{name} (another driver)"] = read_recordings([args.data_dir / name])
        if args.with_jungle:
            sets["held-out jungle"] = held_out_rows(run, [jungle], blocks="test", empty_ok=True)
        else:
            sets["jungle (unseen)"] = read_recordings([jungle])
        results[str(seed)] = measure(sets, steer)
        print(json.dumps({protocol: {seed: results[str(seed)]}}), flush=True)
        write_json_atomic(saved, earlier | results)  # after every seed: a long sweep keeps what it measured
    return results, data


if __name__ == "__main__":
    sys.exit(main())
