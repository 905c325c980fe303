"""`python -m sim.record --track lake --laps 3 --out data/lake [--seed N] [--recovery]`

The scripted expert (`sim.expert`) drives the track and the session is recorded as the simulator
records one: three camera JPEGs per sample at `recording.sample_hz`, rows appended to
`driving_log.csv`. The car starts at rest at the start line; the session ends after `laps` laps.

Labels: the steering column is always the expert's own command for the state the car is in. During
the drift of a recovery episode (`--recovery`) the car is steered toward the edge by another
command, but those frames too are labelled with the expert's correction, so every recorded frame
shows what should be done there.
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Sequence

import simulator_config
from base.arguments import positive_float, track_name, track_names

log = logging.getLogger(__name__)

SAMPLE_HZ = float(simulator_config.load()["recording"]["sample_hz"])
RECOVERY_EVERY_S = simulator_config.load()["expert"]["recovery_interval_s"]
DESCRIPTION = f"""\
Record laps of the headless simulator, driven by its scripted expert driver, in the format the real
simulator's Training Mode writes: per sample ({SAMPLE_HZ:g} a second) the centre, left and right
camera JPEGs in DIR/IMG/, and one row appended to DIR/driving_log.csv. The car starts at rest on the
start line; the steering recorded is always the expert's command for where the car is.
"""
EXAMPLES = """\
example:
  python -m sim.record --track lake --laps 3 --out data/lake --recovery
  python -m training.fit --data data/lake
"""


def record_session(track: str | Path, laps: float, out: Path, seed: int = 0, recovery: bool = False, progress: bool = True) -> Path:
    """Record `laps` laps of the expert on `track` into `out`; returns the driving_log.csv path."""
    # The renderer, the tracks (SciPy) and the expert load here, so that `--help` and argument errors answer at once.
    from tqdm import tqdm

    from base.cameras import CAMERA_NAMES
    from sim.expert import Expert
    from sim.logwriter import RecordingWriter
    from sim.pose import Pose
    from sim.render import shared_renderer
    from sim.tracks import load_track
    from sim.vehicle import Vehicle

    if not laps > 0:
        raise ValueError(f"laps must be positive, not {laps}")
    the_track = load_track(track)
    renderer = shared_renderer(the_track)
    vehicle = Vehicle(Pose(*the_track.pose_at(0.0)))
    expert = Expert(the_track, seed=seed, recovery=recovery)
    writer = RecordingWriter(Path(out))
    steps_per_sample = round(1 / (SAMPLE_HZ * vehicle.params.time_step_s))
    goal = laps * the_track.length_m
    travelled, step = 0.0, 0
    s_before = the_track.locate(vehicle.pose.x, vehicle.pose.y).s
    bar = tqdm(total=round(goal), unit="m", desc=f"recording {the_track.name}", disable=not progress)
    try:
        while travelled < goal:
            command = expert.command(vehicle)
            vehicle.step(command.steering, command.throttle, command.brake)
            step += 1
            s_now = the_track.locate(vehicle.pose.x, vehicle.pose.y).s
            moved = _progress(s_before, s_now, the_track.length_m)
            travelled += moved
            s_before = s_now
            bar.update(round(travelled) - bar.n)
            if step % steps_per_sample == 0:
                frames = {camera: renderer.render(vehicle.pose, camera) for camera in CAMERA_NAMES}
                writer.add(step * vehicle.params.time_step_s, frames, command.label, vehicle.throttle, command.brake, vehicle.speed_mph)
    finally:
        bar.close()
        writer.flush()  # even when interrupted: what was recorded so far is kept
    log.info("recorded %d samples of %s into %s", writer.rows_written, the_track.name, writer.log_path)
    return writer.log_path


def _progress(s_before: float, s_now: float, length: float) -> float:
    """Arc length moved forward between two positions, across the start line too."""
    return (s_now - s_before + length / 2) % length - length / 2


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sim.record", description=DESCRIPTION, epilog=EXAMPLES,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--track", type=track_name, default="lake",
                        help=f"track name ({', '.join(track_names())}) or path to a track JSON file (default: %(default)s)")
    parser.add_argument("--laps", type=positive_float, default=3.0, help="laps to drive (default: %(default)s)")
    parser.add_argument("--out", type=Path, required=True, metavar="DIR",
                        help="recording folder: IMG/ and driving_log.csv go there; an earlier recording in it is "
                             "added to, never overwritten")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of the expert's speeds and recovery episodes; the same seed records the same "
                             "laps (default: %(default)s)")
    parser.add_argument("--recovery", action="store_true",
                        help="every {:g}–{:g} s let the car drift toward an edge, then steer back: teaches the "
                             "model to recover (default: off)".format(*RECOVERY_EVERY_S))
    args = parser.parse_args(argv)
    if args.out.exists() and not args.out.is_dir():
        parser.error(f"--out {args.out} is a file: pass a folder to record into")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    from sim.tracks import TrackError  # SciPy (a second to import): after --help and the argument checks

    try:
        path = record_session(args.track, args.laps, args.out, seed=args.seed, recovery=args.recovery)
    except (TrackError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: the samples recorded so far were appended to the log", file=sys.stderr)
        return 130
    print(f"recorded {args.laps:g} laps of {args.track} into {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
