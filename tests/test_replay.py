"""The replay's closed loop: the integrator, the intervention rule, segments, and `python -m evaluate`."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fit_helpers import fit_args, save_untrained_model
from recordings import write_log

from base.kinematics import MPS_PER_MPH
from base.logs import read_recordings
from base.split import SplitError, held_out_rows
from evaluate import __main__ as replay_cli
from evaluate.replay import EVIDENCE_M, Footage, RecordedSteering, ReplayError, ZeroSteering, cut, replay
from evaluate.rules import CarState, LineRule

SPEED_MPH = 25.0


def rows(steering, speed_mph=SPEED_MPH, ms: list[int] | None = None, recording: str = "rec") -> pd.DataFrame:
    """Log rows 0.1 s apart (or at `ms` milliseconds) as base.logs reads them; the frames need not exist
    for policies that do not look."""
    steering = np.asarray(steering, dtype=float)
    ms = list(range(0, 100 * len(steering), 100)) if ms is None else ms
    names = [f"/nowhere/IMG/center_2026_01_01_00_{t // 60000:02d}_{t // 1000 % 60:02d}_{t % 1000:03d}.jpg" for t in ms]
    speed = np.broadcast_to(np.asarray(speed_mph, dtype=float), steering.shape)
    return pd.DataFrame({"center": names, "left": [n.replace("center_", "left_") for n in names],
                         "right": [n.replace("center_", "right_") for n in names], "steering": steering,
                         "throttle": 0.5, "brake": 0.0, "speed": speed, "recording": recording,
                         "row": np.arange(len(steering))})


class Constant:
    sees = False

    def __init__(self, value: float) -> None:
        self.value = value

    def __call__(self, views, rows, cars) -> np.ndarray:
        return np.full(len(rows), self.value)


CURVE = np.r_[np.zeros(50), np.full(100, 0.3), np.zeros(50)]  # straight, a right-hand bend, straight


def test_the_recorded_human_stays_on_the_path_and_zero_steering_leaves_it_in_the_bend():
    footage = Footage.from_rows(rows(CURVE))
    human = replay(footage, RecordedSteering(footage)).report()
    assert human["autonomy_percent"] == 100.0 and human["max_abs_offset_m"] < 1e-9
    zero = replay(footage, ZeroSteering())
    assert zero.report()["interventions"] > 0
    first = int(np.argmax(zero.intervened))
    assert 50 <= first < 150, "zero steering leaves the path in the bend, not on the straight"
    assert zero.offsets_m[first] < 0, "a car that does not turn right ends up left of a right-hand bend"


def test_on_a_straight_zero_steering_is_perfect():
    footage = Footage.from_rows(rows(np.zeros(100)))
    report = replay(footage, ZeroSteering()).report()
    assert report["autonomy_percent"] == 100.0 and report["max_abs_offset_m"] < 1e-9
    assert report["frames"] == 99 and report["elapsed_s"] == pytest.approx(9.9)


def test_an_intervention_is_counted_past_the_offset_limit_and_the_car_is_put_back():
    footage = Footage.from_rows(rows(np.zeros(300)))
    trace = replay(footage, Constant(0.02), LineRule(max_offset_m=1.0))
    hits = np.flatnonzero(trace.intervened)
    assert len(hits) >= 2
    offsets = np.abs(trace.offsets_m)
    assert np.all(offsets[hits] > 1.0) and np.all(offsets[~np.asarray(trace.intervened)] <= 1.0)
    assert offsets[hits[0] + 1] < 0.2, "after an intervention the car starts again from the path"
    report = trace.report()
    assert report["autonomy_percent"] == pytest.approx((1 - len(hits) * 6.0 / report["elapsed_s"]) * 100, abs=0.01)
    assert report["interventions_per_min"] == pytest.approx(len(hits) / report["elapsed_s"] * 60, abs=0.01)
    looser = replay(footage, Constant(0.02), LineRule(max_offset_m=2.0)).report()
    assert 0 < looser["interventions"] < len(hits)


def test_turning_too_far_off_the_paths_heading_is_an_intervention_before_the_offset_limit():
    footage = Footage.from_rows(rows(np.zeros(100)))
    trace = replay(footage, Constant(1.0), LineRule(max_offset_m=100.0, max_heading_error_deg=20.0))
    first = int(np.argmax(trace.intervened))
    assert trace.intervened[first] and abs(trace.headings_deg[first]) > 20.0
    assert abs(trace.headings_deg[first - 1]) <= 20.0


def test_gaps_standstills_and_row_breaks_restart_the_car_on_the_path():
    ms = [0, 100, 200, 300, 1600, 1700, 1800, 1900, 2000, 2100]  # a 1.3 s gap after row 3
    speed = [20, 20, 20, 20, 2, 2, 0.5, 0, 20, 20]  # slowing to a stand at row 7, then off again
    footage = Footage.from_rows(rows(np.zeros(10), speed, ms))
    assert footage.segments == [(0, 3), (4, 6), (7, 9)]  # a step counts when the car moves on average
    held = rows(np.zeros(20))
    held = held[(held["row"] < 8) | (held["row"] >= 12)]  # two held-out blocks of one recording
    assert Footage.from_rows(held).segments == [(0, 7), (8, 15)]


def test_a_segment_starts_again_on_the_path_after_a_gap():
    steering = np.r_[np.zeros(40), np.zeros(40)]
    ms = list(range(0, 4000, 100)) + list(range(6000, 10000, 100))
    footage = Footage.from_rows(rows(steering, ms=ms))
    trace = replay(footage, Constant(0.01), LineRule(max_offset_m=100.0))
    offsets = np.abs(trace.offsets_m)
    assert offsets[39] < offsets[38] and offsets[39] < 0.01, "the second segment starts on the path"


def test_frame_names_without_time_stamps_are_taken_as_ten_per_second():
    table = rows(np.zeros(20))
    table["center"] = [f"/nowhere/frame{i}.jpg" for i in range(20)]
    footage = Footage.from_rows(table)
    assert not footage.timed and footage.times_s[1] == pytest.approx(0.1)


def test_footage_without_frames_of_driving_is_refused():
    with pytest.raises(ReplayError):
        Footage.from_rows(rows(np.zeros(0)))


def test_the_line_rule_is_out_past_either_limit_and_its_margin_is_the_offsets_distance_to_it():
    state = CarState(rows=np.arange(4), along_m=np.zeros(4), lateral_m=np.array([0.2, -1.3, 0.5, 0.0]),
                     heading_rad=np.radians([0.0, 0.0, 25.0, -19.0]))
    out, margin = LineRule(max_offset_m=1.0, max_heading_error_deg=20.0).check(state)
    assert out.tolist() == [False, True, True, False]
    np.testing.assert_allclose(margin, [0.8, -0.3, 0.0, 1.0])
    assert LineRule(max_offset_m=2.0).name == "line 2 m"


class Looking(Constant):
    sees = True


class Wide:
    """A rule that judges by the frames (as the road's does) on a road wider than any camera sees."""

    name, needs_evidence = "wide", True

    def check(self, state: CarState) -> tuple[np.ndarray, np.ndarray]:
        return np.zeros(len(state.rows), bool), np.full(len(state.rows), 100.0)


def test_a_seeing_car_beyond_the_cameras_evidence_is_put_back_uncharged_and_counted(recording_and_model):
    recording, _ = recording_and_model
    footage = Footage.from_rows(read_recordings([recording]))
    assert footage.cameras == ["center", "left", "right"]
    trace = replay(footage, Looking(0.15), Wide())
    report = trace.report()
    assert report["interventions"] == 0 and report["beyond_evidence"] > 0
    assert report["autonomy_percent"] == 100.0 > report["autonomy_unproven_charged_percent"]
    first = trace.beyond_evidence.index(True)
    assert abs(trace.offsets_m[first]) > EVIDENCE_M + 0.8 - 0.5  # past the side camera's evidence, not before
    assert abs(trace.views[first + 1].shift.lateral_m) < 0.2, "the next view is synthesised from the path"
    blind = replay(footage, Constant(0.15), Wide()).report()
    assert blind["beyond_evidence"] == 0, "a policy that does not look needs no view"
    line = replay(footage, Looking(0.15), LineRule(max_offset_m=100.0, max_heading_error_deg=180.0)).report()
    assert line["beyond_evidence"] == 0, "a line rule judges geometry alone, as far as it reaches"
    strict = replay(footage, Looking(0.15), LineRule(max_offset_m=1.0)).report()
    assert strict["beyond_evidence"] == 0 and strict["interventions"] > 0 and strict["min_margin_m"] < 0
    assert strict["rule"] == "line 1 m"


@pytest.fixture(scope="module")
def recording_and_model(tmp_path_factory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("replay")
    write_log(folder / "rec", rows=60)
    return folder / "rec", save_untrained_model(folder, seed=0)


def test_the_cli_replays_a_recording_and_reports_the_model_beside_both_references(recording_and_model, tmp_path, capsys):
    recording, model = recording_and_model
    report, plot, video = tmp_path / "r.json", tmp_path / "r.png", tmp_path / "r.mp4"
    code = replay_cli.main([str(recording), str(model), "--report", str(report), "--plot", str(plot),
                            "--video", str(video), "--rule", "line", "--max-offset", "1.0"])
    assert code == 0
    result = json.loads(report.read_text())
    for fields in (result, result["references"]["zero_steering"], result["references"]["recorded"]):
        assert {"autonomy_percent", "interventions", "mean_abs_offset_m", "max_abs_offset_m", "elapsed_s", "frames",
                "interventions_per_min"} <= set(fields)
    assert result["references"]["recorded"]["autonomy_percent"] == 100.0
    assert result["max_offset_m"] == 1.0 and result["cameras"] == ["center", "left", "right"]
    assert result["rule"] == "line 1 m" and result["min_margin_m"] <= 1.0 and result["beyond_evidence"] == 0
    assert result["frames"] == 59
    assert plot.stat().st_size > 10_000 and video.stat().st_size > 10_000
    assert "zero steering" in capsys.readouterr().out


def test_the_cli_judges_by_the_road_by_default_the_human_on_it_and_zero_steering_off_it(recording_and_model, tmp_path):
    recording, model = recording_and_model
    report = tmp_path / "road.json"
    assert replay_cli.main([str(recording), str(model), "--report", str(report)]) == 0
    result = json.loads(report.read_text())
    assert result["rule"] == "road" and result["max_offset_m"] is None
    assert result["references"]["recorded"]["interventions"] == 0
    assert result["references"]["zero_steering"]["interventions"] > 0


def test_a_recording_without_side_frames_replays_from_the_centre_camera_and_says_so(recording_and_model, tmp_path, caplog):
    recording, model = recording_and_model
    centre_only = tmp_path / "centre_only"
    (centre_only / "IMG").mkdir(parents=True)
    lines = []
    for line in (recording / "driving_log.csv").read_text().splitlines():
        centre, _, _, *numbers = line.split(",")
        (centre_only / "IMG" / Path(centre).name).write_bytes(Path(centre).read_bytes())
        lines.append(",".join([str(centre_only / "IMG" / Path(centre).name)] * 3 + numbers))
    (centre_only / "driving_log.csv").write_text("\n".join(lines) + "\n")
    report = tmp_path / "r.json"
    assert replay_cli.main([str(centre_only), str(model), "--report", str(report)]) == 0
    assert json.loads(report.read_text())["cameras"] == ["center"]
    assert "synthesised from the centre camera" in caplog.text


class Looker:
    """A seeing policy whose steering depends on what its view shows (brighter right: steer right), and
    that counts how it is called."""

    sees = True

    def __init__(self) -> None:
        self.calls: list[int] = []

    def __call__(self, views, rows, cars) -> np.ndarray:
        self.calls.append(len(views))
        crop = views[:, 70:135].astype(float)
        return np.clip((crop[:, :, 160:].mean(axis=(1, 2, 3)) - crop[:, :, :160].mean(axis=(1, 2, 3))) / 40, -1, 1)


def test_stretches_cover_every_step_once_and_last_at_least_the_length_asked():
    footage = Footage.from_rows(rows(np.zeros(100), ms=list(range(0, 4000, 100)) + list(range(6000, 12000, 100))))
    spans = cut(footage, 1.5)
    steps = np.concatenate([np.arange(a, b) for a, b in spans])
    assert sorted(steps) == [r for first, last in footage.segments for r in range(first, last)]
    assert all(footage.times_s[b] - footage.times_s[a] >= 1.5 - 1e-9 for a, b in spans)
    assert len(spans) == 2 + 3 and cut(footage, None) == footage.segments  # 3.9 s → 2 stretches, 5.9 s → 3


def test_cars_in_lockstep_drive_exactly_as_each_would_alone_with_one_model_call_a_step(recording_and_model):
    recording, _ = recording_and_model
    footage = Footage.from_rows(read_recordings([recording]))
    rule = LineRule(max_offset_m=0.2)
    alone, together = Looker(), Looker()
    one_by_one = replay(footage, alone, rule, stretch_s=0.9, lockstep=1)
    lockstep = replay(footage, together, rule, stretch_s=0.9)
    spans = cut(footage, 0.9)
    assert len(spans) == 4 and one_by_one.report()["interventions"] > 0  # the views steer it off, and back
    for name in ("offsets_m", "headings_deg", "steering", "intervened", "margins_m", "times_s", "views"):
        assert getattr(lockstep, name) == getattr(one_by_one, name), name
    assert len(alone.calls) == sum(b - a for a, b in spans) and set(alone.calls) == {1}
    assert len(together.calls) == max(b - a for a, b in spans) and together.calls[0] == 4  # all cars, one call


@pytest.mark.parametrize("case", ["missing recording", "broken model", "no model"])
def test_bad_input_gets_one_line_and_exit_2(recording_and_model, tmp_path, capsys, case):
    recording, model = recording_and_model
    broken = tmp_path / "model.keras"
    broken.write_text("not a model")
    args = {"missing recording": [str(tmp_path / "nothing"), str(model)],
            "broken model": [str(recording), str(broken)],
            "no model": [str(recording), str(tmp_path / "absent.onnx")]}[case]
    assert replay_cli.main(args) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and len(err.splitlines()) == 1


def test_held_out_replays_exactly_the_rows_the_run_validated_on_and_refuses_a_changed_log(tmp_path):
    from training.fit import main as fit_main

    write_log(tmp_path / "rec", rows=40)
    assert fit_main(fit_args(tmp_path / "rec", tmp_path / "models")) == 0
    run = tmp_path / "models" / "latest"
    split = json.loads((run / "split.json").read_text())
    (entry,) = split["recordings"]
    held = held_out_rows(run)
    expected = np.concatenate([np.arange(a, b) for a, b in entry["held_out"]])
    assert held["row"].tolist() == expected.tolist() and 0 < len(held) < 40
    assert replay_cli.main([str(tmp_path / "rec"), str(run), "--held-out", "--report", str(tmp_path / "r.json")]) == 0
    assert json.loads((tmp_path / "r.json").read_text())["frames"] < 40 - 1

    log = tmp_path / "rec" / "driving_log.csv"
    log.write_text(log.read_text() + log.read_text().splitlines()[-1] + "\n")  # one more row appended
    with pytest.raises(SplitError, match="changed since"):
        held_out_rows(run)


def test_a_real_recording_replays_with_the_human_at_100_percent_and_zero_steering_far_below(realdata):
    footage = Footage.from_rows(read_recordings([realdata / "track2_jungle"]))
    assert footage.timed and footage.cameras == ["center", "left", "right"]
    human = replay(footage, RecordedSteering(footage)).report()
    zero = replay(footage, ZeroSteering()).report()
    assert human["autonomy_percent"] == 100.0
    assert zero["interventions_per_min"] > 10
    median_speed = float(np.median(footage.speeds_mps)) / MPS_PER_MPH
    assert 15 < median_speed < 35 and math.isclose(human["elapsed_s"], footage.driven_s, abs_tol=0.01)
