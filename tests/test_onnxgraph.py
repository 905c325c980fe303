"""The exact rewrites of a model's ONNX graph that the drive server runs (base.onnxgraph)."""
from __future__ import annotations

import numpy as np
import onnx
import onnxruntime
from onnx import TensorProto, helper

from base.onnxgraph import MIRROR_PAIR, fast_elu, split_at_images, split_at_mirror


def _graph(nodes: list, inputs: list[str], outputs: list[str]) -> onnx.ModelProto:
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info(i, TensorProto.FLOAT, [None, 4]) for i in inputs],
                              [helper.make_tensor_value_info(o, TensorProto.FLOAT, None) for o in outputs])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 15)])


def _run(model: onnx.ModelProto, **feeds: np.ndarray) -> list[np.ndarray]:
    session = onnxruntime.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, feeds)


def test_fast_elu_computes_keras_elu_and_leaves_other_alphas_alone():
    model = _graph([helper.make_node("Elu", ["x"], ["y"], name="keras"),
                    helper.make_node("Elu", ["x"], ["z"], alpha=0.5, name="other")], ["x"], ["y", "z"])
    fast = fast_elu(model)
    assert [n.op_type for n in fast.graph.node].count("Elu") == 1  # the alpha-1 one rewritten, the other kept
    x = np.array([[-80.0, -3.0, -1e-4, 0.0], [1e-4, 0.5, 3.0, 80.0]], np.float32)
    y, z = _run(fast, x=x)
    np.testing.assert_allclose(y, np.where(x > 0, x, np.expm1(x)), rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(z, _run(model, x=x)[1])


def test_only_a_model_with_one_mirror_pair_is_split():
    def pairs(count: int) -> onnx.ModelProto:
        nodes = [helper.make_node("Concat", ["x", "x"], [f"p{i}"], axis=0, name=f"m{i}/{MIRROR_PAIR}/concat")
                 for i in range(count)]
        return _graph(nodes + [helper.make_node("Sum", [f"p{i}" for i in range(count)] or ["x"], ["y"])], ["x"], ["y"])

    assert split_at_mirror(pairs(0)) is None  # the network alone
    assert split_at_mirror(pairs(2)) is None  # an ensemble of mirror-averaged models runs whole


def test_a_network_is_cut_where_its_preprocessing_ends_unless_something_after_reads_the_frames():
    images = helper.make_node("Neg", ["x"], ["images"], name="colour_after_resize/add")
    network = helper.make_node("Relu", ["images"], ["y"], name="network")
    head, rest = split_at_images(_graph([images, network], ["x"], ["y"]))
    x = np.array([[-2.0, -1.0, 1.0, 3.0]], np.float32)
    np.testing.assert_array_equal(_run(rest, images=_run(head, x=x)[0])[0], np.maximum(-x, 0))
    frames_again = helper.make_node("Add", ["y", "x"], ["z"], name="another_member")
    assert split_at_images(_graph([images, network, frames_again], ["x"], ["z"])) is None
    assert split_at_images(_graph([network], ["images"], ["y"])) is None  # no preprocessing of ours to cut after
