"""benchmarks.fit_scaling's repeated data: each copy is read as recordings of their own, none dropped as copies."""
from __future__ import annotations

from base.logs import scan_recordings, select_rows
from benchmarks.fit_scaling import RECORDINGS, repeated


def test_the_recordings_repeated_twice_are_twice_the_rows_with_other_image_paths(realdata, tmp_path):
    once = select_rows(scan_recordings([str(folder) for folder in repeated(tmp_path / "once", 1)]), False)
    twice = select_rows(scan_recordings([str(folder) for folder in repeated(tmp_path / "twice", 2)]), False)
    assert len(once) > 4000 and len(twice) == 2 * len(once)
    assert twice["center"].nunique() == len(twice)  # other files to training: decoded and held again
    assert sorted(p.name for p in (tmp_path / "twice").iterdir()) == sorted(f"{n}_{i}" for n in RECORDINGS for i in (0, 1))
    assert all((realdata / name / "driving_log.csv").is_file() for name in RECORDINGS)  # the originals untouched
