"""Training on several devices with TensorFlow's own distribution strategies.

The rule (also in `--help`): `--batch-size` is per replica, so the global batch is batch size ×
replicas, and the learning rate grows linearly with the replicas (Goyal et al., 2017: "Accurate,
Large Minibatch SGD"). With one replica both stay as given.

Several machines (MultiWorkerMirroredStrategy) are refused with an explanation: Keras 3's
`model.fit` fails under that strategy (checked here with Keras 3.15 / TF 2.21 and two workers on
loopback: first in `_maybe_symbolic_build`, which reduces the (x, y) batch structure as one value,
then in `reduce_per_replica`, which reduces the scalar loss along axis 0), an open upstream bug:
keras-team/keras#20585, tensorflow/tensorflow#72388.
"""
from __future__ import annotations

from dataclasses import dataclass

import keras
import tensorflow as tf

STRATEGIES = ("default", "mirrored", "multiworker")
MULTIWORKER_BUG = "https://github.com/keras-team/keras/issues/20585"


class StrategyError(ValueError):
    """The requested strategy cannot run here; the message says what to do instead."""


@dataclass(frozen=True)
class Distribution:
    strategy: tf.distribute.Strategy
    replicas: int

    def global_batch(self, per_replica: int) -> int:
        return per_replica * self.replicas

    def scaled_lr(self, lr: float) -> float:
        return lr * self.replicas


def make_distribution(name: str) -> Distribution:
    """Build the strategy; must run before any model or variable is created."""
    if name == "default":
        return Distribution(tf.distribute.get_strategy(), 1)
    if name == "mirrored":
        # Every local GPU; on a machine without one, every logical CPU device (one, unless configured).
        devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
        strategy = tf.distribute.MirroredStrategy([d.name for d in devices])
        return Distribution(strategy, strategy.num_replicas_in_sync)
    if name == "multiworker":
        raise StrategyError(
            f"--strategy multiworker: Keras {keras.__version__}'s model.fit fails under "
            f"MultiWorkerMirroredStrategy (open upstream bug {MULTIWORKER_BUG}); train on one machine "
            "with --strategy mirrored (all its GPUs)")
    raise StrategyError(f"unknown strategy {name!r}: choose one of {', '.join(STRATEGIES)}")
