"""Behavioural cloning: simulator logs → balanced, augmented batches → NVIDIA network → run folder."""
import base  # noqa: F401  (it quiets TensorFlow's start-up lines: before anything here imports TensorFlow)
