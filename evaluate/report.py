"""The replay of a model on recordings, as a report: `python -m evaluate`'s work without its command line.

Drives MODEL closed-loop on recorded footage (`evaluate.replay`: NVIDIA's DAVE-2 method) and scores
it as `sim.drive` scores the headless simulator: every time the rule (`evaluate.rules`: by default
leaving the recorded path by more than `max_offset_m` or 20° of heading) finds the car out is an
intervention, autonomy = 1 − interventions × 6 s / driven
time. Zero steering and the recorded human are replayed the same way beside it. MODEL is anything
`drive.py` drives and runs through the same runtime (`base.runtime`).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np
from tqdm import tqdm

from base.atomic import write_json_atomic
from base.logs import LogError, scan_recordings
from base.split import SplitError, held_out_rows
from evaluate.replay import LOCKSTEP, Footage, ModelPolicy, RecordedSteering, ReplayError, Trace, ZeroSteering, replay
from evaluate.rule_choice import RuleChoice
from evaluate.rules import Rule

if TYPE_CHECKING:
    from base.runners import Runner

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outputs:
    """Where the replay's files go (None: not written)."""

    report: Path | None = None  # JSON
    plot: Path | None = None  # PNG
    video: Path | None = None  # MP4 of the views the model saw

    def make_folders(self) -> None:
        for path in (self.report, self.plot, self.video):
            if path:  # made now, so a finished replay is never lost to a missing folder
                Path(path).parent.mkdir(parents=True, exist_ok=True)


def replay_recordings(recordings: Sequence[str | Path], model: str | Path, choice: RuleChoice = RuleChoice(),
                      held_out: bool = False, outputs: Outputs = Outputs(), progress: bool = True) -> dict:
    """Replay `model` on `recordings` (all rows, or with `held_out` the run's test rows).

    Returns the report; raises LogError, SplitError, ReplayError or ModelLoadError (one-line messages).
    """
    from base.runtime import load_runner  # ONNX Runtime (and for Keras files TensorFlow) only once the footage reads

    footage = _footage(recordings, model, held_out)
    rule = choice.build(footage)
    runner = load_runner(model)
    outputs.make_folders()
    model_trace = _drive(footage, runner, rule, outputs.video, progress)
    zero, recorded = replay(footage, ZeroSteering(), rule), replay(footage, RecordedSteering(footage), rule)
    result = {
        **model_trace.report(),
        "model": str(model),
        "runtime": runner.source,
        "recordings": [str(r) for r in recordings],
        "held_out": held_out,
        "max_offset_m": getattr(rule, "max_offset_m", None),
        "max_heading_error_deg": getattr(rule, "max_heading_error_deg", None),
        "segments": len(footage.segments),
        "cameras": footage.cameras,
        "steering_correlation": _correlation(model_trace.steering, model_trace.recorded),
        "references": {"zero_steering": zero.report(), "recorded": recorded.report()},
    }
    log.info("replay: %s", result)
    if outputs.report:
        write_json_atomic(outputs.report, result)
    if outputs.plot:
        from evaluate.replay_plot import plot_replay  # matplotlib only when a plot is asked for

        plot_replay(model_trace, zero, result, result["max_offset_m"], " + ".join(Path(r).name for r in recordings),
                    outputs.plot)
    return result


def _footage(recordings: Sequence[str | Path], model: str | Path, held_out: bool) -> Footage:
    footage = Footage.from_rows(_rows(recordings, model, held_out))
    if not footage.segments:
        raise ReplayError("the recording never moves for two frames in a row (standstill or gaps over "
                          "1 s throughout): record some driving")
    if footage.cameras == ["center"]:
        log.warning("no side camera frames: every view is synthesised from the centre camera, which gets "
                    "blurrier and less true the further the car is off the path")
    if not footage.timed:
        log.warning("frame names carry no time stamps: assuming the recording's rows are 0.1 s apart")
    return footage


def _drive(footage: Footage, runner: Runner, rule: Rule, video: Path | None, progress: bool) -> Trace:
    """The model's replay, its segments in lockstep; with `video`, one after another (the frames in order)."""
    writer = None
    if video:
        from evaluate.mp4 import ReplayVideo, video_saliency  # OpenCV's video writer only for a video

        writer = ReplayVideo(video, video_saliency(runner), getattr(rule, "surface", None))
    frames = sum(last - first for first, last in footage.segments)
    try:
        with tqdm(total=frames, unit="step", desc="replaying", disable=not progress) as bar:
            def on_step(trace: Trace, row: int, view: np.ndarray | None) -> None:
                bar.update()
                if writer and view is not None:
                    writer.add(view, trace)
            trace = replay(footage, ModelPolicy(runner.predict), rule, lockstep=1 if writer else LOCKSTEP,
                           whole_views=bool(writer), on_step=on_step)
    except BaseException:
        if writer:
            writer.discard()
        raise
    if writer:
        writer.close()
    return trace


def _rows(recordings: Sequence[str | Path], model: str | Path, held_out: bool):
    if held_out:
        if not Path(model).is_dir():
            raise SplitError(f"--held-out needs a run folder (it keeps split.json), not {model}")
        return held_out_rows(Path(model), list(recordings), blocks="test")
    import pandas as pd

    parts = []
    for rec in scan_recordings(recordings):
        rows = rec.rows
        centre_there = np.array([Path(p).is_file() for p in rows["center"]])
        if not centre_there.any():
            raise LogError(f"none of the {len(rows)} centre-camera frames of {rec.log} exist: restore {rec.log.parent / 'IMG'}")
        if not centre_there.all():
            log.warning("%s: skipping %d rows whose centre frame is missing", rec.log, int((~centre_there).sum()))
        parts.append(rows[centre_there])
    return pd.concat(parts, ignore_index=True)


def _correlation(a: list[float], b: list[float]) -> float | None:
    if len(a) < 2 or np.std(a) == 0 or np.std(b) == 0:
        return None
    return round(float(np.corrcoef(a, b)[0, 1]), 3)
