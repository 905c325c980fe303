"""Export a trained Keras model to ONNX or LiteRT (.tflite) for fast CPU inference in the drive server.

    python -m training.export models/latest --format onnx          # → models/<run>/model.onnx
    python -m training.export models/latest/model.keras --format tflite --out car.tflite

The exported file is checked against the Keras model before it replaces anything: both must give the
same steering (within base.convert.TOLERANCE) on the same frames, through the runners the drive
server uses. `drive.py` makes and keeps `model.onnx` by itself; export for another file name, for
LiteRT, or ahead of time.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from base.convert import CHECK_FRAMES, EXPORT_FORMATS, export_checked
from base.modelfile import KERAS_SUFFIXES, ModelLoadError, check_model_file, resolve_model_path
from base.quiet_tensorflow import add_verbose_flag
from base.runtime import load_keras_model


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m training.export", description=__doc__.splitlines()[0])
    parser.add_argument("model", metavar="MODEL", help="a run folder (its model.keras) or a .keras/.h5 file")
    parser.add_argument("--format", required=True, choices=EXPORT_FORMATS, help="onnx (ONNX Runtime) or tflite (LiteRT)")
    parser.add_argument("--out", metavar="FILE", help="output file (default: beside MODEL, with the format's suffix)")
    add_verbose_flag(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        source = resolve_model_path(args.model)
        check_model_file(source)  # a damaged or mislabelled file is named now, before Keras loads
        if source.suffix.lower() not in KERAS_SUFFIXES:
            raise ModelLoadError(f"{source} is not a Keras model: pass a run folder (its model.keras) or a .keras/.h5 file")
        out = Path(args.out) if args.out else source.with_suffix(f".{args.format}")
        if not out.parent.is_dir():
            raise ModelLoadError(f"--out {out}: folder {out.parent} does not exist: create it or pick another path")
        difference = export_checked(load_keras_model(source), args.format, out)
    except (ModelLoadError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB); it agrees with {source}: "
          f"largest steering difference {difference:.1e} on {CHECK_FRAMES} frames")
    print(f"drive with it: python drive.py {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
