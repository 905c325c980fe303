"""Recipes side by side, seed by seed: the `real_replay` results of each as one table and one plot.

    python -m studies.replay_compare --recipe default WORK_A --recipe on-policy WORK_B [--out compare.png]

WORK: a `studies.real_replay --work` folder (searched recursively, so one folder per seed works
too). For each protocol found, the table gives every seed's interventions at 2 m and 1 m on each
footage, and the plot one panel per footage: each seed's autonomy at 2 m, recipe beside recipe.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from studies.real_replay import LINE_RULES, scored

STRICT, LOOSE = min(LINE_RULES), max(LINE_RULES)


def load(work: Path) -> dict[str, dict[str, dict]]:
    """protocol → seed → results, merged from every results.json under `work`."""
    merged: dict[str, dict[str, dict]] = {}
    for path in sorted(work.rglob("results.json")):
        merged.setdefault(path.parent.name, {}).update(json.loads(path.read_text(encoding="utf-8")))
    return merged


def _compact(entry: dict, who: str) -> str:
    loose, strict = scored(entry, who, LOOSE), scored(entry, who, STRICT)
    return f"{loose['interventions']}/{strict['interventions']} ({loose['autonomy_percent']:.0f})"


def table(recipes: dict[str, dict[str, dict]], protocol: str) -> str:
    names = list(next(iter(next(iter(recipes.values()))[protocol].values())))
    lines = [f"protocol {protocol}: interventions at 2 m / 1 m per seed (autonomy % at 2 m), zero steering last", "",
             "| recipe | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    for label, results in recipes.items():
        per = results.get(protocol, {})
        cells = []
        for name in names:
            seeds = [per[s][name] for s in sorted(per, key=int)]
            cells.append(" ".join(_compact(r, "model") for r in seeds))
        lines.append(f"| {label} (seeds {', '.join(sorted(per, key=int))}) | " + " | ".join(cells) + " |")
    # Each seed holds out its own blocks, so zero steering scores each seed's footage apart.
    first = next(iter(recipes.values()))[protocol]
    zero = [[_compact(first[seed][n], "zero") for seed in sorted(first, key=int)] for n in names]
    lines.append("| zero steering | " + " | ".join(cell[0] if len(set(cell)) == 1 else " ".join(cell)
                                                   for cell in zero) + " |")
    return "\n".join(lines)


def plot(recipes: dict[str, dict[str, dict]], protocol: str, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from base.atomic import write_atomic

    names = list(next(iter(next(iter(recipes.values()))[protocol].values())))
    fig, axes = plt.subplots(1, len(names), figsize=(5 * len(names), 3.6), squeeze=False)
    width = 0.8 / len(recipes)
    for ax, name in zip(axes[0], names):
        for k, (label, results) in enumerate(recipes.items()):
            per = results.get(protocol, {})
            seeds = sorted(per, key=int)
            values = [scored(per[s][name], "model", LOOSE)["autonomy_percent"] for s in seeds]
            ax.bar(np.arange(len(seeds)) + k * width, values, width, label=label)
            ax.set_xticks(np.arange(len(seeds)) + width * (len(recipes) - 1) / 2, [f"seed {s}" for s in seeds])
        first = next(iter(recipes.values()))[protocol]  # zero steering on each seed's own footage
        zero = [scored(first[s][name], "zero", LOOSE)["autonomy_percent"] for s in sorted(first, key=int)]
        ax.hlines(zero, np.arange(len(zero)) - width / 2, np.arange(len(zero)) + width * (len(recipes) - 0.5),
                  color="grey", linestyle="--", linewidth=1, label="zero steering")
        ax.axhline(0, color="black", linewidth=0.5)
        ax.set_title(name)
        ax.set_ylabel("autonomy % (2 m rule)")
    axes[0][0].legend(fontsize=8)
    fig.suptitle(f"closed-loop replay, protocol {protocol}")
    fig.tight_layout()
    write_atomic(out, lambda temp: fig.savefig(temp, dpi=90, format="png"))
    plt.close(fig)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recipe", nargs=2, action="append", metavar=("LABEL", "WORK"), required=True)
    parser.add_argument("--out", type=Path, help="PNG to write (one per protocol: PROTOCOL inserted before .png)")
    args = parser.parse_args()
    recipes = {label: load(Path(work)) for label, work in args.recipe}
    empty = [label for label, results in recipes.items() if not results]
    if empty:
        print(f"error: no results.json under the folder of recipe {empty[0]}: pass a real_replay --work folder",
              file=sys.stderr)
        return 2
    protocols = [p for p in next(iter(recipes.values())) if all(p in r for r in recipes.values())]
    for protocol in protocols:
        print(table(recipes, protocol), "\n")
        if args.out:
            out = args.out.with_name(f"{args.out.stem}_{protocol}{args.out.suffix}")
            plot(recipes, protocol, out)
            print(f"wrote {out}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
