"""Exact rewrites of an exported model's ONNX graph for the drive server's single frames.

Measured on 2 cores (docs/benchmarks.md, "Drive server"): ONNX Runtime 1.32 runs this network's small
convolutions on one thread whatever `intra_op_num_threads` says (two threads took as long, with more CPU
and ten context switches a frame), and its parallel execution mode runs the graph in sequence. The second
core is put to work by hand instead: `split_at_mirror` cuts a mirror-averaged model (`base.mirror`) into
the part before its mirror pair, the network, and the mean after it, so the runner can run the frame and
its mirror image through the network on the two cores at once (`base.runners.OnnxRunner`).

`fast_elu` writes every ELU as max(x, exp(min(x, 0)) − 1): the same function (for x < 0, eˣ − 1 > x),
computed by kernels that take half the time of ONNX Runtime's own ELU, a third of this network's time.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import onnx
import onnx.utils
from onnx import helper, numpy_helper

# tf2onnx names a node after the Keras layer it comes from: training.model.mirror_averaged's two layers.
MIRROR_PAIR, MIRROR_MEAN = "mirror_pair", "mirror_mean"


def fast_elu(model: onnx.ModelProto) -> onnx.ModelProto:
    """`model` with each ELU of alpha 1 (Keras' `activation="elu"`) as max(x, exp(min(x, 0)) − 1)."""
    zero, one = "fast_elu/zero", "fast_elu/one"
    nodes = []
    for node in model.graph.node:
        alpha = next((a.f for a in node.attribute if a.name == "alpha"), 1.0)
        if node.op_type != "Elu" or alpha != 1.0:
            nodes.append(node)
            continue
        x, y, name = node.input[0], node.output[0], node.name
        nodes += [helper.make_node("Min", [x, zero], [f"{name}/negative"], name=f"{name}/min"),
                  helper.make_node("Exp", [f"{name}/negative"], [f"{name}/exp"], name=f"{name}/exp"),
                  helper.make_node("Sub", [f"{name}/exp", one], [f"{name}/expm1"], name=f"{name}/sub"),
                  helper.make_node("Max", [x, f"{name}/expm1"], [y], name=f"{name}/max")]
    if len(nodes) == len(model.graph.node):
        return model
    rewritten = onnx.ModelProto()
    rewritten.CopyFrom(model)
    del rewritten.graph.node[:]
    rewritten.graph.node.extend(nodes)
    rewritten.graph.initializer.extend([numpy_helper.from_array(np.array(0, np.float32), zero),
                                        numpy_helper.from_array(np.array(1, np.float32), one)])
    return rewritten


@dataclass(frozen=True)
class MirrorSplit:
    """A mirror-averaged model in three graphs: `head` frames → (images, mirror images), `network` images →
    steering, `tail` the network's steering of the images then of the mirror images → the model's output."""

    head: onnx.ModelProto
    network: onnx.ModelProto
    tail: onnx.ModelProto


def split_at_mirror(model: onnx.ModelProto) -> MirrorSplit | None:
    """`model` cut at its one mirror pair, or None when it has none or several (an ensemble of mirrored models)."""
    pairs = [node for node in model.graph.node if node.op_type == "Concat" and MIRROR_PAIR in node.name]
    if len(pairs) != 1 or len(pairs[0].input) != 2:
        return None
    (pair,) = pairs
    mean = [node for node in model.graph.node if MIRROR_MEAN in node.name]
    made_by_mean = {name for node in mean for name in node.output}
    made = {name for node in model.graph.node for name in node.output}
    steering = {name for node in mean for name in node.input if name in made and name not in made_by_mean}
    if len(steering) != 1:
        return None
    (steering,) = steering
    extractor = onnx.utils.Extractor(model)
    # The cuts are declared by element type alone: ONNX's shape inference rounds Resize's 65.99 rows down to 65.
    types = {info.name: info.type.tensor_type.elem_type for info in onnx.shape_inference.infer_shapes(model).graph.value_info}
    for name in (*pair.input, pair.output[0], steering):
        extractor.value_infos[name] = helper.make_tensor_value_info(name, types[name], None)
    frames = [i.name for i in model.graph.input]
    return MirrorSplit(head=extractor.extract_model(frames, list(pair.input)),
                       network=extractor.extract_model([pair.output[0]], [steering]),
                       tail=extractor.extract_model([steering], [o.name for o in model.graph.output]))


def with_input_shape(model: onnx.ModelProto, shape: tuple[int, ...]) -> onnx.ModelProto:
    """`model` with its one input declared as `shape` (fixed dimensions let ONNX Runtime fold shape arithmetic)."""
    fixed = onnx.ModelProto()
    fixed.CopyFrom(model)
    dims = fixed.graph.input[0].type.tensor_type.shape
    dims.ClearField("dim")
    for size in shape:
        dims.dim.add().dim_value = size
    return fixed
