"""`python -m evaluate RECORDING [RECORDING ...] MODEL [--held-out] [--rule line|road] [--report R.json] [--plot P.png] [--video V.mp4]`

The command line of `evaluate.report`. Drives MODEL closed-loop on recorded footage (`evaluate.replay`: NVIDIA's DAVE-2 method) and scores it as
`sim.drive` scores the headless simulator: every departure from the recorded path by more than
`--max-offset` metres (or 20° of heading) is an intervention (`--rule line`; with `--rule road`, a
tyre leaving the drivable surface), autonomy = 1 − interventions × 6 s / driven time. Zero steering and the recorded human are replayed the same way beside it. MODEL is
anything `drive.py` drives and runs through the same runtime (`base.runtime`).

    python -m evaluate data/lake1 models/latest
    python -m evaluate data/lake1 data/lake2 models/latest --held-out   # only the run's test rows
    python -m evaluate data/jungle models/latest --max-offset 2 --plot replay.png --video replay.mp4
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Sequence

from base.arguments import positive_float
from base.logs import LogError
from base.quiet_tensorflow import add_verbose_flag
from base.split import SplitError
from evaluate.replay import ReplayError
from evaluate.report import Outputs, replay_recordings
from evaluate.rule_choice import RuleChoice
from evaluate.rules import RULE_NAMES, LineRule


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m evaluate",
        description="Drive a model closed-loop on recorded footage (synthesised viewpoints) and score it like "
                    "sim.drive, beside zero steering and the recorded human.",
        epilog="example: python -m evaluate data/lake1 models/latest --plot replay.png")
    parser.add_argument("paths", nargs="+", metavar="RECORDING ... MODEL",
                        help="one or more recording folders (driving_log.csv beside IMG/), then the model: a run "
                             "folder or a .keras/.h5/.onnx/.tflite file")
    parser.add_argument("--held-out", action="store_true",
                        help="replay only the test rows of the run (MODEL, a run folder): the blocks it held out of "
                             "training that chose nothing either (a run without test blocks, made before them or with --test-share 0: "
                             "all its held-out rows)")
    parser.add_argument("--rule", choices=RULE_NAMES, default="road",
                        help="what counts as an intervention: a tyre leaving the drivable surface (road, Udacity's "
                             "test), or leaving the recorded driver's line by --max-offset or 20° of heading (line, "
                             "NVIDIA's; default %(default)s)")
    parser.add_argument("--max-offset", type=positive_float, default=LineRule().max_offset_m,
                        help="with --rule line: metres off the recorded path that count as an intervention "
                             "(default %(default)s, NVIDIA's rule)")
    parser.add_argument("--report", type=Path, help="write the report as JSON here")
    parser.add_argument("--plot", type=Path, help="draw offset and steering over time into this PNG")
    parser.add_argument("--video", type=Path, help="write the views the model saw into this MP4")
    add_verbose_flag(parser)
    args = parser.parse_args(argv)
    if len(args.paths) < 2:
        parser.error("pass at least one recording and then the model")
    *recordings, model = args.paths
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    from base.modelfile import ModelLoadError

    try:
        result = replay_recordings(recordings, model, RuleChoice(args.rule, args.max_offset), args.held_out,
                                   Outputs(args.report, args.plot, args.video))
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
          f"{' (test rows)' if result['held_out'] else ''}, rule: {result['rule']}, "
          f"{result['elapsed_s']:.0f} s driven in {result['segments']} segment(s):")
    print(f"  {'':<15} {'autonomy':>9} {'interventions':>13} {'per min':>8} {'mean |offset|':>14} {'max':>6} "
          f"{'min margin':>11} {'beyond evidence':>15} {'if charged':>10}")
    for name, r in rows:
        print(f"  {name:<15} {r['autonomy_percent']:>8.1f}% {r['interventions']:>13} {r['interventions_per_min']:>8.2f} "
              f"{r['mean_abs_offset_m']:>12.2f} m {r['max_abs_offset_m']:>5.2f} {r['min_margin_m']:>9.2f} m "
              f"{r['beyond_evidence']:>15} {r['autonomy_unproven_charged_percent']:>9.1f}%")


if __name__ == "__main__":
    sys.exit(main())
