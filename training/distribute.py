"""Training on several devices with TensorFlow's own distribution strategies.

The rule (also in `--help`): `--batch-size` is per replica, so the global batch is batch size ×
replicas, and the learning rate grows linearly with the replicas (Goyal et al., 2017: "Accurate,
Large Minibatch SGD"). With one replica both stay as given.

Several machines: MultiWorkerMirroredStrategy, configured by the TF_CONFIG environment variable the
usual way (every worker runs the same command with its own `task`). Keras 3's `model.fit` needs two
small fixes to run under it (`training.multiworker`). Only the chief (`chief`, or `worker` 0 when
the cluster names no chief) keeps a run folder; the other workers write theirs to scratch space.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

from training.config import STRATEGIES, StrategyError

if TYPE_CHECKING:  # TensorFlow is imported only once a strategy is made: the CLIs show STRATEGIES without it
    import tensorflow as tf


@dataclass(frozen=True)
class Distribution:
    strategy: tf.distribute.Strategy
    replicas: int
    is_chief: bool = True  # keeps the run folder; False only on the other workers of a cluster

    def global_batch(self, per_replica: int) -> int:
        return per_replica * self.replicas

    def scaled_lr(self, lr: float) -> float:
        return lr * self.replicas


def make_distribution(name: str) -> Distribution:
    """Build the strategy; must run before any model or variable is created."""
    import tensorflow as tf

    if name == "default":
        return Distribution(tf.distribute.get_strategy(), 1)
    if name == "mirrored":
        # Every local GPU; on a machine without one, every logical CPU device (one, unless configured).
        devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
        strategy = tf.distribute.MirroredStrategy([d.name for d in devices])
        return Distribution(strategy, strategy.num_replicas_in_sync)
    if name == "multiworker":
        return _multiworker()
    raise StrategyError(f"unknown strategy {name!r}: choose one of {', '.join(STRATEGIES)}")


def _multiworker() -> Distribution:
    import tensorflow as tf

    from training import multiworker

    is_chief = _is_chief()
    multiworker.apply()
    strategy = tf.distribute.MultiWorkerMirroredStrategy()
    return Distribution(strategy, strategy.num_replicas_in_sync, is_chief=is_chief)


def _is_chief() -> bool:
    """Whether this process is the chief, from TF_CONFIG; a StrategyError when TF_CONFIG is unusable."""
    text = os.environ.get("TF_CONFIG")
    if not text:
        raise StrategyError('--strategy multiworker needs TF_CONFIG, e.g. TF_CONFIG=\'{"cluster": {"worker": '
                            '["host1:12345", "host2:12345"]}, "task": {"type": "worker", "index": 0}}\' on each machine')
    try:
        config = json.loads(text)
        cluster, task_type, index = config["cluster"], config["task"]["type"], int(config["task"]["index"])
        if task_type not in cluster or not 0 <= index < len(cluster[task_type]):
            raise KeyError(f"{task_type}[{index}]")
    except (ValueError, KeyError, TypeError) as e:
        raise StrategyError(f"TF_CONFIG is not a cluster with this task in it ({e}): set it to "
                            '{"cluster": {"worker": [...]}, "task": {"type": "worker", "index": N}}') from None
    return task_type == "chief" or (task_type == "worker" and index == 0 and "chief" not in cluster)
