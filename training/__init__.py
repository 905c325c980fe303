"""Behavioural cloning: simulator logs → balanced, augmented batches → NVIDIA network → run folder."""
import os

# TensorFlow's C++ start-up chatter (oneDNN, CUDA probing) buries the CLIs' own output.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
