"""TensorFlow's no-GPU start-up lines are gone from every entry point; every other line stays."""
from __future__ import annotations

import os
import platform
import re
import subprocess
import sys

import pytest
from fit_helpers import fit_args, save_untrained_model
from recordings import write_log

from base.processes import ROOT
from base.quiet_tensorflow import NOISE, has_gpu, stderr_without_noise

# Verbatim from TensorFlow 2.21 on this project's 2-core machine without a GPU.
ABSL_NOTE = b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n"
NO_DRIVERS = (b"I0000 00:00:1796154911.659358    5973 cudart_stub.cc:31] Could not find cuda drivers on your "
              b"machine, GPU will not be used.\n")
CU_INIT = (b"E0000 00:00:1796154916.792335    5973 cuda_platform.cc:52] failed call to cuInit: INTERNAL: CUDA "
           b"error: Failed call to cuInit: UNKNOWN ERROR (303)\n")
XNNPACK = b"INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\n"
REAL_ERROR = b"E0000 00:00:1796154916.800000    5973 op_kernel.cc:1857] OP_REQUIRES failed: a real error\n"
ONEDNN = (b"I0000 00:00:1796395298.400574    3079 port.cc:153] oneDNN custom operations are on. You may see slightly "
          b"different numerical results due to floating-point round-off errors from different computation orders. To "
          b"turn them off, set the environment variable `TF_ENABLE_ONEDNN_OPTS=0`.\n")
USE_TENSORFLOW = "import keras; keras.ops.ones(1)"  # import, then the first device query and op
TENSORFLOW_LOG = re.compile(r"^[IWE]\d{4} \d\d:\d\d:[\d.]+ +\d+ \S+:\d+\]|^WARNING: All log messages before absl")
# TensorFlow's x86-64 builds use oneDNN and say so at import, GPU or not.
ONEDNN_BUILD = platform.machine().lower() in ("x86_64", "amd64")


def tensorflow_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if TENSORFLOW_LOG.search(line)]


def test_only_the_known_lines_are_dropped_in_order(capfd):
    with stderr_without_noise():
        os.write(2, ABSL_NOTE + ONEDNN + NO_DRIVERS + b"first\n" + ABSL_NOTE + ONEDNN + NO_DRIVERS)
        os.write(2, CU_INIT + XNNPACK + REAL_ERROR + b"INFO: Created TensorFlow Lite XNNPACK delegate for CPU. kept\n")
        os.write(2, b"last, without a line end")
    assert capfd.readouterr().err == ("first\n" + REAL_ERROR.decode() + "INFO: Created TensorFlow Lite XNNPACK delegate "
                                      "for CPU. kept\n" + "last, without a line end")


def test_the_block_leaves_stderr_as_it_found_it(capfd):
    with pytest.raises(ZeroDivisionError):
        with stderr_without_noise():
            os.write(2, CU_INIT + b"kept before the error\n")
            raise ZeroDivisionError
    os.write(2, b"after\n")
    assert capfd.readouterr().err == "kept before the error\nafter\n"


@pytest.mark.skipif(has_gpu(), reason="on a machine with a GPU TensorFlow prints none of these lines")
def test_tensorflow_prints_the_lines_and_an_entry_point_imports_it_without_them():
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    runs = {name: subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                                 timeout=120)
            for name, code in [("bare", USE_TENSORFLOW), ("quiet", f"import base.quiet_tensorflow; {USE_TENSORFLOW}")]}
    assert all(run.returncode == 0 for run in runs.values()), runs
    assert "failed call to cuInit" in runs["bare"].stderr and "Could not find cuda drivers" in runs["bare"].stderr
    assert not [line for line in runs["quiet"].stderr.splitlines() if NOISE.search(line)], runs["quiet"].stderr
    assert "cuda" not in runs["quiet"].stderr.lower()


def test_training_prints_none_of_tensorflows_log_lines(tmp_path):
    """A real `training.fit` in its own process, as a user runs it: our lines only, from the first."""
    write_log(tmp_path / "rec")
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    done = subprocess.run([sys.executable, "-m", "training.fit", *fit_args(tmp_path / "rec", tmp_path / "models")],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert "kept model:" in done.stdout
    assert not [line for line in (done.stdout + done.stderr).splitlines()
                if line.startswith(("I0000", "W0000", "E0000", "WARNING: All log messages"))], done.stderr
    assert tensorflow_lines(done.stderr) == [], done.stderr


@pytest.mark.skipif(not ONEDNN_BUILD, reason="TensorFlow logs its oneDNN line at import only on x86-64")
def test_verbose_shows_tensorflows_lines_the_default_hides(tmp_path):
    write_log(tmp_path / "rec")
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    # Each run converts a model of its own: a second run would drive the ONNX file the first kept beside
    # it, without importing TensorFlow at all (nothing to hide or show).
    for name in ("quiet", "verbose"):
        (tmp_path / name).mkdir()
    models = {flags: save_untrained_model(tmp_path / ("verbose" if flags else "quiet"), seed=0)
              for flags in ((), ("--verbose",))}
    runs = {flags: subprocess.run([sys.executable, "-m", "training.rmse", str(model), str(tmp_path / "rec"),
                                   *flags], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
            for flags, model in models.items()}
    assert all(run.returncode == 0 for run in runs.values()), runs
    assert tensorflow_lines(runs[()].stderr) == [], runs[()].stderr
    assert any("oneDNN custom operations are on" in line for line in tensorflow_lines(runs[("--verbose",)].stderr))
