"""`python -m sim.replay RECORDING [RECORDING ...] MODEL [--held-out] [--report R.json] [--plot P.png] [--video V.mp4]`

Drives MODEL closed-loop on recorded footage (`base.replay`: NVIDIA's DAVE-2 method) and scores it as
`sim.drive` scores the headless simulator: every departure from the recorded path by more than
`--max-offset` metres (or 20° of heading) is an intervention, autonomy = 1 − interventions × 6 s /
driven time. Zero steering and the recorded human are replayed the same way beside it. MODEL is
anything `drive.py` drives and runs through the same runtime (`base.runtime`).

    python -m sim.replay data/lake1 models/latest
    python -m sim.replay data/lake1 data/lake2 models/latest --held-out   # only the rows the run validated on
    python -m sim.replay data/jungle models/latest --max-offset 2 --plot replay.png --video replay.mp4
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import cv2
import numpy as np
from tqdm import tqdm

from base.atomic import write_json_atomic
from base.logs import LogError, scan_recordings
from base.quiet_tensorflow import add_verbose_flag
from base.replay import Footage, ModelPolicy, RecordedSteering, ReplayError, Rules, Trace, ZeroSteering, replay
from base.split import SplitError, held_out_rows
from sim.arguments import positive_float

if TYPE_CHECKING:
    from base.runtime import Runner
    from base.saliency import Saliency

log = logging.getLogger(__name__)

VIDEO_SCALE = 2  # the 320×160 frames drawn at twice their size, so the numbers on them stay legible


def replay_recordings(recordings: Sequence[str | Path], model: str | Path, rules: Rules = Rules(),
                      held_out: bool = False, report: Path | None = None, plot: Path | None = None,
                      video: Path | None = None, progress: bool = True) -> dict:
    """Replay `model` on `recordings` (all rows, or with `held_out` the rows the run validated on).

    Returns the report; raises LogError, SplitError, ReplayError or ModelLoadError (one-line messages).
    """
    from base.runtime import load_runner  # ONNX Runtime (and for Keras files TensorFlow) only once the footage reads

    rows = _rows(recordings, model, held_out)
    footage = Footage.from_rows(rows)
    if not footage.segments:
        raise ReplayError("the recording never moves for two frames in a row (standstill or gaps over "
                          "1 s throughout): record some driving")
    if footage.cameras == ["center"]:
        log.warning("no side camera frames: every view is synthesised from the centre camera, which gets "
                    "blurrier and less true the further the car is off the path")
    if not footage.timed:
        log.warning("frame names carry no time stamps: assuming the recording's rows are 0.1 s apart")
    runner = load_runner(model)
    for path in (report, plot, video):
        if path:  # made now, so a finished replay is never lost to a missing folder
            Path(path).parent.mkdir(parents=True, exist_ok=True)
    frames = sum(last - first for first, last in footage.segments)
    writer = _Video(video, _video_saliency(runner)) if video else None
    try:
        with tqdm(total=frames, unit="step", desc="replaying", disable=not progress) as bar:
            def on_step(row: int, view: np.ndarray | None, trace: Trace) -> None:
                bar.update()
                if writer and view is not None:
                    writer.add(view, trace)
            model_trace = replay(footage, ModelPolicy(runner.predict_one), rules, whole_views=bool(writer),
                                 on_step=on_step)
    except BaseException:
        if writer:
            writer.discard()
        raise
    if writer:
        writer.close()
    zero, recorded = replay(footage, ZeroSteering(), rules), replay(footage, RecordedSteering(footage), rules)
    result = {
        **model_trace.report(),
        "model": str(model),
        "runtime": runner.source,
        "recordings": [str(r) for r in recordings],
        "held_out": held_out,
        "max_offset_m": rules.max_offset_m,
        "max_heading_error_deg": rules.max_heading_error_deg,
        "segments": len(footage.segments),
        "cameras": footage.cameras,
        "steering_correlation": _correlation(model_trace.steering, model_trace.recorded),
        "references": {"zero_steering": zero.report(), "recorded": recorded.report()},
    }
    log.info("replay: %s", result)
    if report:
        write_json_atomic(report, result)
    if plot:
        from sim.replay_plot import plot_replay  # matplotlib only when a plot is asked for

        plot_replay(model_trace, zero, result, rules.max_offset_m, " + ".join(Path(r).name for r in recordings), plot)
    return result


def _rows(recordings: Sequence[str | Path], model: str | Path, held_out: bool):
    if held_out:
        if not Path(model).is_dir():
            raise SplitError(f"--held-out needs a run folder (it keeps split.json), not {model}")
        return held_out_rows(Path(model), list(recordings))
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


def _video_saliency(runner: Runner) -> Saliency | None:
    """The model's saliency for the video; None, saying why, for a model without an ONNX form."""
    from base.saliency import SaliencyError, saliency_for

    try:
        return saliency_for(runner)
    except SaliencyError as e:
        log.warning("%s; the video shows no saliency", e)
        return None


class _Video:
    """The views the model saw, with its saliency (`base.saliency`), its offset and both steering values drawn on."""

    def __init__(self, path: Path, saliency: Saliency | None = None) -> None:
        from sim.images import VideoFile

        self.file = VideoFile(Path(path), fps=10.0, size=(320 * VIDEO_SCALE, 160 * VIDEO_SCALE))
        self.saliency = saliency

    def add(self, view: np.ndarray, trace: Trace) -> None:
        if self.saliency:
            from base.saliency import overlay

            view = overlay(view, self.saliency(view)[1])
        frame = cv2.resize(view, None, fx=VIDEO_SCALE, fy=VIDEO_SCALE, interpolation=cv2.INTER_NEAREST)
        offset, model, human = trace.offsets_m[-1], trace.steering[-1], trace.recorded[-1]
        colour = (255, 60, 60) if trace.intervened[-1] else (255, 255, 255)
        lines = [f"offset {offset:+.2f} m  heading {trace.headings_deg[-1]:+.1f} deg",
                 f"model {model:+.3f}   human {human:+.3f}",
                 f"interventions {sum(trace.intervened)}"]
        for i, text in enumerate(lines):
            cv2.putText(frame, text, (10, 24 + 24 * i), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (0, 0, 0), 3, cv2.LINE_AA)
            cv2.putText(frame, text, (10, 24 + 24 * i), cv2.FONT_HERSHEY_SIMPLEX, 0.6, colour, 1, cv2.LINE_AA)
        # Steering bars along the bottom: the human's in grey, the model's in blue.
        centre, half, y = frame.shape[1] // 2, frame.shape[1] // 2 - 10, frame.shape[0] - 14
        for value, tint, dy in ((human, (200, 200, 200), 0), (model, (60, 140, 255), 7)):
            cv2.line(frame, (centre, y + dy), (centre + int(value * half), y + dy), tint, 5)
        self.file.add(frame)

    def close(self) -> None:
        self.file.close()

    def discard(self) -> None:
        self.file.discard()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m sim.replay",
        description="Drive a model closed-loop on recorded footage (synthesised viewpoints) and score it like "
                    "sim.drive, beside zero steering and the recorded human.",
        epilog="example: python -m sim.replay data/lake1 models/latest --plot replay.png")
    parser.add_argument("paths", nargs="+", metavar="RECORDING ... MODEL",
                        help="one or more recording folders (driving_log.csv beside IMG/), then the model: a run "
                             "folder or a .keras/.h5/.onnx/.tflite file")
    parser.add_argument("--held-out", action="store_true",
                        help="replay only the rows the run (MODEL, a run folder) held out for validation")
    parser.add_argument("--max-offset", type=positive_float, default=Rules().max_offset_m,
                        help="metres off the recorded path that count as an intervention (default %(default)s, NVIDIA's rule)")
    parser.add_argument("--report", type=Path, help="write the report as JSON here")
    parser.add_argument("--plot", type=Path, help="draw offset and steering over time into this PNG")
    parser.add_argument("--video", type=Path, help="write the views the model saw into this MP4")
    add_verbose_flag(parser)
    args = parser.parse_args(argv)
    if len(args.paths) < 2:
        parser.error("pass at least one recording and then the model")
    *recordings, model = args.paths
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    from base.runtime import ModelLoadError

    try:
        result = replay_recordings(recordings, model, Rules(max_offset_m=args.max_offset), args.held_out,
                                   args.report, args.plot, args.video)
    except (LogError, SplitError, ReplayError, ModelLoadError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    _print_table(result)
    for flag, path in (("report", args.report), ("plot", args.plot), ("video", args.video)):
        if path:
            print(f"{flag}: {path}")
    return 0


def _print_table(result: dict) -> None:
    rows = [("model", result), ("zero steering", result["references"]["zero_steering"]),
            ("recorded human", result["references"]["recorded"])]
    print(f"replay of {result['model']} ({result['runtime']}) on {', '.join(result['recordings'])}"
          f"{' (held-out rows)' if result['held_out'] else ''}, |offset| > {result['max_offset_m']:g} m "
          f"= intervention, {result['elapsed_s']:.0f} s driven in {result['segments']} segment(s):")
    print(f"  {'':<15} {'autonomy':>9} {'interventions':>13} {'per min':>8} {'mean |offset|':>14} {'max':>6}")
    for name, r in rows:
        print(f"  {name:<15} {r['autonomy_percent']:>8.1f}% {r['interventions']:>13} {r['interventions_per_min']:>8.2f} "
              f"{r['mean_abs_offset_m']:>12.2f} m {r['max_abs_offset_m']:>5.2f}")


if __name__ == "__main__":
    sys.exit(main())
