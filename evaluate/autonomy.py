"""NVIDIA's autonomy score (Bojarski et al., 2016), the one formula `sim.drive` and the replay share.

Each intervention is charged `headless.intervention_penalty_s` (6 s, NVIDIA's figure for a human
taking over): autonomy = (1 − interventions × 6 s / elapsed s) × 100, below zero when the car needs
help more than once every 6 s.
"""
from __future__ import annotations

import simulator_config

PENALTY_S = float(simulator_config.load()["headless"]["intervention_penalty_s"])


def autonomy_percent(interventions: int, elapsed_s: float) -> float:
    return (1 - interventions * PENALTY_S / elapsed_s) * 100
