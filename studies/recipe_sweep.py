"""Re-judge the recipe's choices by the road rule: each variant trained per seed and replayed on footage it never
trained on (`studies.real_replay --protocol all`), one table beside the default.

    python -m studies.recipe_sweep                                   # every variant, seeds 0-2 (hours on 2 cores)
    python -m studies.recipe_sweep --recipes default share0 --seeds 0 1 2 3 4
    python -m studies.recipe_sweep --work DIR --table-only           # the table of what DIR holds, training nothing
    python -m studies.recipe_sweep --work DIR --rejudge              # replay DIR's runs again (the rule or replay changed)

Each variant changes one choice of today's default (`training.fit`'s defaults) and trains on the three track-1
recordings; it is replayed on its held-out test blocks and on the jungle (another track, never trained on), by the
road rule with the 2 m line rule beside it. `network-alone` is the default's own runs steering without the mirror
average (no training). A seed already in a variant's results is not trained again.
"""
from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np

from studies import REALDATA, ROOT

RECIPES = {  # name: (what it changes, training.fit arguments; None: the default's runs, --network-alone)
    "default": ("today's default", ""),
    "share0": ("no on-policy rounds (cloning alone)", "--on-policy-share 0"),
    "noise0": ("on-policy rounds without steering noise", "--on-policy-noise 0"),
    "network-alone": ("no mirror average (the default's networks alone)", None),
    "epochs5": ("half the budget: 5 epochs", "--epochs 5"),
    "epochs20": ("twice the budget: 20 epochs", "--epochs 20"),
}
SETS = {"held-out track 1": "test blocks", "jungle (unseen)": "jungle, unseen"}  # results.json's names: shown


def work_folder(work: Path, recipe: str) -> Path:
    """The `studies.real_replay --work` of the variant's runs (network-alone: the default's)."""
    return work / ("default" if RECIPES[recipe][1] is None else recipe)


def results_file(work: Path, recipe: str) -> Path:
    """Where `studies.real_replay` keeps the variant's results by seed."""
    name = "results_network_alone.json" if RECIPES[recipe][1] is None else "results.json"
    return work_folder(work, recipe) / "all" / name


def measured(work: Path, recipe: str) -> dict[str, dict]:
    path = results_file(work, recipe)
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def run_folder(work: Path, recipe: str, seed: int) -> Path:
    """Where `studies.real_replay` trains the variant's run of `seed` (network-alone: the default's)."""
    return work_folder(work, recipe) / "all" / f"seed{seed}" / "latest"


def run(work: Path, recipe: str, seed: int, data_dir: Path, reuse: bool = False) -> None:
    """Train (or, for network-alone and with `reuse`, reuse the run there is) and replay one seed of one variant."""
    fit_args = RECIPES[recipe][1]
    folder = work_folder(work, recipe)
    cmd = [sys.executable, "-m", "studies.real_replay", "--protocol", "all", "--seeds", str(seed), "--work", str(folder),
           "--data-dir", str(data_dir)]
    cmd += ["--reuse", "--network-alone"] if fit_args is None else (["--fit-args", fit_args] if fit_args else [])
    cmd += ["--reuse"] if reuse and fit_args is not None else []
    print("$", shlex.join(cmd), flush=True)
    subprocess.run(cmd, check=True, cwd=ROOT, stdout=subprocess.DEVNULL)


def cell(entries: list[dict], rule: str, key: str = "autonomy_percent") -> str:
    """'mean (min – max)' of the model's `key` under `rule` ('road' or '2m') over seeds, and every seed's."""
    values = [e[f"model_{rule}"][key] for e in entries if e[f"model_{rule}"].get(key) is not None]
    if not values:
        return "–"
    per_seed = " ".join(f"{v:.0f}" for v in values)
    if len(values) == 1:
        return per_seed
    return f"{np.mean(values):.0f} ({min(values):.0f} – {max(values):.0f}): {per_seed}"


def _uncharged(report: dict) -> str:
    """'beyond the evidence / of those past an unseen edge' (reports before unseen edges: the first alone)."""
    if "beyond_evidence" not in report:
        return "–"
    return f"{report['beyond_evidence']}" + (f"/{report['unseen_edge']}" if "unseen_edge" in report else "")


def table(work: Path, recipes: list[str], seeds: list[int]) -> str:
    """One row a variant: autonomy by the road rule and the 2 m line on each set, every seed, offline RMSE beside."""
    names = list(SETS)
    lines = ["| variant | seeds | " + " | ".join(f"{SETS[n]}: road % | {SETS[n]}: 2 m line %" for n in names)
             + " | jungle, unseen: road % had the cars put back uncharged been charged "
             "| jungle, unseen: put back uncharged (beyond the evidence / of those, past an unseen edge), per seed "
             "| steering RMSE, test blocks |",
             "|---|---|" + "---|---|" * len(names) + "---|---|---|"]
    for recipe in recipes:
        results = measured(work, recipe)
        done = [str(s) for s in seeds if str(s) in results]
        if not done:
            continue
        cells = []
        for name in names:
            entries = [results[s][name] for s in done if name in results[s]]
            cells += [cell(entries, "road"), cell(entries, "2m")]
        jungle = [results[s]["jungle (unseen)"] for s in done if "jungle (unseen)" in results[s]]
        cells.append(cell(jungle, "road", "autonomy_unproven_charged_percent"))
        beyond = " ".join(_uncharged(results[s].get("jungle (unseen)", {}).get("model_road", {})) for s in done)
        rmse = [results[s]["held-out track 1"]["rmse"] for s in done]
        lines.append(f"| {RECIPES[recipe][0]} | {' '.join(done)} | " + " | ".join(cells)
                     + f" | {beyond} | {np.mean(rmse):.3f} ({min(rmse):.3f} – {max(rmse):.3f}) |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recipes", nargs="+", choices=RECIPES, default=list(RECIPES))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--work", type=Path, default=ROOT / "benchmarks" / "results" / "recipe_sweep")
    parser.add_argument("--data-dir", type=Path, default=REALDATA,
                        help=f"the folder holding the real recordings (default: {REALDATA})")
    parser.add_argument("--table-only", action="store_true", help="print the table of what --work holds; train nothing")
    parser.add_argument("--rejudge", action="store_true",
                        help="replay every run --work holds again, training nothing (after the rule or the replay changed)")
    args = parser.parse_args()
    if args.rejudge:
        for recipe in args.recipes:
            for seed in args.seeds:
                if run_folder(args.work, recipe, seed).is_dir():
                    run(args.work, recipe, seed, args.data_dir, reuse=True)
    elif not args.table_only:
        if not args.data_dir.is_dir():
            print(f"error: no folder {args.data_dir}: pass --data-dir, the folder holding the real recordings",
                  file=sys.stderr)
            return 2
        # The default first: network-alone replays its runs.
        for recipe in sorted(args.recipes, key=lambda r: RECIPES[r][1] is None):
            for seed in args.seeds:
                if str(seed) not in measured(args.work, recipe):
                    run(args.work, recipe, seed, args.data_dir)
    print(table(args.work, args.recipes, args.seeds))
    return 0


if __name__ == "__main__":
    sys.exit(main())
