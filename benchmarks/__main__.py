"""Every figure of the project in one table: `python -m benchmarks [--quick] [--model RUN_OR_FILE] [--markdown PAGE]`.

Start-up times of the command lines (`--help`, argument errors) and of the drive server (process
start to first answered frame), input pipeline and training images/s, training images/s in float32 and
mixed bfloat16 (and which one `--precision auto` picks here), drive round-trip latency
(each beside the classic approach, measured in the same run), renderer frames/s, the pixel error of
synthesised viewpoints (beside not moving the camera), replay steps/s (beside the naive loop), the
cost of saliency (beside the forward pass and the gradient) and what it means (with `--model`, default
`models/latest`). How models drive is measured by the studies (`python -m studies.<name>`). `--markdown docs/benchmarks.md` also writes the table, with the
date and machine of the run, into that page between its two marker lines.
"""
from __future__ import annotations

import argparse
import datetime
import importlib
import inspect
import sys
import time
from pathlib import Path

from benchmarks import ROOT
from benchmarks.table import BEGIN, END, load, machine, markdown, write_into_page

# Imported one at a time when their turn comes: `--help` answers at once, without TensorFlow.
SECTIONS = [
    ("start-up", "benchmarks.startup"),
    ("input pipeline & training", "benchmarks.input_pipeline"),
    ("training precision", "benchmarks.precision"),
    ("drive server", "benchmarks.drive_latency"),
    ("drive start-up", "benchmarks.drive_startup"),
    ("renderer", "benchmarks.renderer"),
    ("view synthesis", "benchmarks.viewpoint"),
    ("replay", "benchmarks.replay_speed"),
    ("saliency", "benchmarks.saliency"),
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer repetitions (a smoke run, noisier figures)")
    parser.add_argument("--model", type=Path, default=ROOT / "models" / "latest",
                        help="trained model or run folder whose saliency is judged (default: models/latest)")
    parser.add_argument("--markdown", type=Path, metavar="PAGE",
                        help=f"also write the table into PAGE (e.g. docs/benchmarks.md) between its lines {BEGIN} and {END}")
    args = parser.parse_args()
    if args.markdown:  # a page without its markers fails now, not after the run
        try:
            write_into_page(args.markdown, "(being measured)", dry_run=True)
        except (OSError, ValueError) as e:
            parser.error(str(e))

    started, load_before = time.monotonic(), load()

    rows: list[dict] = []
    for name, module in SECTIONS:
        print(f"running {name} …", file=sys.stderr, flush=True)
        run = importlib.import_module(module).run
        given = {"model": args.model} if "model" in inspect.signature(run).parameters else {}  # saliency's meaning
        rows += [row | {"section": name} for row in run(quick=args.quick, **given)]

    minutes, seconds = divmod(round(time.monotonic() - started), 60)
    table = markdown(rows, ours="this project", classic="classic approach")
    when = (f"Measured on {datetime.date.today()} on {machine()}, in {minutes} min {seconds} s"
            f"{' (a --quick run: fewer repetitions, noisier figures)' if args.quick else ''}; {load_before}"
            f" at the start and {load()} at the end (other work on the machine slows every figure).")
    print(f"{when}\n\n{table}")
    if args.markdown:
        write_into_page(args.markdown, f"{when}\n\n{table}")
        print(f"wrote the table into {args.markdown}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
