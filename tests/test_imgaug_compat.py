"""imgaug 0.4.0 reads np.sctypes at import; NumPy 2 removed it. training.imgaug_compat must put it back."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
from conftest import ROOT


def python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)


def test_imgaug_needs_the_fix_on_numpy_2():
    assert int(np.__version__.split(".")[0]) >= 2
    bare = python("import imgaug")
    assert bare.returncode != 0 and "sctypes" in bare.stderr


def test_imgaug_imports_and_augments_through_the_fix():
    fixed = python("from training.imgaug_compat import iaa; import numpy as np; "
                   "print(iaa.Fliplr(1.0)(images=np.arange(6, dtype=np.uint8).reshape(1, 1, 2, 3)).ravel().tolist())")
    assert fixed.returncode == 0, fixed.stderr
    assert fixed.stdout.split() == ["[3,", "4,", "5,", "0,", "1,", "2]"]
