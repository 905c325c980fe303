"""Score a model's steering on recordings: RMSE and MAE on the centre camera, beside the zero-steering baseline.

    python -m training.rmse models/latest data/lake2                # a recording not trained on
    python -m training.rmse models/latest --split test              # the run's test rows (split.json)
    python -m training.rmse models/latest/model.onnx data/lake2 --json --plot steering.png

MODEL is anything the drive server loads: a run folder, `.keras`, `.h5`, `.onnx` or `.tflite`. With
`--split val` or `test` it is a run folder or a model file in one: the run's split.json names the rows
it held out, and a recording whose log changed since is refused (its held-out rows are no longer known).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from base.modelfile import ModelLoadError, check_model_file, resolve_model_path
from base.quiet_tensorflow import add_verbose_flag
from base.runners import Runner
from base.runtime import ALLOW_UNSAFE_HELP, load_runner
from training.config import HELP

if TYPE_CHECKING:  # NumPy, pandas and TensorFlow load once the arguments are checked, not for --help
    import numpy as np
    import pandas as pd

CHUNK = 256  # frames decoded and predicted at a time, so long recordings fit in memory


def steering_errors(runner: Runner, samples: pd.DataFrame, progress: bool = False) -> tuple[dict[str, Any], np.ndarray]:
    """Metrics `{rmse, mae, baseline_rmse, frames}` of `runner` on `samples` (image, steering), and its predictions."""
    import numpy as np
    from tqdm import tqdm

    from training.framestore import load_frames  # decodes with OpenCV, in parallel

    if samples.empty:
        raise ValueError("no frames to score: pass recordings that hold rows (or a non-empty split)")
    images = samples["image"].tolist()
    chunks = []
    with tqdm(total=len(images), desc="evaluating", unit="frame", disable=not progress) as bar:
        for start in range(0, len(images), CHUNK):
            frames = load_frames(images[start:start + CHUNK])
            chunks.append(np.asarray(runner.predict(frames), dtype=np.float64).reshape(-1))
            bar.update(len(frames))
    predicted = np.concatenate(chunks)
    recorded = samples["steering"].to_numpy(dtype=np.float64)
    error = predicted - recorded
    metrics = {
        "rmse": float(np.sqrt(np.mean(error ** 2))),
        "mae": float(np.mean(np.abs(error))),
        "baseline_rmse": float(np.sqrt(np.mean(recorded ** 2))),  # always predicting 0 (straight ahead)
        "frames": len(recorded),
    }
    return metrics, predicted


def select_samples(model: str | Path, paths: list[str], split: str, skip_missing: bool) -> pd.DataFrame:
    """Centre-camera samples of `paths`; with split "val" or "test", exactly those rows the run of `model` held out."""
    from base.logs import read_recordings  # pandas (0.4 s): not for --help
    from base.split import held_out_rows
    from training.samples import centre_samples

    if split == "all":
        if not paths:
            raise ValueError("no recordings given: pass recording folders, or --split val for the run's validation rows")
        return centre_samples(read_recordings(paths, skip_missing=skip_missing))
    run_dir = resolve_model_path(model).parent  # a run folder's model, or a model file inside a run folder
    return centre_samples(held_out_rows(run_dir, paths or None, blocks={"val": "validation", "test": "test"}[split]))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m training.rmse",
        description="Steering RMSE and MAE of MODEL on the centre camera of recordings, beside the "
        "zero-steering baseline.",
    )
    parser.add_argument("model", metavar="MODEL", help="run folder, .keras, .h5, .onnx or .tflite")
    parser.add_argument("paths", metavar="PATH", nargs="*",
                        help="recording folders; with --split val or test, some of the run's (default: all of them)")
    parser.add_argument("--split", choices=("all", "val", "test"), default="all",
                        help="all: every row of PATH; val: only the blocks the run held out and validated on (they "
                        "chose the epoch kept); test: only the held-out blocks that chose nothing; as its split.json "
                        "records them (a run made before test blocks validated on all its held-out blocks; "
                        "default: all)")
    parser.add_argument("--skip-missing", action="store_true", help=f"--split all: {HELP['skip_missing']}")
    parser.add_argument("--allow-unsafe", action="store_true", help=ALLOW_UNSAFE_HELP)
    parser.add_argument("--json", action="store_true", help='print {"rmse", "mae", "baseline_rmse", "frames"} as JSON')
    parser.add_argument("--plot", metavar="FILE", help="save predicted and recorded steering over time as a PNG")
    add_verbose_flag(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    model = Path(args.model)
    try:
        if args.plot and not Path(args.plot).absolute().parent.is_dir():
            raise ValueError(f"--plot {args.plot}: folder {Path(args.plot).parent} does not exist: create it first")
        check_model_file(model)  # at once, not after the recordings are read
        samples = select_samples(model, args.paths, args.split, args.skip_missing)
        runner = load_runner(model, allow_unsafe=args.allow_unsafe)
        started = time.perf_counter()
        metrics, predicted = steering_errors(runner, samples, progress=not args.json)
        seconds = time.perf_counter() - started
        if args.plot:
            from training.plots import save_steering_plot  # matplotlib: only for a plot

            save_steering_plot(samples["steering"].to_numpy(), predicted, Path(args.plot),
                               title=f"{model} on {args.split} frames")
    except (ModelLoadError, ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(metrics))
        return 0
    print(f"{model} on {metrics['frames']} centre-camera frames ({args.split}), {seconds:.1f} s:")
    print(f"  steering RMSE {metrics['rmse']:.4f}   MAE {metrics['mae']:.4f}")
    ratio = metrics["rmse"] / metrics["baseline_rmse"] if metrics["baseline_rmse"] else float("nan")
    print(f"  zero-steering baseline RMSE {metrics['baseline_rmse']:.4f}   (model / baseline {ratio:.2f})")
    if args.plot:
        print(f"  plot: {args.plot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
