"""`--strategy`: MirroredStrategy on two logical CPU devices, MultiWorkerMirroredStrategy on two workers on loopback."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from fit_helpers import fit_args
from recordings import write_log

from base.processes import free_loopback_ports
from training import fit
from training.distribute import make_distribution

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


def test_multiworker_trains_on_two_workers_and_only_the_chief_keeps_the_run(tmp_path):
    write_log(tmp_path / "rec")
    argv = fit_args(tmp_path / "rec", tmp_path / "models", "--strategy", "multiworker", "--batch-size", "8",
                    "--lr", "0.0005", "--epochs", "2")
    workers = [f"127.0.0.1:{port}" for port in free_loopback_ports(2)]
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    processes = []
    for index in range(2):
        tf_config = json.dumps({"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}})
        env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CONFIG": tf_config, "TMPDIR": str(scratch)}
        processes.append(subprocess.Popen([sys.executable, "-m", "training.fit", *argv], cwd=ROOT, env=env,
                                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    try:
        outputs = [p.communicate(timeout=240) for p in processes]
    finally:
        for p in processes:
            p.kill()
    for p, (_, err) in zip(processes, outputs):
        assert p.returncode == 0, err[-3000:]
    (chief_out, _), (worker_out, _) = outputs
    assert "2 replicas → global batch 16, learning rate 0.001" in chief_out
    assert "worker done" in worker_out
    # Both workers computed the same synchronised losses; only the chief's run folder exists.
    losses = [re.findall(r"loss: \S+ - val_loss: \S+", out) for out in (chief_out, worker_out)]
    assert len(losses[0]) == 2 and losses[0] == losses[1]
    assert sorted(p.name for p in (tmp_path / "models").iterdir()) == sorted(["latest", (tmp_path / "models" / "latest").resolve().name])
    run = (tmp_path / "models" / "latest").resolve()
    metrics = json.loads((run / "metrics.json").read_text())
    assert (metrics["replicas"], metrics["global_batch"], metrics["epochs"]) == (2, 16, 2)
    assert (run / "model.keras").is_file()
    assert not [p for p in scratch.iterdir() if p.name.startswith("training-worker-")]  # the worker's copy is gone


@pytest.mark.parametrize("tf_config, message", [
    (None, "needs TF_CONFIG"),
    ("{not json", "TF_CONFIG is not a cluster"),
    ('{"cluster": {"worker": ["127.0.0.1:1"]}, "task": {"type": "worker", "index": 3}}', "TF_CONFIG is not a cluster"),
])
def test_multiworker_without_a_usable_tf_config_is_one_line(tmp_path, capsys, monkeypatch, tf_config, message):
    if tf_config is None:
        monkeypatch.delenv("TF_CONFIG", raising=False)
    else:
        monkeypatch.setenv("TF_CONFIG", tf_config)
    write_log(tmp_path / "rec", rows=20)
    assert fit.main(fit_args(tmp_path / "rec", tmp_path / "models", "--strategy", "multiworker")) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]
    assert not (tmp_path / "models").exists()


def test_the_keras_fix_refuses_a_keras_it_was_not_checked_against(monkeypatch):
    import keras

    from training import multiworker

    monkeypatch.setattr(keras, "__version__", "3.99.0")
    with pytest.raises(RuntimeError, match="20585"):
        multiworker.apply()
