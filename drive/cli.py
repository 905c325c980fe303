"""`python drive.py MODEL [IMAGE_FOLDER]` / `python -m drive ...`: drive the simulator with a model."""
from __future__ import annotations

import argparse
import contextlib
import logging
import socket
import sys
from pathlib import Path
from typing import Sequence

import simulator_config
from base.arguments import port_number
from base.modelfile import ModelLoadError, check_model_file
from base.processes import DRIVE_READY
from base.runtime import ALLOW_UNSAFE_HELP
from drive.controller import (
    DEFAULT_CORNER_SLOWDOWN,
    DEFAULT_KI,
    DEFAULT_KP,
    DEFAULT_MAX_THROTTLE,
    DEFAULT_SET_SPEED_MPH,
    TOP_SPEED_MPH,
    SpeedController,
)
from drive.dashboard import DEFAULT_PORT as DASHBOARD_PORT
from drive.dashboard import HOST as DASHBOARD_HOST
from drive.listening import ServerError, bind, listen
from drive.telemetry import DEFAULT_MAX_IMAGE_BYTES, DEFAULT_MAX_MESSAGE_BYTES

MB = 1 << 20

DESCRIPTION = f"""\
Drive the Udacity simulator with a trained steering model.

1. Start this server:  python drive.py models/latest     (the last `python -m training.fit` run,
                                                          or any run folder / model file)
2. Start the simulator, pick a track and "Autonomous Mode": it connects to 127.0.0.1:4567 by itself.

The model steers; a PI controller holds --speed, slowing down in sharp bends. Press W or S in the
simulator to take over (the server answers 'manual' while you do). A status line is printed about
once a second; Ctrl-C stops the server.

Record the drive:  python drive.py models/latest runs/drive1
Watch it live:     python drive.py models/latest --dashboard    (then open http://{DASHBOARD_HOST}:{DASHBOARD_PORT}/)
Make a video:      python -m drive.video runs/drive1 --overlay      (writes runs/drive1.mp4)
"""


def build_parser() -> argparse.ArgumentParser:
    connection = simulator_config.connection()
    parser = argparse.ArgumentParser(prog="drive.py", description=DESCRIPTION,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", type=Path, metavar="MODEL",
                        help="trained model: a run folder from `python -m training.fit` (its model.keras), "
                             "a .keras file, a Keras-2-era .h5, or an exported .onnx/.tflite")
    parser.add_argument("image_folder", type=Path, nargs="?", metavar="IMAGE_FOLDER",
                        help="record the run here like the simulator does (IMG/ + driving_log.csv); a new or "
                             "empty folder, or an earlier recording to add to (nothing is ever deleted)")
    parser.add_argument("--host", default=connection["host"],
                        help="address to listen on (default %(default)s: this machine only; the simulator "
                             "always dials 127.0.0.1). 0.0.0.0 exposes the server to the network")
    parser.add_argument("--port", type=port_number, default=connection["port"],
                        help="port to listen on (default %(default)s, the one the simulator dials)")
    parser.add_argument("--speed", type=float, default=DEFAULT_SET_SPEED_MPH,
                        help="set speed in mph the throttle controller holds on straights (default "
                             f"%(default)s; the car's top speed is {TOP_SPEED_MPH:g})")
    parser.add_argument("--max-throttle", type=float, default=DEFAULT_MAX_THROTTLE,
                        help="upper limit of the throttle command, 0..1 (default %(default)s)")
    parser.add_argument("--corner-slowdown", type=float, default=DEFAULT_CORNER_SLOWDOWN,
                        help="share of the set speed given up at full steering lock, 0..1 (default %(default)s)")
    parser.add_argument("--kp", type=float, default=DEFAULT_KP, help="proportional gain, throttle per mph (default %(default)s)")
    parser.add_argument("--ki", type=float, default=DEFAULT_KI,
                        help="integral gain, throttle per mph·second (default %(default)s)")
    parser.add_argument("--allow-unsafe", action="store_true", help=ALLOW_UNSAFE_HELP)
    parser.add_argument("--log-csv", type=Path, metavar="FILE",
                        help="write one CSV row per frame (time, speed, steering, throttle, latency) to FILE; "
                             "it appears when the server stops")
    parser.add_argument("--max-message-mb", type=float, default=DEFAULT_MAX_MESSAGE_BYTES / MB,
                        help="largest websocket message read and answered, all its fragments together (default "
                             "%(default)s MB); a larger "
                             "one closes the connection and the simulator reconnects. Images over "
                             f"{DEFAULT_MAX_IMAGE_BYTES / MB:g} MB are answered with a safe command either way")
    parser.add_argument("--dashboard", type=port_number, nargs="?", const=DASHBOARD_PORT, metavar="PORT",
                        help="serve a live view in the browser on 127.0.0.1:PORT (default port "
                             f"{DASHBOARD_PORT}): the camera frame, the rows the model sees with its saliency, "
                             "steering, throttle, speed, latency, frames per second")
    parser.add_argument("--quiet", action="store_true", help="no status line, only warnings and errors")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_intermixed_args(argv)
    try:
        return _run(args)
    except KeyboardInterrupt:  # Ctrl-C while the model loads; once serving, Ctrl-C stops it cleanly
        print("interrupted", file=sys.stderr)
        return 130


def _run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO,
                        format="%(levelname)s %(name)s: %(message)s", stream=sys.stdout)
    logging.getLogger("tf2onnx").setLevel(logging.WARNING)  # its conversion chatter is not for drivers
    # Every argument, path and the port are checked before anything slow is imported or loaded.
    try:
        _check_args(args)
        model = check_model_file(args.model)
        if args.image_folder:
            from drive.recorder import check_folder  # pandas, through the log format: 0.3 s

            check_folder(args.image_folder)
        if args.dashboard is not None and args.dashboard == args.port:
            raise ValueError(f"--dashboard {args.dashboard} is the simulator's --port: pick another port")
        sock = bind(args.host, args.port)
        page_sock = None
        if args.dashboard is not None:
            try:
                page_sock = bind(DASHBOARD_HOST, args.dashboard, option="--dashboard")
            except BaseException:
                sock.close()
                raise
    except (ModelLoadError, ServerError, ValueError) as e:  # RecordingError is a ValueError
        print(f"error: {e}", file=sys.stderr)
        return 2
    with sock, page_sock or contextlib.nullcontext():
        return _serve(args, model, sock, page_sock)


def _serve(args: argparse.Namespace, model: Path, sock: socket.socket, page_sock: socket.socket | None) -> int:
    # The slow imports (eventlet, ONNX Runtime, for Keras models TensorFlow) once every check passed.
    from base.modelfile import ModelLoadError
    from base.runtime import load_runner
    from drive.monitor import Monitor
    from drive.pilot import Pilot
    from drive.recorder import Recorder, RecordingError
    from drive.server import create_app, serve

    try:
        runner = load_runner(model, allow_unsafe=args.allow_unsafe)
        listen(sock)  # from here on the simulator's connections wait for serve() below, milliseconds away
        if page_sock:
            listen(page_sock, option="--dashboard")
        recorder = Recorder(args.image_folder) if args.image_folder else None
    except (ModelLoadError, ServerError, RecordingError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    controller = SpeedController(args.speed, kp=args.kp, ki=args.ki, max_throttle=args.max_throttle,
                                 corner_slowdown=args.corner_slowdown)
    try:
        monitor = Monitor(report=lambda line: None if args.quiet else print(line, flush=True), csv_path=args.log_csv)
    except OSError as e:
        if recorder:
            recorder.close()
        print(f"error: cannot write --log-csv {args.log_csv} ({e.strerror or e}): pick a writable path", file=sys.stderr)
        return 2
    dashboard = _dashboard(runner, controller) if page_sock else None
    app = create_app(Pilot(runner, controller, monitor, recorder, dashboard=dashboard),
                     max_message_bytes=int(args.max_message_mb * MB))
    if recorder:
        print(recorder.describe())
    print(f"model {args.model} runs on {runner.source}; set speed {args.speed:g} mph")
    if dashboard:
        print(f"dashboard on http://{DASHBOARD_HOST}:{args.dashboard}/"
              + (f" ({dashboard.saliency_note})" if dashboard.saliency_note else ""))
    print(f"{DRIVE_READY} {args.host}:{args.port} — start the simulator in Autonomous Mode", flush=True)
    try:
        # returns on Ctrl-C or SIGTERM (base.processes, service managers)
        serve(app, sock, dashboard=(page_sock, dashboard.app) if dashboard else None)
    finally:
        monitor.close()
        if recorder:
            recorder.close()
            print(f"recorded {recorder.written} frames into {recorder.folder}"
                  + (f" ({recorder.dropped} dropped)" if recorder.dropped else ""))
        if args.log_csv:
            print(f"per-frame log written to {args.log_csv}")
    return 0


def _dashboard(runner, controller: SpeedController):  # runner: base.runners.Runner -> drive.dashboard.Dashboard
    """The live view, with the model's saliency where the model has an ONNX form (one thread: the
    driving session keeps both cores)."""
    from drive.dashboard import Dashboard
    from evaluate.saliency import SaliencyError, saliency_for

    try:
        saliency, note = saliency_for(runner, threads=1), ""
    except SaliencyError as e:
        saliency, note = None, f"no saliency: {e}"
    return Dashboard(controller.set_speed_mph, controller.target_mph, saliency, note)


def _check_args(args: argparse.Namespace) -> None:
    if args.speed <= 0:
        raise ValueError(f"--speed {args.speed} must be positive (mph)")
    if not 0 < args.max_throttle <= 1:
        raise ValueError(f"--max-throttle {args.max_throttle} must be in (0, 1]")
    if not 0 <= args.corner_slowdown <= 1:
        raise ValueError(f"--corner-slowdown {args.corner_slowdown} must be in [0, 1]")
    if args.max_message_mb <= 0:
        raise ValueError(f"--max-message-mb {args.max_message_mb} must be positive")
    if args.log_csv and not args.log_csv.parent.is_dir():
        raise ValueError(f"--log-csv: folder {args.log_csv.parent} does not exist: create it or pick another path")
