"""TensorFlow without its start-up noise: `base` imports this module, so every entry point does before TensorFlow.

Measured with TensorFlow 2.21 on machines without a GPU (2026-11-27, and 2026-12-02 for oneDNN):

- `TF_CPP_MIN_LOG_LEVEL=2` (set here unless the user set it) hides TensorFlow's info and warning
  logs (e.g. the CPU features it was not built for) and keeps its errors.
- It does not hide the lines TensorFlow's native libraries log before absl is initialised, whatever
  the level (0–3), each after absl's "All log messages before absl::InitializeLog() is called are
  written to STDERR": "oneDNN custom operations are on" (port.cc, INFO, twice: libtensorflow_framework
  and the profiler plugin log it through their own copies of absl) and, without a GPU, "Could not find
  cuda drivers on your machine" (cudart_stub.cc, INFO). Nor "failed call to cuInit: ... (303)", logged
  as an ERROR by the first device query without a GPU: only level 3 hides that, and level 3 hides
  every real error too. `CUDA_VISIBLE_DEVICES` (empty or -1) changes none of these lines, and
  `TF_ENABLE_ONEDNN_OPTS=0`, which would drop the oneDNN line, also turns oneDNN off (bfloat16 on AMX).

So the first `import tensorflow` (whoever imports it: Keras, tf2onnx, our code) and the first device
query, which it runs at once, write to a temporary file instead of the process's stderr (file
descriptor 2, where the native libraries write); afterwards every line but those known ones goes to
stderr, in order. With `TF_CPP_MIN_LOG_LEVEL` 0 or 1 (what `--verbose` sets) the user asked for
TensorFlow's logs and nothing is filtered.
"""
from __future__ import annotations

import argparse
import contextlib
import importlib.util
import os
import re
import sys
from types import ModuleType
from typing import TYPE_CHECKING, Iterator

if TYPE_CHECKING:
    from importlib.machinery import ModuleSpec

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

NOISE = re.compile(
    r"WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR"
    r"|port\.cc:\d+\] oneDNN custom operations are on\."
    r"|cudart_stub\.cc:\d+\] Could not find cuda drivers on your machine, GPU will not be used"
    r"|cuda_platform\.cc:\d+\] failed call to cuInit: "
    r"|^INFO: Created TensorFlow Lite XNNPACK delegate for CPU\.$")  # LiteRT, once per interpreter


def has_gpu() -> bool:
    """Whether this machine shows an NVIDIA device (Linux, or WSL2's GPU bridge)."""
    try:
        devices = os.listdir("/dev")
    except OSError:  # Windows, or no /dev: no CUDA device TensorFlow could use
        return False
    return "dxg" in devices or any(re.fullmatch(r"nvidia\d+", name) for name in devices)


def filtering() -> bool:
    """Whether TensorFlow's start-up lines are dropped in this process."""
    return os.environ.get("TF_CPP_MIN_LOG_LEVEL") not in ("0", "1")


def add_verbose_flag(parser: argparse.ArgumentParser) -> None:
    """A command's `--verbose`: TensorFlow logs everything it logs (parsed before TensorFlow is imported)."""
    parser.add_argument("--verbose", action=_Verbose, nargs=0, default=False,
                        help="also show TensorFlow's own log lines (oneDNN, devices, start-up)")


class _Verbose(argparse.Action):
    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: object,
                 option_string: str | None = None) -> None:
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = "0"
        setattr(namespace, self.dest, True)


@contextlib.contextmanager
def stderr_without_noise() -> Iterator[None]:
    """Everything written to file descriptor 2 inside the block reaches it afterwards, but `NOISE`."""
    import tempfile  # here, not at the top: every command line imports this module, few need this

    sys.stderr.flush()
    try:
        saved = os.dup(2)
    except OSError:  # no stderr at all (a detached process): nothing to filter
        yield
        return
    with tempfile.TemporaryFile() as capture:  # a file, not a pipe: no reader needed, no size limit
        os.dup2(capture.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            kept = [line for line in capture.read().splitlines(keepends=True)
                    if not NOISE.search(line.decode("utf-8", errors="replace").rstrip("\r\n"))]
            with open(2, "wb", closefd=False) as stderr:
                stderr.write(b"".join(kept))


class _QuietLoader:  # duck-typed, as importlib allows: importlib.abc alone would cost 20 ms of start-up
    """TensorFlow's own loader, run inside `stderr_without_noise` together with the first device query."""

    def __init__(self, loader: object) -> None:
        self._loader = loader

    def create_module(self, spec: ModuleSpec) -> ModuleType | None:
        return self._loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        with stderr_without_noise():
            self._loader.exec_module(module)
            module.config.list_physical_devices()  # where cuInit is called and fails

    def __getattr__(self, name: str) -> object:  # resources, get_data, ...: TensorFlow's loader answers
        return getattr(self._loader, name)


class _QuietFinder:
    def find_spec(self, name: str, path: object = None, target: object = None) -> ModuleSpec | None:
        if name != "tensorflow":
            return None
        sys.meta_path.remove(self)  # only the first import; and find_spec below must not find us again
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.loader is not None and filtering():
            spec.loader = _QuietLoader(spec.loader)
        return spec


if "tensorflow" not in sys.modules and not any(isinstance(f, _QuietFinder) for f in sys.meta_path):
    sys.meta_path.insert(0, _QuietFinder())
