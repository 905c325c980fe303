"""imgaug 0.4.0 on NumPy 2.

imgaug reads `np.sctypes` at import time; NumPy 2 removed it. Putting back the NumPy-1 mapping is
the smallest fix and lives here only: import imgaug through this module, never directly.
"""
import numpy as np

if not hasattr(np, "sctypes"):
    np.sctypes = {
        "int": [np.int8, np.int16, np.int32, np.int64],
        "uint": [np.uint8, np.uint16, np.uint32, np.uint64],
        "float": [np.float16, np.float32, np.float64],
        "complex": [np.complex64, np.complex128],
        "others": [bool, object, bytes, str, np.void],
    }

import imgaug  # noqa: E402
import imgaug.augmenters as iaa  # noqa: E402

__all__ = ["imgaug", "iaa"]
