"""Every command line answers `--help` and argument or path errors before TensorFlow or Keras is imported:
one `error:` line that names the cause, exit status 2, no traceback. (Their times are in
`python -m benchmarks`, section "start-up".)"""
from __future__ import annotations

import json
import subprocess
import sys
import zipfile

import pytest

from base.processes import ROOT

HEAVY = ("tensorflow", "keras", "onnxruntime", "eventlet", "scipy", "matplotlib")
# Runs one command line in a fresh interpreter and reports, after it exits, which heavy modules it imported.
PROBE = """
import json, runpy, sys
target, *sys.argv[1:] = sys.argv[1:]
try:
    if target.endswith(".py"):
        sys.argv[0] = target
        runpy.run_path(target, run_name="__main__")
    else:
        runpy.run_module(target, run_name="__main__", alter_sys=True)
    code = 0
except SystemExit as e:
    code = e.code
sys.stdout.flush()
print(json.dumps({"imported": sorted(m for m in %r if m in sys.modules)}), file=sys.stderr)
sys.exit(code)
""" % (HEAVY,)


def run(target: str, *args: str) -> tuple[int, str, str, list[str]]:
    """Exit status, stdout, stderr (without the probe's line) and the heavy modules imported."""
    done = subprocess.run([sys.executable, "-c", PROBE, target, *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    *err, probe = done.stderr.splitlines()
    return done.returncode, done.stdout, "\n".join(err), json.loads(probe)["imported"]


@pytest.fixture(scope="module")
def paths(tmp_path_factory) -> dict[str, str]:
    folder = tmp_path_factory.mktemp("startup")
    (folder / "model.keras").write_text("this is text, not a zip archive\n")
    (folder / "a_file").write_text("")
    (folder / "empty").mkdir()
    (folder / "cut").mkdir()
    with zipfile.ZipFile(folder / "cut" / "model.keras", "w") as archive:  # a .keras file's shape, then cut off
        archive.writestr("model.weights.h5", bytes(range(256)) * 64)
    whole = (folder / "cut" / "model.keras").read_bytes()
    (folder / "cut" / "model.keras").write_bytes(whole[: len(whole) // 2])
    return {"text_model": str(folder / "model.keras"), "file": str(folder / "a_file"), "empty": str(folder / "empty"),
            "missing": str(folder / "missing"), "cut_model": str(folder / "cut" / "model.keras")}


HELP = ["drive.py", "training.fit", "training.inspect", "training.rmse", "training.export", "sim.drive",
        "sim.record", "sim.demo", "drive.video", "benchmarks"]


@pytest.mark.parametrize("target", HELP)
def test_help_without_tensorflow(target):
    code, out, err, imported = run(target, "--help")
    assert code == 0 and "usage:" in out, err
    assert not {"tensorflow", "keras"} & set(imported)


ERRORS = [  # (command line, words the one error line holds); {name} is a path from the fixture
    (["drive.py", "{missing}", "--port", "70000"], "port from 1 to 65535, not 70000"),
    (["drive.py", "{missing}", "--port", "-1"], "port from 1 to 65535, not -1"),
    (["drive.py", "{missing}.keras"], "does not exist"),
    (["drive.py", "{text_model}"], "is not a model file: a .keras model is a zip archive, and this file holds text"),
    (["drive.py", "{empty}"], "folder without model.keras"),
    (["drive.py", "{cut_model}"], "is a truncated model file: it starts as a zip archive (a .keras model is one) but "
                                  "ends after 8"),
    (["drive.py", "{text_model}", "--speed", "0"], "--speed 0.0 must be positive"),
    (["training.fit", "--epochs", "0"], "--epochs must be at least 1, not 0"),
    (["training.fit", "--val-fraction", "0"], "--val-fraction must be between 0 and 1"),
    (["training.fit", "--batch-size", "0"], "--batch-size must be at least 1, not 0"),
    (["training.fit", "--data", "{missing}"], "does not exist"),
    (["training.fit", "--out", "{file}/models"], "is a file, not a folder"),
    (["training.fit", "--resume", "{missing}"], "no such folder"),
    (["training.fit", "--config", "{missing}.json"], "does not exist"),
    (["training.inspect", "{missing}"], "does not exist"),
    (["training.rmse", "{text_model}", "{empty}"], "is not a model file"),
    (["training.export", "{missing}", "--format", "onnx"], "does not exist"),
    (["sim.drive", "--port", "70000"], "port from 1 to 65535"),
    (["sim.drive", "--track", "nowhere"], "unknown track 'nowhere': use one of lake, mountain"),
    (["sim.drive", "--connect-timeout", "0"], "must be positive"),
    (["sim.record", "--track", "nowhere", "--out", "{empty}"], "unknown track 'nowhere'"),
    (["sim.record", "--out", "{file}"], "is a file: pass a folder"),
    (["sim.record", "--out", "{empty}", "--laps", "0"], "must be positive"),
    (["drive.video", "{missing}"], "is not a folder"),
]


@pytest.mark.parametrize("argv, words", ERRORS, ids=[" ".join(argv) for argv, _ in ERRORS])
def test_argument_errors_are_one_line_without_tensorflow(argv, words, paths):
    code, _, err, imported = run(*[arg.format(**paths) for arg in argv])
    assert code == 2, err
    lines = err.splitlines()
    assert "Traceback" not in err and lines and "error: " in lines[-1], err
    assert words.format(**paths) in lines[-1]
    assert not {"tensorflow", "keras"} & set(imported)


def test_a_host_that_does_not_resolve_is_named_before_the_model_loads(paths, tmp_path):
    import zipfile

    zipfile.ZipFile(tmp_path / "model.keras", "w").close()  # passes the quick check; loading it would fail
    code, _, err, imported = run("drive.py", str(tmp_path), "--host", "no-such-host.invalid")
    assert code == 2 and err.startswith("error: --host no-such-host.invalid is not an IPv4 address"), err
    assert "127.0.0.1" in err and not {"tensorflow", "keras", "eventlet"} & set(imported)
