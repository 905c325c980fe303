"""The layers hold (import-linter's contracts in pyproject.toml) and ruff finds nothing, for the whole repository."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("base", "simulator_config", "evaluate", "training", "drive", "sim", "benchmarks", "studies")
CONTRACTS = 4


def lint_imports(folder: Path) -> subprocess.CompletedProcess:
    # The console script of the interpreter running the tests: the one requirements.txt installed.
    command = [str(Path(sys.executable).parent / "lint-imports"), "--no-cache"]
    return subprocess.run(command, cwd=folder, capture_output=True, text=True, timeout=300)


def test_training_drive_and_sim_import_only_base():
    done = lint_imports(ROOT)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert f"{CONTRACTS} kept, 0 broken" in done.stdout  # the contracts were found and checked


def test_a_forbidden_import_breaks_the_contracts(tmp_path):
    for package in PACKAGES:
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    frames = tmp_path / "base" / "frames.py"
    frames.write_text(frames.read_text() + "\nimport training.runs  # noqa: E402,F401\n")
    done = lint_imports(tmp_path)
    assert done.returncode != 0
    assert "base.frames -> training.runs" in done.stdout and f"0 kept, {CONTRACTS} broken" in done.stdout


def test_ruff_finds_nothing():
    done = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "."], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
