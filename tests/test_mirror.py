"""Mirror-averaged models (base.mirror, training.model.mirror_averaged): exactly symmetric, and every tool takes them."""
from __future__ import annotations

import keras
import numpy as np
import pytest

from base.convert import check_frames
from base.runtime import load_keras_model, load_runner
from evaluate.saliency import load_saliency
from training.ensemble import build_ensemble
from training.model import build_model, mirror_averaged, network_alone


@pytest.fixture(scope="module")
def plain() -> keras.Model:
    keras.utils.set_random_seed(4)
    return build_model()


@pytest.fixture(scope="module")
def mirrored_file(plain, tmp_path_factory):
    path = tmp_path_factory.mktemp("mirrored") / "model.keras"
    mirror_averaged(plain).save(path)
    return path


def steer(model: keras.Model, frames: np.ndarray) -> np.ndarray:
    return model.predict(frames, verbose=0).reshape(-1)


def test_a_mirrored_frame_gets_exactly_the_opposite_steering(plain):
    frames = check_frames().astype(np.float32)
    mirrors = np.ascontiguousarray(frames[:, :, ::-1])
    own, of_mirrors = steer(plain, frames), steer(plain, mirrors)
    assert np.abs(own + of_mirrors).max() > 1e-3  # the network alone is not symmetric: the test can fail
    averaged = mirror_averaged(plain)
    np.testing.assert_allclose(steer(averaged, frames), 0.5 * (own - of_mirrors), atol=1e-6)
    np.testing.assert_allclose(steer(averaged, mirrors), -steer(averaged, frames), atol=1e-6)


def test_it_loads_in_safe_mode_and_drives_the_same_through_onnx(plain, mirrored_file):
    frames = check_frames().astype(np.float32)
    expected = 0.5 * (steer(plain, frames) - steer(plain, np.ascontiguousarray(frames[:, :, ::-1])))
    np.testing.assert_allclose(steer(load_keras_model(mirrored_file), frames), expected, atol=1e-6)
    runner = load_runner(mirrored_file)  # what drive.py does: converted to ONNX, checked, kept
    assert "ONNX" in runner.source
    np.testing.assert_allclose(runner.predict(frames), expected, atol=1e-4)


def test_an_ensemble_of_mirrored_models_steers_by_their_mean(plain, mirrored_file):
    frames = check_frames().astype(np.float32)
    keras.utils.set_random_seed(5)
    other = mirror_averaged(build_model())
    members = [load_keras_model(mirrored_file), other]
    ensemble = build_ensemble(members)
    np.testing.assert_allclose(steer(ensemble, frames), np.mean([steer(m, frames) for m in members], axis=0), atol=1e-5)


def test_saliency_shows_the_network_on_the_frame_itself_and_reports_the_averaged_steering(plain, mirrored_file, tmp_path):
    frame = check_frames()[0].astype(np.float32)
    plain.save(tmp_path / "plain.keras")
    steering, mask = load_saliency(mirrored_file)(frame)
    assert steering == pytest.approx(float(steer(load_keras_model(mirrored_file), frame[None])[0]), abs=1e-4)
    np.testing.assert_allclose(mask, load_saliency(tmp_path / "plain.keras")(frame)[1], atol=1e-5)


def test_the_saved_network_alone_steers_as_before_its_mirror_average(plain, mirrored_file):
    frames = check_frames().astype(np.float32)
    alone = network_alone(load_keras_model(mirrored_file))
    np.testing.assert_allclose(steer(alone, frames), steer(plain, frames), atol=1e-6)
    assert network_alone(plain) is plain


def test_single_frames_steer_as_batches_with_the_mirror_image_on_a_second_core_or_on_the_same(plain, mirrored_file):
    frames = check_frames().astype(np.float32)
    runner = load_runner(mirrored_file)
    assert runner._mirror is not None  # the drive server's path: the frame and its mirror image side by side
    batch = runner.predict(frames)
    np.testing.assert_allclose([runner.predict_one(frame) for frame in frames], batch, atol=1e-6)
    runner._mirror._resting = len(frames)  # as on a busy machine: both images on this thread
    np.testing.assert_allclose([runner.predict_one(frame) for frame in frames], batch, atol=1e-6)
    assert runner._mirror._resting == 0
    expected = 0.5 * (steer(plain, frames) - steer(plain, np.ascontiguousarray(frames[:, :, ::-1])))
    np.testing.assert_allclose(batch, expected, atol=1e-4)


def test_the_drive_servers_graph_rewrites_compute_what_the_export_does(mirrored_file):
    import onnx
    import onnxruntime

    from base.onnxgraph import rewritten

    load_runner(mirrored_file)  # converts it and keeps model.onnx beside the .keras
    exported = onnx.load(mirrored_file.with_suffix(".onnx"))
    faster = rewritten(exported)
    assert "Elu" in [n.op_type for n in exported.graph.node] and "Elu" not in [n.op_type for n in faster.graph.node]
    assert any(n.name.startswith("colour_after_resize/") for n in faster.graph.node)
    frames = check_frames().astype(np.float32)

    def run(model) -> np.ndarray:
        session = onnxruntime.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
        return session.run(None, {session.get_inputs()[0].name: frames})[0]

    np.testing.assert_allclose(run(faster), run(exported), atol=1e-6)
