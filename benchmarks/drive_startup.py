"""Drive server start-up: from starting the process to the reply to its first frame, per model form.

A `.keras` model's first start imports TensorFlow, converts the model to ONNX, checks it against
Keras and keeps `model.onnx` beside it; every later start of that run folder, like a start on the
`.onnx` file itself, loads only ONNX Runtime. Beside: the course's classic drive.py on the same
`.keras` (Keras `load_model`, then `model.predict` on the first frame). Each figure is the median
of a few starts, each with a fresh copy of the model, driven by `sim.wire.SimulatorClient`.

    python -m benchmarks.drive_startup [--quick]
"""
from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from base.processes import DRIVE_READY, free_loopback_port, serve_command
from benchmarks.drive_latency import classic_drive, real_frames  # classic_drive imported there, its warnings quiet
from benchmarks.table import markdown
from sim.wire import SimulatorClient


def start_up(python_args: Sequence[str], ready: str, frame: bytes, greeting: bool = False) -> float:
    """Seconds from starting `python *python_args --port P` to the reply to its first frame."""
    port = free_loopback_port()
    with serve_command([*python_args, "--port", str(port)], ready) as proc:
        client = SimulatorClient().connect("127.0.0.1", port)
        try:
            if greeting:  # the classic server sends a `steer` on connect: not the reply to the frame
                client.receive(timeout=60)
            name, data = client.request(0.0, 0.0, 0.0, frame, timeout=300)
            answered = time.perf_counter()
        finally:
            client.close()
    if name != "steer":
        raise RuntimeError(f"expected a steer reply, got {name} {data}")
    return answered - proc.started


def run(quick: bool = False) -> list[dict]:
    from training.model import build_model, mirror_averaged

    starts = 1 if quick else 3
    frame = real_frames(1)[0]
    keras_first, kept, onnx_file, classic = [], [], [], []
    with tempfile.TemporaryDirectory(prefix="drive-startup-") as folder:
        model, network = Path(folder) / "model.keras", Path(folder) / "network.keras"
        mirror_averaged(build_model()).save(model)  # as training.fit keeps it
        build_model().save(network)  # the classic server loads plain Keras
        for i in range(starts):
            run_dir = Path(folder) / f"run{i}"  # a run folder as training leaves it: model.keras, no model.onnx yet
            run_dir.mkdir()
            shutil.copy(model, run_dir / "model.keras")
            drive = ["-m", "drive", "--quiet"]
            keras_first.append(start_up([*drive, str(run_dir)], DRIVE_READY, frame))
            kept.append(start_up([*drive, str(run_dir)], DRIVE_READY, frame))
            onnx_file.append(start_up([*drive, str(run_dir / "model.onnx")], DRIVE_READY, frame))
            classic.append(start_up(["-m", "benchmarks.classic_drive", str(network)], classic_drive.READY, frame,
                                    greeting=True))
    median_classic = statistics.median(classic)
    rows = []
    for label, times in ((".keras run folder, first start (converts, keeps model.onnx)", keras_first),
                         ("the same run folder again (its model.onnx)", kept),
                         (".onnx file", onnx_file)):
        ours = statistics.median(times)
        rows.append({"metric": f"start-up to first answered frame: {label}", "value": round(ours, 1), "unit": "s",
                     "classic": round(median_classic, 1), "ratio": round(median_classic / ours, 1)})
    return rows


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one start of each (noisier figures)")
    print(markdown(run(quick=parser.parse_args().quick), ours="drive.py", classic="classic drive.py"))
