"""Two local fixes that let Keras 3's `model.fit` train under MultiWorkerMirroredStrategy.

Keras 3.15 fails there in two places (keras-team/keras#20585; checked with two workers on loopback):
- `_maybe_symbolic_build` reduces a whole distributed (x, y) batch with `strategy.reduce`, which
  the collective strategy cannot do for a structure. The build only needs the shapes, so one
  replica's local batch serves.
- `reduce_per_replica` reduces every per-replica loss and metric "along axis 0", which a scalar does
  not have. Across replicas, the mean (`axis=None`) is what Keras computes for every other strategy.

`apply()` is called only for `--strategy multiworker`; every other strategy runs Keras untouched.
The pinned Keras version is checked, so an upgrade cannot silently run with the fix misapplied.
"""
from __future__ import annotations

import logging

import keras
import tensorflow as tf
from keras.src import tree
from keras.src.backend.tensorflow import trainer as tf_trainer

log = logging.getLogger(__name__)

FIXED_VERSIONS = ("3.15.",)  # the Keras versions whose internals these fixes were written against
_original_reduce_per_replica = tf_trainer.reduce_per_replica


def _local_value(value: object, strategy: tf.distribute.Strategy) -> object:
    if isinstance(value, tf.distribute.DistributedValues):
        return strategy.experimental_local_results(value)[0]
    return value


def _maybe_symbolic_build(self, iterator=None, data_batch=None) -> None:  # noqa: ANN001 (Keras's signature)
    if self._distribute_strategy is None:
        return
    if iterator is not None:
        for _, _, it in iterator:
            data_batch = tree.map_structure(lambda v: _local_value(v, self.distribute_strategy), next(it))
            break
    with self.distribute_strategy.scope():
        self._symbolic_build(data_batch=data_batch)


def _reduce_per_replica(values, strategy, reduction):  # noqa: ANN001 (Keras's signature)
    if reduction in ("auto", "mean") and tf_trainer._collective_all_reduce_multi_worker(strategy):
        return tree.map_structure(lambda v: strategy.reduce("MEAN", v, axis=None), values)
    return _original_reduce_per_replica(values, strategy, reduction)


def apply() -> None:
    """Patch Keras's TensorFlow trainer; refuses a Keras version the fixes were not checked against."""
    if not keras.__version__.startswith(FIXED_VERSIONS):
        raise RuntimeError(f"training.multiworker fixes Keras {', '.join(FIXED_VERSIONS)}x, not {keras.__version__}: "
                           "check whether keras-team/keras#20585 is fixed there and update the fixes")
    tf_trainer.TensorFlowTrainer._maybe_symbolic_build = _maybe_symbolic_build
    tf_trainer.reduce_per_replica = _reduce_per_replica
    log.info("multiworker: Keras %s's fit patched for MultiWorkerMirroredStrategy (keras-team/keras#20585)",
             keras.__version__)
