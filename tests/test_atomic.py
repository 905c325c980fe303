"""Atomic writes: strict JSON that any tool reads, and a full disk reported with the file it was writing."""
from __future__ import annotations

import errno
import json
import math
from pathlib import Path

import pytest

from base.atomic import write_json_atomic, write_text_atomic


def test_json_files_hold_null_where_a_figure_is_not_finite(tmp_path: Path) -> None:
    path = write_json_atomic(tmp_path / "metrics.json", {"best_val_loss": math.inf, "autonomy": -math.inf,
                                                         "per_seed": [1.5, math.nan, {"x": (math.inf, 2)}], "n": 3})
    text = path.read_text()
    assert "Infinity" not in text and "NaN" not in text
    strict = json.loads(text, parse_constant=lambda name: pytest.fail(f"{name} in a JSON file"))
    assert strict == {"best_val_loss": None, "autonomy": None, "per_seed": [1.5, None, {"x": [None, 2]}], "n": 3}


def test_a_full_disk_names_the_file_being_written_not_the_temp_file(tmp_path: Path, monkeypatch) -> None:
    target = tmp_path / "progress.json"
    write_text_atomic(target, "before")

    def no_space(self, text, encoding=None):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Path, "write_text", no_space)
    with pytest.raises(OSError) as full:
        write_json_atomic(target, {"epochs_done": 2})
    assert full.value.errno == errno.ENOSPC and full.value.filename == str(target)
    monkeypatch.undo()
    assert target.read_text() == "before" and [p.name for p in tmp_path.iterdir()] == ["progress.json"]
