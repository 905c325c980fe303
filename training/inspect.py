"""`python -m training.inspect PATH...`: what the recordings hold and what training will make of them.

Reads the logs (no images decoded unless --plots), then prints per recording the rows and images
found or missing and the steering figures, and the sample counts after the validation split, the
side cameras and balancing — the same numbers `training.fit` will train on, with the same defaults.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any, Sequence

from training.config import HELP, TrainConfig, load_config
from training.options import add_knob


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    from base.logs import scan_recordings, select_rows  # pandas (0.4 s): not for --help
    from training.samples import prepare_samples, summarize

    try:
        config = load_config(data=args.paths or None, skip_missing=args.skip_missing, return_s=args.return_s,
                             label_lead_s=args.label_lead_s, bins=args.bins, bin_cap=args.bin_cap, seed=args.seed)
        recordings = scan_recordings(config.data)
        samples = prepare_samples(select_rows(recordings, config.skip_missing), config)
        summary = summarize(recordings, samples)
        if args.plots is not None:
            from training.dataplots import save_data_plots  # decodes images: only when asked for

            summary["plots"] = [str(path) for path in save_data_plots(samples, config, args.plots)]
    except ValueError as e:  # LogError and bad settings (config, split, bins)
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(json.dumps(summary, indent=2) if args.json else _report(summary, config))
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m training.inspect", description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="*", metavar="PATH",
                        help=f"{HELP['data']} (default: {' '.join(TrainConfig().data)})")
    parser.add_argument("--plots", type=Path, metavar="DIR",
                        help="write steering_histograms.png and augmentation_grid.png into DIR")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of the report")
    for knob in ("skip_missing", "return_s", "label_lead_s", "bins", "bin_cap", "seed"):  # the ones the counts depend on
        add_knob(parser, knob)
    return parser


def _report(summary: dict[str, Any], config: TrainConfig) -> str:
    from training.samples import NEAR_ZERO

    lines = [f"{'recording':<50} {'rows':>6} {'images':>7} {'missing':>7} {'damaged':>7} {'min':>6} {'max':>6} "
             f"{'mean':>7} {'~0':>5}"]
    for rec in summary["recordings"]:
        lines.append(f"{rec['folder']:<50} {rec['rows']:>6} {rec['images_found']:>7} {rec['images_missing']:>7} "
                     f"{rec['images_damaged']:>7} {_stats(rec['steering'])}")
        if rec["first_missing"]:
            lines.append(f"    first missing: {', '.join(rec['first_missing'])}")
        if rec["first_damaged"]:
            lines.append(f"    first damaged (JPEG cut off before its end marker): {', '.join(rec['first_damaged'])}")
    lines.append(f"{'all':<50} {summary['rows']:>6} {'':>7} {summary['images_missing']:>7} "
                 f"{summary['images_damaged']:>7} {_stats(summary['steering'])}")
    if summary["duplicate_rows"]:
        lines.append(f"{summary['duplicate_rows']} rows are exact copies of earlier rows: dropped before the split")
    balance = summary["balance"]
    sides = f"pure pursuit back to the path in {config.return_s:g} s"
    lines += [
        "",
        f"~0: share of rows with |steering| < {NEAR_ZERO} (centre camera); steering is normalised, + = right",
        f"rows used: {summary['rows_used']} → {summary['train_rows']} for training, {summary['val_rows']} for "
        f"validation and {summary['test_rows']} for test (held out in blocks of {config.val_block} rows, "
        f"{config.val_fraction:.0%}; of them {config.test_share:.0%} test)",
        f"training samples: {summary['samples_with_side_cameras']} with side cameras ({sides}) → "
        f"{summary['samples_after_balance']} after balancing ({len(balance['counts_before'])} bins, "
        f"cap {balance['cap']} per bin)",
        f"validation samples: {summary['val_samples']} (centre camera, not augmented)",
    ]
    lines += [f"plot: {path}" for path in summary.get("plots", [])]
    return "\n".join(lines)


def _stats(steering: dict[str, float | None]) -> str:
    if steering["min"] is None:
        return f"{'-':>6} {'-':>6} {'-':>7} {'-':>5}"
    return (f"{steering['min']:>+6.2f} {steering['max']:>+6.2f} {steering['mean']:>+7.3f} "
            f"{steering['zero_fraction']:>5.0%}")


if __name__ == "__main__":
    sys.exit(main())
