"""The project's benchmarks: each measures this project beside the classic approach in the same run.

`python -m benchmarks` prints every figure as one table; `python -m benchmarks.<name>` runs one.
"""
import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REALDATA = ROOT.parent / "shared" / "realdata"  # the real recordings, read in place, never copied

# Set before any benchmark imports TensorFlow: its info logs would bury the tables.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
