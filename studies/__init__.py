"""Driving studies: how models drive, measured closed-loop (`python -m studies.<name>`).

Speed lives in `benchmarks/`; these train, replay and compare models, and write what they find to docs/.
"""
from pathlib import Path

import base  # noqa: F401  (it quiets TensorFlow's start-up lines, which would bury the tables)

ROOT = Path(__file__).resolve().parent.parent
REALDATA = ROOT.parent / "shared" / "realdata"  # the real recordings, read in place, never copied
