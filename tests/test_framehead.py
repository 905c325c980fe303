"""The drive server's OpenCV preprocessing (base.framehead) computes what the model's graph does, or is not used."""
from __future__ import annotations

import keras
import numpy as np
import onnx
import onnxruntime
import pytest
from onnx import numpy_helper

from base.convert import check_frames
from base.framehead import TOLERANCE, OpenCvHead
from base.onnxgraph import rewritten, split_at_mirror
from base.runtime import load_runner
from training.ensemble import build_ensemble
from training.model import build_model, mirror_averaged


@pytest.fixture(scope="module")
def mirrored_file(tmp_path_factory):
    keras.utils.set_random_seed(7)
    path = tmp_path_factory.mktemp("framehead") / "model.keras"
    mirror_averaged(build_model()).save(path)
    load_runner(path)  # converts it, keeps model.onnx beside it
    return path


@pytest.fixture
def head(mirrored_file) -> onnx.ModelProto:
    return split_at_mirror(rewritten(onnx.load(mirrored_file.with_suffix(".onnx")))).head


def _session(model: onnx.ModelProto) -> onnxruntime.InferenceSession:
    return onnxruntime.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])


def _frames() -> list[np.ndarray]:
    floats = check_frames()
    return [*floats.astype(np.uint8), *floats]  # the camera's uint8 frames and float ones (the replay's views)


def _assert_computes_the_graphs_head(opencv: OpenCvHead, head: onnx.ModelProto) -> None:
    session = _session(head)
    for frame in _frames():
        images, mirror_images = session.run(None, {"frames": frame[None].astype(np.float32)})
        np.testing.assert_allclose(opencv.images(frame), images, atol=TOLERANCE)
        np.testing.assert_allclose(opencv.images(frame, mirrored=True), mirror_images, atol=TOLERANCE)


def _with_attribute(head: onnx.ModelProto, op_type: str, name: str, value) -> onnx.ModelProto:
    changed = onnx.ModelProto()
    changed.CopyFrom(head)
    node = next(n for n in changed.graph.node if n.op_type == op_type)
    kept = [a for a in node.attribute if a.name != name]
    del node.attribute[:]
    node.attribute.extend([*kept, onnx.helper.make_attribute(name, value)])
    return changed


def test_opencv_computes_the_models_preprocessing_of_a_frame_and_of_its_mirror_image(head, mirrored_file):
    opencv = OpenCvHead.of(head, _session(head))
    assert opencv is not None and (opencv.top, opencv.bottom, opencv.size) == (60, 135, (66, 200))
    _assert_computes_the_graphs_head(opencv, head)
    runner = load_runner(mirrored_file)
    assert runner._mirror.opencv is not None  # the drive server's single frames take this path
    frames = check_frames().astype(np.uint8)
    np.testing.assert_allclose([runner.predict_one(f) for f in frames], runner.predict(frames), atol=1e-6)
    with pytest.raises(ValueError, match="shape"):  # as ONNX Runtime's input refused it
        runner.predict_one(np.zeros((480, 640, 3), np.uint8))


def test_a_blur_that_is_not_symmetric_or_separable_is_mirrored_with_the_image(head):
    # The Gaussian is its own mirror image and separable: a kernel that is neither checks the other paths.
    kernel = next(i for i in head.graph.initializer if numpy_helper.to_array(i).shape == (3, 1, 3, 3))
    lopsided = np.array([[0.05, 0.1, 0.0], [0.2, 0.3, 0.05], [0.1, 0.15, 0.05]], np.float32)
    kernel.CopyFrom(numpy_helper.from_array(np.repeat(lopsided[None, None], 3, axis=0), kernel.name))
    opencv = OpenCvHead.of(head, _session(head))
    assert opencv is not None
    _assert_computes_the_graphs_head(opencv, head)


@pytest.mark.parametrize("op_type, name, value", [
    ("Resize", "mode", "nearest"),
    ("Resize", "coordinate_transformation_mode", "asymmetric"),
    ("Conv", "pads", [0, 0, 0, 0]),
    ("Conv", "strides", [2, 2]),
])
def test_a_head_opencv_would_compute_otherwise_stays_in_onnx_runtime(head, op_type, name, value):
    changed = _with_attribute(head, op_type, name, value)
    assert OpenCvHead.of(changed, _session(changed)) is None


def test_the_network_alone_and_ensembles_are_preprocessed_by_opencv_too(tmp_path):
    keras.utils.set_random_seed(8)
    build_model().save(tmp_path / "alone.keras")
    build_ensemble([build_model(), mirror_averaged(build_model())]).save(tmp_path / "ensemble.keras")
    frames = check_frames().astype(np.uint8)
    for name in ("alone", "ensemble"):
        runner = load_runner(tmp_path / f"{name}.keras")
        assert runner._mirror is None and runner._opencv_network is not None, name
        np.testing.assert_allclose([runner.predict_one(f) for f in frames], runner.predict(frames), atol=1e-6)
