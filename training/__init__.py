"""Behavioural cloning: simulator logs → balanced, augmented batches → NVIDIA network → run folder."""
import base.quiet_tensorflow  # noqa: F401  (before anything here imports TensorFlow)
