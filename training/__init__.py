"""Behavioural cloning: simulator logs → balanced, augmented batches → NVIDIA network → run folder."""
import os

# TensorFlow's info and warning logs bury the CLIs' own output. (The two lines absl prints before
# its logging is initialised, oneDNN and CUDA probing, cannot be silenced from here.)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
