"""Behavioural cloning: simulator logs → balanced, augmented batches → NVIDIA network → run folder."""
