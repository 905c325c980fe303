"""Training on more than one device or machine with TensorFlow's own distribution strategies.

The rule (also in `--help`): `--batch-size` is per replica, so the global batch is batch size ×
replicas, and the learning rate grows linearly with the replicas (Goyal et al., 2017: "Accurate,
Large Minibatch SGD"). With one replica both stay as given.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass

import tensorflow as tf

STRATEGIES = ("default", "mirrored", "multiworker")


class StrategyError(ValueError):
    """The requested strategy cannot run here; the message says what to set."""


@dataclass(frozen=True)
class Distribution:
    strategy: tf.distribute.Strategy
    replicas: int
    is_chief: bool  # only the chief writes the run folder

    def global_batch(self, per_replica: int) -> int:
        return per_replica * self.replicas

    def scaled_lr(self, lr: float) -> float:
        return lr * self.replicas


def make_distribution(name: str) -> Distribution:
    """Build the strategy; must run before any model or variable is created."""
    if name == "default":
        strategy = tf.distribute.get_strategy()
        return Distribution(strategy, 1, True)
    if name == "mirrored":
        # Every local GPU; on a machine without one, every logical CPU device (one, unless configured).
        devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
        strategy = tf.distribute.MirroredStrategy([d.name for d in devices])
        return Distribution(strategy, strategy.num_replicas_in_sync, True)
    if name == "multiworker":
        config = _tf_config()
        task, has_chief = config["task"], bool(config["cluster"].get("chief"))
        strategy = tf.distribute.MultiWorkerMirroredStrategy()
        # Keras' convention: the "chief" task, or worker 0 when the cluster names no chief.
        is_chief = task["type"] == "chief" or (task["type"] == "worker" and task["index"] == 0 and not has_chief)
        return Distribution(strategy, strategy.num_replicas_in_sync, is_chief)
    raise StrategyError(f"unknown strategy {name!r}: choose one of {', '.join(STRATEGIES)}")


def _tf_config() -> dict:
    raw = os.environ.get("TF_CONFIG")
    if not raw:
        raise StrategyError(
            "--strategy multiworker needs TF_CONFIG, e.g. "
            '\'{"cluster": {"worker": ["host1:12345", "host2:12345"]}, "task": {"type": "worker", "index": 0}}\''
        )
    try:
        config = json.loads(raw)
        config["cluster"], config["task"]["type"], config["task"]["index"]
    except (ValueError, KeyError, TypeError) as e:
        raise StrategyError(f"TF_CONFIG is not valid ({e}): it needs \"cluster\" and \"task\" {{type, index}}") from e
    return config

