"""Exact rewrites of an exported model's ONNX graph for the drive server's single frames.

Measured on 2 cores (docs/benchmarks.md, "Drive server"): ONNX Runtime 1.32 runs this network's small
convolutions on one thread whatever `intra_op_num_threads` says (two threads took as long, with more CPU
and ten context switches a frame), and its parallel execution mode runs the graph in sequence. The second
core is put to work by hand instead: `split_at_mirror` cuts a mirror-averaged model (`base.mirror`) into
the part before its mirror pair, the network, and the mean after it, so the runner can run the frame and
its mirror image through the network on the two cores at once (`base.runners.OnnxRunner`).

`fast_elu` writes every ELU as max(x, exp(min(x, 0)) − 1): the same function (for x < 0, eˣ − 1 > x),
computed by kernels that take half the time of ONNX Runtime's own ELU. `colour_after_resize` converts the
colours after the blur and the resize instead of before: on 66×200 pixels instead of 75×320.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import onnx
import onnx.utils
from onnx import helper, numpy_helper

# tf2onnx names a node after the Keras layer it comes from: training.model.mirror_averaged's two layers.
MIRROR_PAIR, MIRROR_MEAN = "mirror_pair", "mirror_mean"
COLOUR_AFTER_RESIZE = "colour_after_resize/"  # the names of that rewrite's nodes and tensors


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


def rewritten(model: onnx.ModelProto) -> onnx.ModelProto:
    """`model` with every rewrite of this module that applies to it."""
    return colour_after_resize(fast_elu(model))


def colour_after_resize(model: onnx.ModelProto) -> onnx.ModelProto:
    """`model` with its preprocessing's colour conversion (a 1×1 convolution) and scaling moved after its blur and
    resize (`training.preprocess`). Blur and resize are linear and treat every channel alike, so the channel
    mixing commutes with them; what the conversion's bias and the scaling's offset add becomes one constant
    image: the preprocessing of a blank frame. Models without that chain are returned as they are."""
    chain = _colour_chain(model)
    if chain is None:
        return model
    colour, blur, resize, scale, offset = chain
    x, out, prefix = colour.input[0], offset.output[0], COLOUR_AFTER_RESIZE
    constant = _at_blank_frame(model, out)
    weights = numpy_helper.to_array(_initializer(model, colour.input[1])) * numpy_helper.to_array(_initializer(model, scale.input[1]))
    nodes = [helper.make_node("Conv", [x, blur.input[1]], [prefix + "blurred"], name=prefix + "blur",
                              **{a.name: helper.get_attribute_value(a) for a in blur.attribute}),
             # Output size as numbers, not scales: ONNX's shape inference rounds 75 × 0.88 down to 65 rows,
             # ONNX Runtime runs 66 and would refuse a 66-row constant beside a declared 65.
             helper.make_node("Shape", [x], [prefix + "shape"], name=prefix + "shape"),
             helper.make_node("Slice", [prefix + "shape", prefix + "zero", prefix + "two"], [prefix + "nc"], name=prefix + "nc"),
             helper.make_node("Concat", [prefix + "nc", prefix + "hw"], [prefix + "sizes"], axis=0, name=prefix + "sizes"),
             helper.make_node("Resize", [prefix + "blurred", "", "", prefix + "sizes"], [prefix + "resized"],
                              name=prefix + "resize", **{a.name: helper.get_attribute_value(a) for a in resize.attribute}),
             helper.make_node("Conv", [prefix + "resized", prefix + "weights"], [prefix + "colour"], name=prefix + "colour"),
             helper.make_node("Add", [prefix + "colour", prefix + "constant"], [out], name=prefix + "add")]
    replaced = {id(node) for node in chain}
    moved = onnx.ModelProto()
    moved.CopyFrom(model)
    del moved.graph.node[:]
    for node in model.graph.node:
        moved.graph.node.extend(nodes if node is colour else [] if id(node) in replaced else [node])
    moved.graph.initializer.extend([
        numpy_helper.from_array(np.array([0], np.int64), prefix + "zero"),
        numpy_helper.from_array(np.array([2], np.int64), prefix + "two"),
        numpy_helper.from_array(np.array(constant.shape[2:], np.int64), prefix + "hw"),
        numpy_helper.from_array(weights.astype(np.float32), prefix + "weights"),
        numpy_helper.from_array(constant, prefix + "constant")])
    used = {name for node in moved.graph.node for name in node.input}
    kept = [tensor for tensor in moved.graph.initializer if tensor.name in used]  # ONNX Runtime warns of the others
    del moved.graph.initializer[:]
    moved.graph.initializer.extend(kept)
    return moved


def _colour_chain(model: onnx.ModelProto) -> tuple | None:
    """(colour Conv 1×1 with bias, blur Conv alike on every channel, Resize, Mul by a number, Add): the nodes of
    `training.preprocess` from the colour conversion on, each the only reader of the one before; or None."""
    readers: dict[str, list] = {}
    for node in model.graph.node:
        for name in node.input:
            readers.setdefault(name, []).append(node)

    def next_node(node, op_type: str):
        after = readers.get(node.output[0], [])
        return after[0] if len(after) == 1 and after[0].op_type == op_type else None

    for colour in model.graph.node:
        kernel = _array(model, colour.input[1]) if colour.op_type == "Conv" and len(colour.input) == 3 else None
        if kernel is None or kernel.shape[2:] != (1, 1) or _array(model, colour.input[2]) is None:
            continue
        blur = next_node(colour, "Conv")
        resize = blur and next_node(blur, "Resize")
        scale = resize and next_node(resize, "Mul")
        offset = scale and next_node(scale, "Add")
        blur_kernel = _array(model, blur.input[1]) if blur and len(blur.input) == 2 else None
        number = _array(model, scale.input[1]) if scale else None
        if (offset and _array(model, offset.input[1]) is not None and number is not None and number.size == 1
                and blur_kernel is not None and all(np.array_equal(blur_kernel[0], k) for k in blur_kernel)):
            return colour, blur, resize, scale, offset
    return None


def _initializer(model: onnx.ModelProto, name: str) -> onnx.TensorProto | None:
    return next((i for i in model.graph.initializer if i.name == name), None)


def _array(model: onnx.ModelProto, name: str) -> np.ndarray | None:
    tensor = _initializer(model, name)
    return None if tensor is None else numpy_helper.to_array(tensor)


def _at_blank_frame(model: onnx.ModelProto, name: str) -> np.ndarray:
    """The value of tensor `name` for one all-zero input."""
    import onnxruntime

    extractor = onnx.utils.Extractor(model)
    extractor.value_infos[name] = helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None)
    frames = model.graph.input[0]
    part = extractor.extract_model([frames.name], [name])
    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3  # the same 65-row warning
    session = onnxruntime.InferenceSession(part.SerializeToString(), options, providers=["CPUExecutionProvider"])
    blank = np.zeros([d.dim_value or 1 for d in frames.type.tensor_type.shape.dim], np.float32)
    return session.run(None, {frames.name: blank})[0]


@dataclass(frozen=True)
class MirrorSplit:
    """A mirror-averaged model in three graphs: `head` frames → (images, mirror images), `network` images →
    steering, `tail` the network's steering of the images then of the mirror images → the model's output."""

    head: onnx.ModelProto
    network: onnx.ModelProto
    tail: onnx.ModelProto


def split_at_mirror(model: onnx.ModelProto) -> MirrorSplit | None:
    """`model` cut at its one mirror pair, or None when it has none or several (an ensemble of mirrored models), or
    when something after a cut reads the frames (an ensemble of one mirrored model and plain ones)."""
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
    frames = model.graph.input[0].name
    # An ensemble with one mirror-averaged member among plain ones: the others read the frames after the cut.
    if _reads(model, [o.name for o in model.graph.output], frames, steering) or _reads(model, [steering], frames, pair.output[0]):
        return None
    extractor = onnx.utils.Extractor(model)
    # The cuts are declared by element type alone: ONNX's shape inference rounds Resize's 65.99 rows down to 65.
    types = {info.name: info.type.tensor_type.elem_type for info in onnx.shape_inference.infer_shapes(model).graph.value_info}
    for name in (*pair.input, pair.output[0], steering):
        extractor.value_infos[name] = helper.make_tensor_value_info(name, types[name], None)
    return MirrorSplit(head=extractor.extract_model([frames], list(pair.input)),
                       network=extractor.extract_model([pair.output[0]], [steering]),
                       tail=extractor.extract_model([steering], [o.name for o in model.graph.output]))


def split_at_images(model: onnx.ModelProto) -> tuple[onnx.ModelProto, onnx.ModelProto] | None:
    """A `rewritten` network alone cut where its preprocessing ends: (frames → images, images → steering); None
    without `colour_after_resize`'s chain, or where anything after the cut reads the frames itself (an ensemble's
    other members)."""
    ends = [node for node in model.graph.node if node.name == COLOUR_AFTER_RESIZE + "add"]
    if len(ends) != 1 or len(model.graph.input) != 1:
        return None
    images, frames = ends[0].output[0], model.graph.input[0].name
    if _reads(model, [o.name for o in model.graph.output], frames, beyond=images):
        return None
    extractor = onnx.utils.Extractor(model)
    extractor.value_infos[images] = helper.make_tensor_value_info(images, onnx.TensorProto.FLOAT, None)  # as in split_at_mirror
    return (extractor.extract_model([frames], [images]),
            extractor.extract_model([images], [o.name for o in model.graph.output]))


def _reads(model: onnx.ModelProto, outputs: list[str], source: str, beyond: str) -> bool:
    """Whether any of `outputs` is computed from `source` other than through the tensor `beyond`."""
    producers = {name: node for node in model.graph.node for name in node.output}
    needed, seen = list(outputs), set()
    while needed:
        name = needed.pop()
        if name == source:
            return True
        if name != beyond and name not in seen and name in producers:
            seen.add(name)
            needed += [i for i in producers[name].input if i]
    return False


def with_input_shape(model: onnx.ModelProto, shape: tuple[int, ...]) -> onnx.ModelProto:
    """`model` with its one input declared as `shape` (fixed dimensions let ONNX Runtime fold shape arithmetic)."""
    fixed = onnx.ModelProto()
    fixed.CopyFrom(model)
    dims = fixed.graph.input[0].type.tensor_type.shape
    dims.ClearField("dim")
    for size in shape:
        dims.dim.add().dim_value = size
    return fixed
