"""`held_out_rows(..., empty_ok=True)`: a run that tested nothing of a recording gives no rows, not an error
(studies.real_replay reports such a set as empty); other faults of the split still raise."""
from __future__ import annotations

import pytest
from recordings import write_log

from base.logformat import LOG_NAME
from base.logs import read_recordings
from base.split import SplitError, held_out_rows, save_split


def test_no_test_rows_of_a_recording_are_none_and_a_changed_log_still_raises(tmp_path):
    first, second, run = tmp_path / "first", tmp_path / "second", tmp_path / "run"
    write_log(first, rows=30, seed=1)
    write_log(second, rows=30, seed=2)
    run.mkdir()
    rows = read_recordings([first, second])
    held = rows[rows["row"] < 10]
    save_split(run, rows, held[held["recording"] == str(first)], held[held["recording"] == str(second)])
    assert held_out_rows(run, [first], blocks="test", empty_ok=True).empty
    assert held_out_rows(run, [second], blocks="test", empty_ok=True)["row"].tolist() == list(range(10))
    with (first / LOG_NAME).open("a", encoding="utf-8") as log:
        log.write((first / LOG_NAME).read_text(encoding="utf-8").splitlines()[-1] + "\n")
    with pytest.raises(SplitError, match="changed since"):
        held_out_rows(run, [first], blocks="test", empty_ok=True)
