"""Telemetry→steer round trip on loopback: this drive server against the course's classic drive.py.

Both servers run in their own process and are driven by `sim.wire.SimulatorClient`, which talks like
the simulator, with real frames from ../shared/realdata re-encoded as JPEG quality 75 as the simulator
sends them; the drive server with the default model (`training.model.build_model()`, mirror-averaged as
`training.fit` keeps it, saved as .keras), the classic one with the network alone. One request is in
flight at a time, so each figure is pure latency. The drive server is also measured driving the network
alone (a run of `--no-mirror-average`), ensembles of two and of three such networks
(`training.ensemble`), while recording the run (IMAGE_FOLDER), which must not slow it down; with its
dashboard open (`--dashboard`, a `benchmarks.dashboard_viewer` process asking for what the page asks
for), which must stay within 0.3 ms of the figure without it — a server with and one without
`--dashboard` side by side, measured in turn block by block, so the machine's drift falls on both; and
on frames it cannot drive from or must adapt (answered with a safe command, or resized), which must not
stall the car. Where a frame's time goes is measured stage by stage in this process (decoding, preprocessing
as the graph's head in ONNX Runtime and as the drive server computes it in OpenCV, the network, a whole frame's
steering on two cores and on one). `--model` measures a trained model instead (a run folder or .keras file): mirror-averaged as
`training.fit` keeps it (mirrored here if it is not), its network alone for the rows of the network alone
and for the classic drive.py; the ensembles stay untrained default networks.

    python -m benchmarks.drive_latency [--quick] [--model RUN_FOLDER_OR_KERAS_FILE]
"""
from __future__ import annotations

import argparse
import base64
import statistics
import tempfile
import time
import warnings
from pathlib import Path

import cv2
import numpy as np

import simulator_config
from benchmarks import REALDATA
from benchmarks.table import markdown

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # eventlet's maintenance-mode notice, imported with the classic server
    from benchmarks import classic_drive  # noqa: E402
from base.modelfile import ModelLoadError, check_model_file  # noqa: E402
from base.processes import drive_server, free_loopback_port, free_loopback_ports, serve_command  # noqa: E402
from benchmarks import dashboard_viewer  # noqa: E402
from sim.wire import SimulatorClient, steering_degrees  # noqa: E402

FRAMES_FROM = "track1_windows"
WARMUP = 20
ENSEMBLES = (2, 3)  # models averaged by the ensembles measured beside the single model
DASHBOARD_BLOCKS = 6  # rounds of (without, closed, open), each block 1/DASHBOARD_BLOCKS of the round trips


def real_frames(count: int) -> list[bytes]:
    """`count` centre-camera frames of a real recording, as the simulator would send them."""
    paths = sorted((REALDATA / FRAMES_FROM / "IMG").glob("center_*.jpg"))[:count]
    if not paths:
        raise SystemExit(f"error: no real frames under {REALDATA / FRAMES_FROM}: the benchmark needs ../shared/realdata")
    quality = simulator_config.load()["image"]["jpeg_quality"]
    return [cv2.imencode(".jpg", cv2.imread(str(p)), [cv2.IMWRITE_JPEG_QUALITY, quality])[1].tobytes() for p in paths]


def round_trips(port: int, frames: list[bytes], count: int, greeting: bool = False) -> list[float]:
    """Seconds per telemetry→reply round trip, `count` of them after a warm-up.

    `greeting`: the server sends an unsolicited `steer` on connect (the classic one does), which is
    read first so that replies pair with requests.
    """
    client = SimulatorClient().connect("127.0.0.1", port)
    try:
        if greeting:
            client.receive(timeout=30)
        steering, speed = 0.0, 0.0
        times = []
        for i in range(WARMUP + count):
            jpeg = frames[i % len(frames)]
            start = time.perf_counter()
            name, data = client.request(steering_degrees(steering), 0.3, speed, jpeg, timeout=30)
            elapsed = time.perf_counter() - start
            if name != "steer":
                raise RuntimeError(f"expected a steer reply, got {name} {data}")
            steering, speed = float(data["steering_angle"]), 12.0 + (i % 7)
            if i >= WARMUP:
                times.append(elapsed)
        return times
    finally:
        client.close()


def odd_messages(jpeg: bytes) -> dict[str, dict]:
    """Telemetry the server must answer without driving from it as it is: label → message."""
    png = cv2.imencode(".png", cv2.resize(cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR), (640, 480)))[1]
    numbers = {"steering_angle": "0", "throttle": "0", "speed": "10"}
    return {
        "a truncated JPEG (safe reply)": numbers | {"image": base64.b64encode(jpeg[:len(jpeg) // 2]).decode()},
        "a 4 MB image field (safe reply)": numbers | {"image": "A" * (4 << 20)},
        "a 640×480 PNG (resized, driven)": numbers | {"image": base64.b64encode(png.tobytes()).decode()},
    }


def reply_times(port: int, message: dict, count: int) -> list[float]:
    """Seconds from a message being sent (the client's own masking of 4 MB takes ~50 ms) to its reply."""
    client = SimulatorClient().connect("127.0.0.1", port)
    try:
        times = []
        for _ in range(count):
            client.send_event("telemetry", message)
            start = time.perf_counter()
            name, data = client.receive(timeout=30)
            times.append(time.perf_counter() - start)
            if name != "steer":
                raise RuntimeError(f"expected a steer reply, got {name} {data}")
        return times
    finally:
        client.close()


def dashboard_round_trips(model: Path, frames: list[bytes], count: int) -> dict[str, tuple[float, float]]:
    """(median, 99th percentile) in ms of the round trips of a server without `--dashboard` ("without"),
    and of one with it, its page closed ("closed") and open ("open"): both servers run side by side and
    are measured in turn, block by block, so the machine's drift falls on all three alike."""
    port, dashboard_port, page = free_loopback_ports(3)
    times: dict[str, list[float]] = {"without": [], "closed": [], "open": []}
    block = max(1, count // DASHBOARD_BLOCKS)
    with (drive_server(model, port, extra_args=["--quiet"]),
          drive_server(model, dashboard_port, extra_args=["--quiet", "--dashboard", str(page)])):
        for block_number in range(DASHBOARD_BLOCKS):
            order = ("without", "closed", "open")[block_number % 3:] + ("without", "closed", "open")[:block_number % 3]
            for name in order:  # rotated each round, so no case always follows another
                if name == "open":
                    with serve_command(["-m", "benchmarks.dashboard_viewer", str(page)], dashboard_viewer.READY):
                        times[name] += round_trips(dashboard_port, frames, block)
                else:
                    times[name] += round_trips(port if name == "without" else dashboard_port, frames, block)
    return {name: summary(values) for name, values in times.items()}


def frame_stages(model: Path, frames: list[bytes], count: int) -> dict[str, float]:
    """Median ms of each stage of a frame in this process, interleaved: where a round trip's time goes. `model`:
    the mirror-averaged model's .onnx (the drive server keeps it beside the .keras)."""
    import onnx
    import onnxruntime

    from base.framehead import OpenCvHead
    from base.onnxgraph import rewritten, split_at_mirror
    from base.runners import OnnxRunner
    from drive.telemetry import parse

    split = split_at_mirror(rewritten(onnx.load(model)))
    head, network = (onnxruntime.InferenceSession(part.SerializeToString(), _one_thread(), providers=["CPUExecutionProvider"])
                     for part in (split.head, split.network))
    opencv, runner = OpenCvHead.of(split.head, head), OnnxRunner(str(model))
    messages = [{"steering_angle": "0", "throttle": "0", "speed": "12", "image": base64.b64encode(jpeg).decode()}
                for jpeg in frames]
    decoded = [parse(message).frame for message in messages]
    image = opencv.images(decoded[0])

    def one_core(frame: np.ndarray) -> float:
        runner._mirror._resting = 1  # as on a busy machine: both images on this thread
        return runner.predict_one(frame)

    stages = {"base64 and JPEG decoding of a frame (drive.telemetry.parse)": lambda i: parse(messages[i]),
              "preprocessing of frame and mirror image in ONNX Runtime (the graph's head)":
                  lambda i: head.run(None, {"frames": decoded[i][None].astype(np.float32)}),
              "preprocessing of one image in OpenCV (base.framehead)": lambda i: opencv.images(decoded[i]),
              "the network on one image (ONNX Runtime, one thread)":
                  lambda i: network.run(None, {network.get_inputs()[0].name: image}),
              "a frame's steering, both images side by side (predict_one)": lambda i: runner.predict_one(decoded[i]),
              "a frame's steering, both images on one core": lambda i: one_core(decoded[i])}
    times: dict[str, list[float]] = {name: [] for name in stages}
    for _ in range(10):  # interleaved, so the machine's drift falls on every stage alike
        for name, stage in stages.items():
            for i in range(count // 10):
                start = time.perf_counter()
                stage(i % len(frames))
                times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) * 1e3 for name, values in times.items()}


def _one_thread():  # -> onnxruntime.SessionOptions, as base.runners sets them for single frames
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads, options.log_severity_level = 1, 1, 3
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return options


def summary(times: list[float]) -> tuple[float, float]:
    """(median, 99th percentile) in milliseconds."""
    return statistics.median(times) * 1e3, float(np.percentile(times, 99)) * 1e3


def run(quick: bool = False, trained: Path | None = None) -> list[dict]:
    """The table's rows; `trained`: a trained model (run folder or .keras) instead of untrained default networks.
    (Not named `model`: `python -m benchmarks` passes its saliency's --model to every section taking one.)"""
    ours_count, classic_count = (200, 40) if quick else (2000, 300)
    frames = real_frames(300)
    with tempfile.TemporaryDirectory(prefix="drive-latency-") as folder:
        _save_models(Path(folder), trained)
        times = _measure(Path(folder), frames, ours_count, quick)
        port = free_loopback_port()
        network = Path(folder) / "network.keras"
        with serve_command(["-m", "benchmarks.classic_drive", str(network), "--port", str(port)], classic_drive.READY):
            classic = summary(round_trips(port, frames, classic_count, greeting=True))
    return _rows(times, classic)


def _save_models(folder: Path, trained: Path | None) -> None:
    """network.keras (the network alone), model.keras (mirror-averaged) and ensemble{N}.keras into `folder`:
    untrained default networks, or `trained` and its network alone."""
    import keras

    from base.mirror import MirrorPair
    from base.runtime import load_keras_model
    from training.ensemble import build_ensemble
    from training.model import build_model, mirror_averaged
    from training.preprocess import OUTPUT as PREPROCESSED

    if trained is None:
        network, model = build_model(), mirror_averaged(build_model())
    else:
        model = load_keras_model(check_model_file(trained))
        if any(isinstance(layer, MirrorPair) for layer in model.layers):
            network = keras.Model(model.input, model.get_layer("network")(model.get_layer(PREPROCESSED).output))
        else:
            network, model = model, mirror_averaged(model)
    network.save(folder / "network.keras")
    model.save(folder / "model.keras")
    for size in ENSEMBLES:
        build_ensemble([build_model() for _ in range(size)]).save(folder / f"ensemble{size}.keras")


def _measure(folder: Path, frames: list[bytes], count: int, quick: bool) -> dict:
    """Round trips of this server: label → (median, 99th percentile) ms, the dashboard's and the odd messages' apart."""
    network, model = folder / "network.keras", folder / "model.keras"
    times = {}
    port = free_loopback_port()
    with drive_server(model, port, extra_args=["--quiet"]):
        times["ours"] = summary(round_trips(port, frames, count))
        times["odd"] = {label: summary(reply_times(port, message, 5 if quick else 30))[0]
                        for label, message in odd_messages(frames[0]).items()}
    served = [("alone", network, []), *((size, folder / f"ensemble{size}.keras", []) for size in ENSEMBLES),
              ("recording", model, [str(folder / "run")])]
    for label, path, extra in served:
        port = free_loopback_port()
        with drive_server(path, port, extra_args=["--quiet", *extra]):
            times[label] = summary(round_trips(port, frames, count))
    times["dashboard"] = dashboard_round_trips(model, frames, count)
    times["stages"] = frame_stages(model.with_suffix(".onnx"), frames, count // 2)
    return times


def _rows(times: dict, classic: tuple[float, float]) -> list[dict]:
    def row(metric: str, value: float, beside: float | None = None) -> dict:
        return {"metric": metric, "value": round(value, 2), "unit": "ms", "classic": beside and round(beside, 2),
                "ratio": beside and round(beside / value, 1)}

    labels = [("ours", "telemetry→steer round trip", True),
              ("alone", "round trip with the network alone (--no-mirror-average)", True),
              *((size, f"round trip with an ensemble of {size} networks (training.ensemble)", True) for size in ENSEMBLES),
              ("recording", "round trip while recording", False)]
    rows = [row(f"{metric}, {label}", times[key][index], classic[index] if beside else None)
            for key, metric, beside in labels for label, index in (("median", 0), ("99th percentile", 1))]
    opened, closed, without = (times["dashboard"][key] for key in ("open", "closed", "without"))
    rows += [row("round trip with the dashboard open, median", opened[0]),
             row("round trip with the dashboard open, 99th percentile", opened[1]),
             row("round trip beside it without --dashboard, median", without[0]),
             row("round trip with --dashboard, page closed, median", closed[0]),
             row("dashboard open − without --dashboard, median (goal ≤ 0.3)", opened[0] - without[0]),
             row("dashboard open − closed, same server, median (goal ≤ 0.3)", opened[0] - closed[0])]
    rows += [row(f"reply to {label}, median", median) for label, median in times["odd"].items()]
    return rows + [row(f"in one process: {stage}, median", median) for stage, median in times["stages"].items()]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer frames (a smoke run, noisier figures)")
    parser.add_argument("--model", type=Path, help="a trained model to measure: a run folder (its model.keras) or a "
                                                   ".keras file (default: untrained default networks)")
    args = parser.parse_args()
    try:
        rows = run(quick=args.quick, trained=args.model)
    except ModelLoadError as e:
        raise SystemExit(f"error: {e}") from None
    print(markdown(rows, ours="this server", classic="classic drive.py"))
