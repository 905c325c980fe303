"""`--strategy`: TensorFlow's MirroredStrategy on two logical CPU devices; multi-worker refused clearly."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from fit_helpers import fit_args, write_log
from training import fit
from training.distribute import StrategyError, make_distribution

ROOT = Path(__file__).resolve().parent.parent

# Logical devices must be configured before TensorFlow initialises, hence a fresh interpreter.
TWO_CPUS = """
import sys
import tensorflow as tf
(cpu,) = tf.config.list_physical_devices("CPU")
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from training import fit
sys.exit(fit.main(sys.argv[1:]))
"""


def test_mirrored_trains_on_two_replicas_with_the_global_batch_rule(tmp_path):
    write_log(tmp_path / "rec")
    argv = fit_args(tmp_path / "rec", tmp_path / "models", "--strategy", "mirrored", "--batch-size", "8",
                    "--lr", "0.0005")
    result = subprocess.run([sys.executable, "-c", TWO_CPUS, *argv], cwd=ROOT, capture_output=True, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=240)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "2 replicas → global batch 16, learning rate 0.001" in result.stdout
    run = (tmp_path / "models" / "latest").resolve()
    metrics = json.loads((run / "metrics.json").read_text())
    assert (metrics["replicas"], metrics["global_batch"], metrics["epochs"]) == (2, 16, 1)
    assert json.loads((run / "config.json").read_text())["batch_size"] == 8  # the user's per-replica figure
    assert (run / "model.keras").is_file()


def test_default_strategy_is_one_replica():
    dist = make_distribution("default")
    assert (dist.replicas, dist.global_batch(64), dist.scaled_lr(1e-3)) == (1, 64, 1e-3)


def test_multiworker_is_refused_in_one_line_that_names_the_upstream_bug(tmp_path, capsys):
    with pytest.raises(StrategyError, match="20585"):
        make_distribution("multiworker")
    write_log(tmp_path / "rec", rows=20)
    assert fit.main(fit_args(tmp_path / "rec", tmp_path / "models", "--strategy", "multiworker")) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--strategy mirrored" in err[0]
    assert not (tmp_path / "models").exists()
