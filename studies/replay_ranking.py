"""Does the replay rank models the way the true closed loop does? Checked in the headless simulator.

    python -m studies.replay_ranking [--work DIR]      # about 15 minutes on 2 cores

Models of clearly different quality are trained on a headless recording of `lake` (the checkpoints
after 1, 2, 4 and 10 epochs of one run, a model trained on the centre camera alone, a model that
always steers 0, and the untrained network). Each is then scored twice on `lake` and `mountain` (never trained on):
by `sim.drive` — the true closed loop, frames rendered at the car's real pose, through the drive
server — and by the replay of a fresh headless recording of each track (`evaluate.replay`: frames
synthesised from the recorded ones, NVIDIA's 1 m rule). The table gives both scores side by side
and Spearman's rank correlation between them, for autonomy and for the mean |offset| (which still
separates models that both drive without an intervention).
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np

from base.atomic import write_json_atomic
from base.logs import LOG_NAME, find_logs, read_recordings
from benchmarks.table import markdown
from evaluate.autonomy import autonomy_percent
from evaluate.replay import Footage, ModelPolicy, replay
from evaluate.rules import LineRule
from studies import ROOT

TRAIN_LAPS = 2.0
STAGES = [1, 2, 4, 10]  # epochs after which the run's model is kept
CENTRE_ONLY_EPOCHS = 4
DRIVE_LAPS = {"lake": 1.0, "mountain": 1.0}
REPLAY_LAPS = 1.0


def _record(folder: Path, track: str, laps: float, seed: int, recovery: bool) -> Path:
    from sim.record import record_session

    try:
        if find_logs([folder]):
            return folder
    except ValueError:
        pass
    record_session(track, laps=laps, out=folder, seed=seed, recovery=recovery)
    return folder


def _fit(*args: str) -> None:
    cmd = [sys.executable, "-m", "training.fit", *args]
    print("$", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True, cwd=ROOT)


def _centre_only(source: Path, target: Path) -> Path:
    """A copy of the log whose side fields repeat the centre frame: training then sees no side camera."""
    target.mkdir(parents=True, exist_ok=True)
    lines = []
    for line in (source / LOG_NAME).read_text().splitlines():
        centre, _, _, *numbers = line.split(",")
        lines.append(",".join([centre, centre, centre, *numbers]))
    (target / LOG_NAME).write_text("\n".join(lines) + "\n")
    return target


def _zero_model(path: Path) -> Path:
    """The NVIDIA network with its output layer zeroed: a real model file that always steers 0."""
    from training.model import build_model

    model = build_model()
    last = model.layers[-1]
    last.set_weights([np.zeros_like(w) for w in last.get_weights()])
    model.save(path)
    return path


def _untrained_model(path: Path) -> Path:
    """The NVIDIA network as initialised (seed 0): steers, but by nothing it has learnt."""
    import keras

    from training.model import build_model

    keras.utils.set_random_seed(0)
    build_model().save(path)
    return path


def train_models(work: Path) -> dict[str, Path]:
    data = _record(work / "train_lake", "lake", TRAIN_LAPS, seed=1, recovery=True)
    models: dict[str, Path] = {}
    run = work / "run"
    kept = {epochs: work / f"epochs_{epochs}.keras" for epochs in STAGES}
    for i, epochs in enumerate(STAGES):  # stages already kept are skipped: an interrupted run goes on
        if kept[epochs].exists():
            continue
        if i == 0:
            shutil.rmtree(run, ignore_errors=True)
            _fit("--data", str(data), "--out", str(run), "--epochs", str(epochs))
        else:
            _fit("--resume", str(run / "latest"), "--epochs", str(epochs))
        shutil.copy(run / "latest" / "last.keras", kept[epochs])
    models.update({f"{epochs} epoch{'s' if epochs > 1 else ''}": path for epochs, path in kept.items()})
    centre_only = work / f"centre_only_{CENTRE_ONLY_EPOCHS}.keras"
    if not centre_only.exists():
        only = _centre_only(data, work / "train_lake_centre_only")
        _fit("--data", str(only), "--out", str(work / "run_centre"), "--epochs", str(CENTRE_ONLY_EPOCHS))
        shutil.copy(work / "run_centre" / "latest" / "model.keras", centre_only)
    models[f"centre camera only, {CENTRE_ONLY_EPOCHS} epochs"] = centre_only
    zero = work / "zero.keras"
    models["always steers 0"] = zero if zero.exists() else _zero_model(zero)
    untrained = work / "untrained.keras"
    models["untrained (random weights)"] = untrained if untrained.exists() else _untrained_model(untrained)
    return models


def score(models: dict[str, Path], work: Path) -> list[dict]:
    """Both scores of every model; those in an earlier `results.json` of `work` are taken from there."""
    from base.runtime import load_runner
    from sim.demo import score_model

    footage = {track: Footage.from_rows(read_recordings([_record(work / f"replay_{track}", track, REPLAY_LAPS, seed=5, recovery=False)]))
               for track in DRIVE_LAPS}
    earlier = {r["model"]: r for r in json.loads((work / "results.json").read_text())} if (work / "results.json").exists() else {}
    results = []
    for name, path in models.items():
        if name in earlier:
            results.append(earlier[name])
            continue
        drives = score_model(path, list(DRIVE_LAPS.items()))
        runner = load_runner(path)
        replays = {track: replay(f, ModelPolicy(runner.predict), LineRule()).report() for track, f in footage.items()}
        results.append({"model": name, "drive": drives, "replay": replays})
        print(json.dumps(results[-1]), flush=True)
    return results


def _autonomy(reports: list[dict]) -> float:
    interventions = sum(r["interventions"] for r in reports)
    elapsed = sum(r["elapsed_s"] for r in reports)
    return autonomy_percent(interventions, elapsed)


def spearman(a: list[float], b: list[float]) -> float:
    """Rank correlation, ties sharing their mean rank."""
    def ranks(values: list[float]) -> np.ndarray:
        values = np.asarray(values, dtype=float)
        order = np.argsort(values, kind="stable")
        r = np.empty(len(values))
        r[order] = np.arange(len(values))
        for v in np.unique(values):
            r[values == v] = r[values == v].mean()
        return r
    return float(np.corrcoef(ranks(a), ranks(b))[0, 1])


def _mean_offset(reports: list[dict]) -> float:
    return sum(r["mean_abs_offset_m"] * r["frames"] for r in reports) / sum(r["frames"] for r in reports)


def table(results: list[dict]) -> tuple[list[dict], float, float]:
    """Rows of both scores, and Spearman's rho between them for autonomy and for mean |offset|."""
    rows = []
    drive_scores, replay_scores, drive_offsets, replay_offsets = [], [], [], []
    for r in results:
        drive, rep = _autonomy(list(r["drive"].values())), _autonomy(list(r["replay"].values()))
        drive_scores.append(drive)
        replay_scores.append(rep)
        drive_offsets.append(_mean_offset(list(r["drive"].values())))
        replay_offsets.append(_mean_offset(list(r["replay"].values())))
        rows.append({"metric": r["model"], "value": round(rep, 1), "unit": "% (replay, 1 m)",
                     "classic": round(drive, 1), "ratio": None,
                     "detail": ", ".join(f"{t}: interventions drive {r['drive'][t]['interventions']} / replay "
                                         f"{r['replay'][t]['interventions']}, mean |offset| drive "
                                         f"{r['drive'][t]['mean_abs_offset_m']:.2f} / replay {r['replay'][t]['mean_abs_offset_m']:.2f} m"
                                         for t in DRIVE_LAPS)})
    # Offsets: sim.drive's from the centre line, the replay's from the recorded (expert's) path.
    return rows, spearman(drive_scores, replay_scores), spearman(drive_offsets, replay_offsets)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, default=ROOT / "benchmarks" / "results" / "replay_ranking",
                        help="where recordings, models and results go (reused when present)")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    results = score(train_models(args.work), args.work)
    write_json_atomic(args.work / "results.json", results)
    rows, rho, rho_offset = table(results)
    print(markdown(rows, ours="replay autonomy", classic="sim.drive autonomy"))
    print()
    for row in rows:
        print(f"- {row['metric']}: {row['detail']}")
    print(f"\nSpearman rank correlation, replay vs sim.drive, {len(rows)} models: autonomy {rho:.2f}, "
          f"mean |offset| {rho_offset:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
