"""`python -m drive.video IMAGE_FOLDER [--fps 60] [--overlay] [--saliency MODEL] [--out FILE.mp4]`: a recorded run as MP4.

Frames are the IMG/center_*.jpg files in name (= time) order. With --overlay each frame shows the
steering sent for it, read from the folder's driving_log.csv (as `drive.py MODEL IMAGE_FOLDER` or
the simulator writes it) by the recordings' reader, `base.logs`. With --saliency MODEL each frame
shows where MODEL's steering comes from (VisualBackProp, `evaluate.saliency`) and the steering MODEL
gives for it; any recording works, the simulator's own or one `drive.py` made. The video is written
beside the folder under a temporary name and moved into place when complete.

Only the command line lives here, where users run it beside `drive.py`; the video is made by
`evaluate.mp4`.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

if TYPE_CHECKING:  # OpenCV, the log format (pandas) and ONNX Runtime load when a video is made, not for --help
    from evaluate.saliency import Saliency


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m drive.video", description=__doc__.splitlines()[0])
    parser.add_argument("image_folder", type=Path, help="a recorded run: IMG/center_*.jpg (+ driving_log.csv)")
    parser.add_argument("--fps", type=float, default=60.0, help="frames per second of the video (default %(default)s)")
    parser.add_argument("--overlay", action="store_true", help="draw the steering sent for each frame")
    parser.add_argument("--saliency", type=Path, metavar="MODEL",
                        help="draw where MODEL's steering comes from (VisualBackProp) on each frame: a run folder, "
                             ".keras or .onnx file")
    parser.add_argument("--out", type=Path, help="output file (default: IMAGE_FOLDER.mp4 beside the folder)")
    args = parser.parse_args(argv)
    from evaluate.mp4 import VideoError, make_video

    out = args.out or args.image_folder.with_name(args.image_folder.name + ".mp4")
    try:
        if args.fps <= 0:
            raise VideoError(f"--fps {args.fps} must be positive")
        if not args.image_folder.is_dir():
            raise VideoError(f"{args.image_folder} is not a folder: pass the IMAGE_FOLDER of "
                             "`python drive.py MODEL IMAGE_FOLDER` or a simulator recording")
        count = make_video(args.image_folder, out, args.fps, args.overlay,
                           _saliency(args.saliency) if args.saliency else None)
    except VideoError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"wrote {out} ({count} frames at {args.fps:g} fps)")
    return 0


def _saliency(model: Path) -> Saliency:
    from base.modelfile import ModelLoadError, check_model_file
    from evaluate.mp4 import VideoError

    try:
        check_model_file(model)  # in milliseconds, before ONNX Runtime loads
        from evaluate.saliency import SaliencyError, load_saliency

        try:
            return load_saliency(model)
        except SaliencyError as e:
            raise VideoError(f"--saliency: {e}") from None
    except ModelLoadError as e:
        raise VideoError(f"--saliency: {e}") from None


if __name__ == "__main__":
    sys.exit(main())
