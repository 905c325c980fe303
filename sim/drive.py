"""`python -m sim.drive --track lake --laps 2 [--host H] [--port P] [--report F.json] [--plot F.png] [--video F.mp4 [--saliency MODEL]] [--max-seconds S]`

Drives a track through a running drive server, talking to it exactly as the simulator's client
does (`sim.wire.SimulatorClient`), and scores the run (`evaluate.interventions`). Lockstep: the car's centre
camera frame goes out as telemetry, the simulator waits for the `steer` reply, then simulated time
advances by one control period (`headless.control_hz`, 15 Hz — the rate the recordings are made at;
the command is held for the 4 physics steps of 1/60 s in it). Server latency therefore costs wall
time here, never driving quality. Like the simulator it may be started before the drive server:
it keeps dialling until one answers (`--connect-timeout`).
"""
from __future__ import annotations

import argparse
import logging
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Sequence

import simulator_config
from base.arguments import port_number, positive_float, track_name, track_names
from sim.wire import SimulatorClient, SimulatorConnectionError

if TYPE_CHECKING:  # the renderer, the tracks (SciPy) and the plots load once the arguments are checked
    from tqdm import tqdm

    from evaluate.interventions import Scorecard
    from evaluate.mp4 import VideoFile
    from sim.render import Renderer
    from sim.vehicle import Vehicle

log = logging.getLogger(__name__)

CONTROL_HZ = float(simulator_config.load()["headless"]["control_hz"])
CONNECT_TIMEOUT_S = 120.0  # how long to keep dialling a drive server that is not there yet
HANDSHAKE_TIMEOUT_S = 5.0  # once a server accepted the connection
FIRST_REPLY_TIMEOUT_S = 120.0  # the first frame may wait for the server's model to warm up
REPLY_TIMEOUT_S = 30.0
DEFAULT_MIN_MPH = 5.0  # without --max-seconds a run stops when it is slower than this on average


class DriveError(RuntimeError):
    """The drive server answered in a way the simulator cannot use; the message says what happened."""


@dataclass(frozen=True)
class DriveServer:
    """The drive server to dial, and how long to keep dialling one that is not there yet."""

    host: str
    port: int
    connect_timeout_s: float = CONNECT_TIMEOUT_S
    on_waiting: Callable[[str], None] | None = None  # told once while dialling (default: the log)

    def connect(self) -> SimulatorClient:
        return SimulatorClient().connect(self.host, self.port, HANDSHAKE_TIMEOUT_S, wait_s=self.connect_timeout_s,
                                         on_waiting=self.on_waiting or log.info)


@dataclass(frozen=True)
class DriveFiles:
    """What a drive writes besides the report it returns; `saliency` is drawn on the video."""

    report: Path | None = None  # the report as JSON
    plot: Path | None = None  # the track, the path and the interventions
    video: Path | None = None  # what the centre camera saw
    saliency: str | Path | None = None  # a model whose saliency is drawn over each video frame

    def make_folders(self) -> None:
        """Made before driving, so a finished drive is never lost to a missing folder."""
        for path in (self.report, self.plot, self.video):
            if path:
                Path(path).parent.mkdir(parents=True, exist_ok=True)


@dataclass(frozen=True)
class _Goal:
    """Where a drive stops: `distance_m` driven or `limit_s` of simulated time, whichever comes first."""

    distance_m: float
    limit_s: float

    def reached(self, card: Scorecard) -> bool:
        return card.progress_m >= self.distance_m or card.elapsed_s >= self.limit_s - 1e-9


def drive_session(track: str | Path, laps: float, server: DriveServer, files: DriveFiles = DriveFiles(),
                  max_seconds: float | None = None, progress: bool = True) -> dict:
    """Drive `laps` laps of `track` through `server`; returns the report and writes `files`.

    Stops after `laps` laps or `max_seconds` simulated seconds (default: the time the laps take
    at 5 mph). `files.saliency`: normally the model the drive server drives (`evaluate.saliency`).
    Raises SimulatorConnectionError when no server answers, TrackError for a bad track.
    """
    from tqdm import tqdm

    from evaluate.interventions import Scorecard
    from evaluate.mp4 import VideoFile, saliency_drawer
    from sim.pose import Pose
    from sim.render import shared_renderer
    from sim.tracks import load_track
    from sim.vehicle import MPS_PER_MPH, Vehicle

    if not laps > 0:
        raise ValueError(f"laps must be positive, not {laps}")
    the_track = load_track(track)
    files.make_folders()
    draw = saliency_drawer(files.saliency) if files.video and files.saliency else None
    goal_m = laps * the_track.length_m
    goal = _Goal(goal_m, max_seconds if max_seconds is not None else goal_m / (DEFAULT_MIN_MPH * MPS_PER_MPH))
    client = server.connect()
    recorder = None
    try:
        renderer = shared_renderer(the_track)
        vehicle = Vehicle(Pose(*the_track.pose_at(0.0)))
        period_s = _control_steps(vehicle) * vehicle.params.time_step_s
        card = Scorecard(the_track, the_track.locate(vehicle.pose.x, vehicle.pose.y).s, period_s)
        recorder = VideoFile(files.video, CONTROL_HZ, simulator_config.image_size(), draw) if files.video else None
        _skip_greeting(client)
        with tqdm(total=round(goal_m), unit="m", desc=f"driving {the_track.name}", disable=not progress) as bar:
            _drive(client, renderer, vehicle, card, recorder, bar, goal)
    except BaseException:
        if recorder:
            recorder.discard()
        raise
    finally:
        client.close()
    if recorder:
        recorder.close()
    result = card.report()
    result.update(laps_requested=laps, control_hz=CONTROL_HZ, finished=card.progress_m >= goal_m)
    log.info("drive on %s: %s", the_track.name, result)
    _write(files, card, result)
    return result


def _control_steps(vehicle: Vehicle) -> int:
    """Physics steps in one control period: the command is held for this many."""
    return round(1 / (CONTROL_HZ * vehicle.params.time_step_s))


def _write(files: DriveFiles, card: Scorecard, result: dict) -> None:
    from base.atomic import write_json_atomic

    if files.report:
        write_json_atomic(files.report, result)
    if files.plot:
        from sim.trackmap import plot_drive  # matplotlib: only for a plot

        plot_drive(card.track, card.path, card.interventions, result, files.plot)


def _drive(client: SimulatorClient, renderer: Renderer, vehicle: Vehicle, card: Scorecard,
           recorder: VideoFile | None, bar: tqdm, goal: _Goal) -> None:
    """The lockstep loop: frame out, reply in, one control period of simulated time."""
    from sim.images import encode_jpeg

    steering, throttle = 0.0, 0.0
    steps = _control_steps(vehicle)
    timeout = FIRST_REPLY_TIMEOUT_S
    while not goal.reached(card):
        frame = renderer.render(vehicle.pose, "center")
        if recorder:
            recorder.add(frame)
        try:
            event, data = client.request(vehicle.steering_deg, vehicle.throttle, vehicle.speed_mph, encode_jpeg(frame), timeout)
        except TimeoutError as e:
            raise SimulatorConnectionError(f"{e}: the simulator waits for a reply to every frame") from None
        timeout = REPLY_TIMEOUT_S
        if event == "steer":
            steering, throttle = _command(data)
        elif event != "manual":  # `manual` hands the car back: the simulator keeps the last command
            raise DriveError(f"the drive server replied with event {event!r}; the simulator only understands 'steer' and 'manual'")
        for _ in range(steps):
            vehicle.step(steering, throttle)
        card.observe(vehicle)
        bar.update(max(0, round(card.progress_m)) - bar.n)


def _skip_greeting(client: SimulatorClient) -> None:
    """Take off the wire what a server sent unasked on connect (the classic server emits `steer`),
    so that every later reply answers the frame just sent."""
    try:
        client.flush(HANDSHAKE_TIMEOUT_S)
    except TimeoutError:
        raise SimulatorConnectionError(f"the drive server on {client.address} does not answer Engine.IO pings "
                                       "as the simulator's client needs (python-engineio 3.x)") from None


def _number(text: object) -> float:
    """A number from a `steer` field: a string as the protocol says, decimal comma tolerated."""
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        # The real simulator drops such a reply (float.Parse of an empty string) and stops for good.
        raise DriveError(f"the drive server sent the number {text!r} where the simulator needs a string")
    try:
        return float(str(text).replace(",", "."))
    except ValueError:
        raise DriveError(f"the drive server sent {text!r} where the simulator needs a number") from None


def _command(data: object) -> tuple[float, float]:
    if not isinstance(data, dict) or "steering_angle" not in data or "throttle" not in data:
        raise DriveError(f"the drive server's steer message {data!r} lacks 'steering_angle' or 'throttle'")
    return max(-1.0, min(1.0, _number(data["steering_angle"]))), _number(data["throttle"])


def main(argv: Sequence[str] | None = None) -> int:
    connection = simulator_config.connection()
    parser = argparse.ArgumentParser(
        prog="python -m sim.drive", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Drive a track of the headless simulator through a drive server and score the run.",
        epilog="Start the drive server first or second, as with the real simulator:\n"
               "  python drive.py models/latest\n"
               "  python -m sim.drive --track mountain --laps 2 --report run.json --plot run.png --video run.mp4")
    parser.add_argument("--track", type=track_name, default="lake",
                        help=f"track name ({', '.join(track_names())}) or path to a track JSON file "
                             "(default: %(default)s)")
    parser.add_argument("--laps", type=positive_float, default=2.0, help="laps to drive (default: %(default)s)")
    parser.add_argument("--host", default=connection["host"], help="the drive server's address (default: %(default)s)")
    parser.add_argument("--port", type=port_number, default=connection["port"],
                        help="the drive server's port (default: %(default)s)")
    parser.add_argument("--connect-timeout", type=positive_float, default=CONNECT_TIMEOUT_S, metavar="S",
                        help="keep dialling a drive server that is not running yet for this many seconds "
                             "(default: %(default)s)")
    parser.add_argument("--report", type=Path, metavar="FILE", help="write the report as JSON here")
    parser.add_argument("--plot", type=Path, metavar="FILE",
                        help="draw the track, the path and the interventions into this PNG")
    parser.add_argument("--video", type=Path, metavar="FILE", help="write what the centre camera saw into this MP4")
    parser.add_argument("--saliency", type=Path, metavar="MODEL",
                        help="with --video: draw MODEL's saliency (VisualBackProp) on each frame; pass the model "
                             "the drive server drives")
    parser.add_argument("--max-seconds", type=positive_float, metavar="S", help="stop after this much simulated time")
    args = parser.parse_args(argv)
    if args.saliency and not args.video:
        parser.error("--saliency draws on the video: pass --video FILE.mp4 too")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    from sim.tracks import TrackError  # SciPy (a second to import): after --help and the argument checks

    try:
        server = DriveServer(args.host, args.port, args.connect_timeout, on_waiting=lambda line: print(line, flush=True))
        files = DriveFiles(args.report, args.plot, args.video, args.saliency)
        result = drive_session(args.track, args.laps, server, files, args.max_seconds)
    except (TrackError, SimulatorConnectionError, DriveError, OSError, ValueError) as e:  # ValueError: --saliency's model
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    width = max(map(len, result))
    for key, value in result.items():
        if key != "intervention_times_s":
            print(f"{key:<{width}}  {value}")
    for what, path in (("report", args.report), ("map", args.plot), ("video", args.video)):
        if path:
            print(f"{what} written to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
