"""The layers hold (import-linter's contracts in pyproject.toml) and ruff finds nothing, for the whole repository."""
from __future__ import annotations

import ast
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


PRODUCT = ("base", "simulator_config", "evaluate", "training", "drive", "sim")
MAX_LINES, MAX_PARAMETERS = 60, 8  # set-up code read top to bottom; a dataclass where more values travel together


def long_functions(folder: Path) -> list[str]:
    """Functions of the product over MAX_LINES lines (docstring included) or MAX_PARAMETERS parameters (self aside)."""
    found = []
    for package in PRODUCT:
        for path in sorted((folder / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    continue
                args = node.args
                named = [*args.posonlyargs, *args.args, *args.kwonlyargs]
                count = len(named) + (args.vararg is not None) + (args.kwarg is not None)
                count -= bool(named) and named[0].arg in ("self", "cls")
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_LINES or count > MAX_PARAMETERS:
                    found.append(f"{path.relative_to(folder)}:{node.lineno} {node.name}: {lines} lines, {count} parameters")
    return found


def test_no_product_function_is_over_60_lines_or_8_parameters():
    assert long_functions(ROOT) == []


def test_the_length_check_finds_a_long_function(tmp_path):
    (tmp_path / "base").mkdir(parents=True)
    body = "\n".join(f"    x{i} = {i}" for i in range(61))
    (tmp_path / "base" / "long.py").write_text(f"def long(a, b, c, d, e, f, g, h, i):\n{body}\n")
    assert long_functions(tmp_path) == ["base/long.py:1 long: 62 lines, 9 parameters"]
