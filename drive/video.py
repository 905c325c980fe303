"""`python -m drive.video IMAGE_FOLDER [--fps 60] [--overlay] [--saliency MODEL] [--out FILE.mp4]`: a recorded run as MP4.

Frames are the IMG/center_*.jpg files in name (= time) order. With --overlay each frame shows the
steering sent for it, read from the folder's driving_log.csv (as `drive.py MODEL IMAGE_FOLDER` or
the simulator writes it) by the recordings' reader, `base.logs`. With --saliency MODEL each frame
shows where MODEL's steering comes from (VisualBackProp, `base.saliency`) and the steering MODEL
gives for it; any recording works, the simulator's own or one `drive.py` made. The video is written
beside the folder under a temporary name and moved into place when complete.
"""
from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path, PureWindowsPath
from typing import TYPE_CHECKING, Sequence

if TYPE_CHECKING:  # OpenCV, the log format (pandas) and ONNX Runtime load when a video is made, not for --help
    import numpy as np

    from base.saliency import Saliency


class VideoError(ValueError):
    """The video cannot be made; the message says what to do."""


def frame_paths(folder: Path) -> list[Path]:
    from base.logs import IMAGE_DIR

    paths = sorted((folder / IMAGE_DIR).glob("center_*.jpg"))
    if not paths:
        raise VideoError(f"no center_*.jpg frames in {folder / IMAGE_DIR}: pass a folder recorded with "
                         "`python drive.py MODEL IMAGE_FOLDER` or by the simulator")
    return paths


def logged_commands(folder: Path) -> dict[str, tuple[float, float, float]]:
    """Image file name → (steering, throttle − brake, speed) from the folder's driving_log.csv."""
    from base.logs import LOG_NAME, LogError, read_log

    log_path = folder / LOG_NAME
    if not log_path.is_file():
        raise VideoError(f"--overlay needs {log_path}, which does not exist: leave out --overlay")
    try:
        rows = read_log(log_path).rows
    except LogError as e:
        raise VideoError(f"{e} (or leave out --overlay)") from None
    # Windows paths parse with either separator; the file name is what IMG/ holds.
    return {PureWindowsPath(center).name: (steering, throttle - brake, speed)
            for center, steering, throttle, brake, speed
            in rows[["center", "steering", "throttle", "brake", "speed"]].itertuples(index=False)}


def draw_overlay(frame: np.ndarray, steering: float, throttle: float, speed: float) -> np.ndarray:
    """The frame (BGR) with a steering needle from the bottom centre and the numbers as text."""
    import cv2

    height, width = frame.shape[:2]
    base = (width // 2, height - 5)
    angle = steering * math.radians(60)  # full lock drawn as 60° off vertical, clearly visible
    length = height * 0.45
    tip = (int(base[0] + length * math.sin(angle)), int(base[1] - length * math.cos(angle)))
    cv2.line(frame, base, tip, (0, 255, 255), 2, cv2.LINE_AA)
    cv2.putText(frame, f"steer {steering:+.3f}  thr {throttle:+.2f}  {speed:4.1f} mph", (5, 14),
                cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 255, 255), 1, cv2.LINE_AA)
    return frame


def draw_saliency(frame: np.ndarray, saliency: Saliency) -> np.ndarray:
    """The frame (BGR) with the model's saliency drawn over it and the steering the model gives for it."""
    import cv2

    from base.saliency import overlay

    rgb = frame[..., ::-1]
    steering, mask = saliency(rgb)
    frame = overlay(rgb, mask)[..., ::-1].copy()
    cv2.putText(frame, f"model {steering:+.3f}", (5, frame.shape[0] - 8), cv2.FONT_HERSHEY_SIMPLEX, 0.4,
                (255, 255, 255), 1, cv2.LINE_AA)
    return frame


def make_video(folder: Path, out: Path, fps: float = 60.0, overlay: bool = False,
               saliency: Saliency | None = None) -> int:
    """Write `out` (mp4v) from the folder's frames; returns the number of frames written."""
    import cv2
    from tqdm import tqdm

    from base.atomic import PendingFile
    from base.frames import FRAME_SHAPE

    paths = frame_paths(folder)
    commands = logged_commands(folder) if overlay else {}
    first = cv2.imread(str(paths[0]))
    if first is None:
        raise VideoError(f"cannot read {paths[0]}: is it a JPEG?")
    height, width = first.shape[:2]
    if saliency and first.shape != FRAME_SHAPE:
        raise VideoError(f"{paths[0]} is {width}×{height}; --saliency needs the simulator's "
                         f"{FRAME_SHAPE[1]}×{FRAME_SHAPE[0]} frames")
    pending = PendingFile(out)
    writer = cv2.VideoWriter(str(pending.temp), cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height))
    if not writer.isOpened():
        raise VideoError(f"OpenCV cannot write {pending.temp}: check that {out.parent} exists and is writable")
    written = 0
    try:
        for path in tqdm(paths, desc="video", unit="frame"):
            frame = cv2.imread(str(path))
            if frame is None or frame.shape[:2] != (height, width):
                continue  # a damaged or odd-sized frame is skipped rather than ending the video
            if saliency:
                frame = draw_saliency(frame, saliency)
            if path.name in commands:
                frame = draw_overlay(frame, *commands[path.name])
            writer.write(frame)
            written += 1
        writer.release()
        pending.commit()
    finally:
        writer.release()
        pending.discard()
    return written


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
    from base.modelfile import check_model_file
    from base.runtime import ModelLoadError

    try:
        check_model_file(model)  # in milliseconds, before ONNX Runtime loads
        from base.saliency import SaliencyError, load_saliency

        try:
            return load_saliency(model)
        except SaliencyError as e:
            raise VideoError(f"--saliency: {e}") from None
    except ModelLoadError as e:
        raise VideoError(f"--saliency: {e}") from None


if __name__ == "__main__":
    sys.exit(main())
