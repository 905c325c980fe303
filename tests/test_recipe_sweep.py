"""`studies.recipe_sweep`'s table: every seed shown, the variant's own results, nothing invented for one not run."""
from __future__ import annotations

import json

from studies.recipe_sweep import results_file, table


def entry(road: float, line: float, beyond: int = 0) -> dict:
    return {"rmse": 0.1, "model_road": {"autonomy_percent": road, "beyond_evidence": beyond,
                                        "autonomy_unproven_charged_percent": road - 100 * beyond},
            "model_2m": {"autonomy_percent": line}}


def test_the_table_gives_every_seed_of_every_variant_run_and_skips_the_others(tmp_path):
    for recipe, roads in (("default", (100, 90)), ("network-alone", (80, 70))):
        path = results_file(tmp_path, recipe)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({str(seed): {"held-out track 1": entry(road, 50), "jungle (unseen)": entry(40, 30, 7)}
                                    for seed, road in enumerate(roads)}))
    lines = table(tmp_path, ["default", "share0", "network-alone"], [0, 1, 2]).splitlines()
    assert len(lines) == 4  # header, rule, the two variants with results: share0 was never run
    default, alone = lines[2], lines[3]
    assert default.startswith("| today's default | 0 1 |") and "95 (90 – 100): 100 90" in default
    assert "75 (70 – 80): 80 70" in alone and "| -660 (-660 – -660): -660 -660 | 7 7 |" in alone  # no unseen_edge key
    path = results_file(tmp_path, "default")
    results = json.loads(path.read_text())
    results["0"]["jungle (unseen)"]["model_road"]["unseen_edge"] = 3
    path.write_text(json.dumps(results))
    assert "| 7/3 7 |" in table(tmp_path, ["default"], [0, 1]).splitlines()[2]
