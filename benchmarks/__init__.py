"""The project's benchmarks: each measures this project beside the classic approach in the same run.

`python -m benchmarks` prints every figure as one table; `python -m benchmarks.<name>` runs one.
"""
from pathlib import Path

import base  # noqa: F401  (it quiets TensorFlow's start-up lines, which would bury the tables)

ROOT = Path(__file__).resolve().parent.parent
REALDATA = ROOT.parent / "shared" / "realdata"  # the real recordings, read in place, never copied
