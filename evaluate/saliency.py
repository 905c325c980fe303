"""VisualBackProp (Bojarski et al. 2016, arXiv 1611.05418): where in the camera frame the steering comes from.

The one saliency function of the project: `drive.video --saliency`, `python -m evaluate --video`,
`sim.drive --video --saliency` and the drive server's dashboard all call `Saliency.__call__` and
`overlay`. For each convolution layer with an activation (the NVIDIA network's five; the model's
fixed preprocessing convolutions have none) the feature maps are averaged over channels; the deepest
average is scaled up by a transposed convolution with that layer's kernel size and stride and unit
weights, multiplied into the next shallower average, and so on down to the network's 66×200 input;
the result is normalised to 0–1. The network's activation is ELU, whose negative part means "off":
each map is clipped at 0 before averaging, which makes it the paper's ReLU case. The 66×200 mask is
then mapped back onto the whole 320×160 frame through the model's own preprocessing in reverse: the
resize undone (bilinear, as the model resized) and the mask put back into the cropped rows
(`base.frames.CROP_TOP`..`CROP_BOTTOM`); rows the model never sees get 0.

Why a second ONNX Runtime session and not Keras: the drive server runs ONNX Runtime without
TensorFlow (1–2 s starts instead of ~14, under a millisecond a frame). Saliency runs the same ONNX
graph with the activations of the convolution layers added as outputs, in its own session, so the
driving session stays exactly as it was (same graph, same outputs, same threads) and no TensorFlow
is loaded. The extra outputs are the channel averages, computed in the graph (a few thousand
floats); the backward pass is a few small NumPy additions on maps of at most 31×98: together well
under the cost of the forward pass (`benchmarks.saliency`).
A LiteRT model has no such session: saliency there says to pass the `.keras` or `.onnx` file.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import cv2
import numpy as np

from base.frames import CROP_BOTTOM, CROP_TOP, FRAME_SHAPE

ACTIVATIONS = ("Elu", "Relu", "LeakyRelu", "Selu")  # a convolution followed by one of these is a feature layer
OVERLAY_STRENGTH = 0.7  # the most salient pixels are drawn 70 % heat colour, 30 % camera frame
# The mask is a product of five layers' maps, so it is sharply peaked: drawn through a square root,
# the next most salient regions show too (the mask itself, and what uses it, are unchanged).
DISPLAY_GAMMA = 0.5


class SaliencyError(ValueError):
    """Saliency cannot be computed for this model; the message (one line) says what to do."""


@dataclass(frozen=True)
class FeatureLayer:
    """One convolution layer of the network, as VisualBackProp needs it."""

    output: str  # the ONNX tensor after its activation
    kernel: tuple[int, int]
    stride: tuple[int, int]


def feature_layers(model) -> tuple[str, list[FeatureLayer]]:  # model: onnx.ModelProto
    """The network's input tensor (what its first feature layer reads) and its feature layers, shallowest first."""
    import onnx

    graph = model.graph
    consumers: dict[str, list] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    weights = {init.name: tuple(init.dims) for init in graph.initializer}
    layers, first_input = [], ""
    for node in graph.node:
        if node.op_type != "Conv":
            continue
        after = consumers.get(node.output[0], [])
        if len(after) != 1 or after[0].op_type not in ACTIVATIONS:
            continue  # a fixed preprocessing convolution (colour conversion, blur) or a linear one
        attributes = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        shape = weights.get(node.input[1])
        kernel = tuple(attributes.get("kernel_shape", shape[2:] if shape else ()))
        if len(kernel) != 2:
            raise SaliencyError(f"convolution {node.name} is not 2-D: saliency needs the NVIDIA network of training.model")
        stride = tuple(attributes.get("strides", (1, 1)))
        layers.append(FeatureLayer(after[0].output[0], kernel, stride))
        first_input = first_input or node.input[0]
    if not layers:
        raise SaliencyError("the model has no convolution layers with an activation: nothing for saliency to show")
    return first_input, layers


def visual_backprop(maps: Sequence[np.ndarray], layers: Sequence[FeatureLayer], input_size: tuple[int, int]) -> np.ndarray:
    """VisualBackProp's mask (input_size, float32, 0..1) from each layer's channel-averaged map (2-D), shallowest first."""
    mask = maps[-1]
    for i in range(len(layers) - 1, -1, -1):
        target = maps[i - 1].shape if i > 0 else input_size
        mask = _deconvolve(mask, layers[i].kernel, layers[i].stride, target)
        if i > 0:
            mask = mask * maps[i - 1]
    low, high = float(mask.min()), float(mask.max())
    if high - low <= 0:  # nothing fired anywhere: no pixel stands out
        return np.zeros(input_size, np.float32)
    return ((mask - low) / (high - low)).astype(np.float32)


def _deconvolve(values: np.ndarray, kernel: tuple[int, int], stride: tuple[int, int], size: tuple[int, int]) -> np.ndarray:
    """A transposed convolution with unit weights, into `size` (the layer's input: a valid convolution may
    not have reached its last rows and columns, which stay 0). The unit kernel is separable: rows, then columns."""
    rows = np.zeros((size[0], values.shape[1]), np.float32)
    span = (values.shape[0] - 1) * stride[0] + 1
    for k in range(kernel[0]):
        rows[k:k + span:stride[0]] += values
    out = np.zeros(size, np.float32)
    span = (values.shape[1] - 1) * stride[1] + 1
    for k in range(kernel[1]):
        out[:, k:k + span:stride[1]] += rows
    return out


def to_frame(mask: np.ndarray) -> np.ndarray:
    """A mask on the network's input (66×200) → the same mask on the whole camera frame (160×320)."""
    height, width = FRAME_SHAPE[:2]
    frame_mask = np.zeros((height, width), np.float32)
    frame_mask[CROP_TOP:CROP_BOTTOM] = cv2.resize(mask, (width, CROP_BOTTOM - CROP_TOP), interpolation=cv2.INTER_LINEAR)
    return frame_mask


def overlay(frame: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The RGB frame with the mask (same height and width, 0..1) drawn over it as heat: red where most salient."""
    shown = np.clip(mask, 0, 1) ** DISPLAY_GAMMA
    heat = cv2.applyColorMap((shown * 255).astype(np.uint8), cv2.COLORMAP_JET)[..., ::-1]  # BGR → RGB
    alpha = (OVERLAY_STRENGTH * shown)[..., None]
    return (frame * (1 - alpha) + heat * alpha).astype(np.uint8)


def _add_averaged_maps(model, layers: Sequence[FeatureLayer]) -> list[str]:  # model: onnx.ModelProto
    """Add to the graph, for each layer, its activation clipped at 0 and averaged over channels, as an
    output; returns their names. Averaging inside the graph returns maps of a few thousand floats
    instead of the full activations (~100 K)."""
    import onnx
    from onnx import helper

    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 13)
    names = []
    for i, layer in enumerate(layers):
        clipped, averaged = f"saliency_clipped_{i}", f"saliency_averaged_{i}"
        model.graph.node.append(helper.make_node("Relu", [layer.output], [clipped]))
        if opset >= 18:  # ReduceMean's axes became an input in opset 18
            axes = f"saliency_axes_{i}"
            model.graph.initializer.append(helper.make_tensor(axes, onnx.TensorProto.INT64, [1], [1]))
            model.graph.node.append(helper.make_node("ReduceMean", [clipped, axes], [averaged], keepdims=0))
        else:
            model.graph.node.append(helper.make_node("ReduceMean", [clipped], [averaged], axes=[1], keepdims=0))
        model.graph.output.append(helper.make_empty_tensor_value_info(averaged))
        names.append(averaged)
    return names


class Saliency:
    """A model's steering and VisualBackProp mask for one frame, from its ONNX model (path or bytes)."""

    def __init__(self, onnx_model: str | bytes, threads: int | None = None) -> None:
        import onnx
        import onnxruntime

        from base.runners import inference_threads

        model = onnx.load_from_string(onnx_model) if isinstance(onnx_model, bytes) else onnx.load(onnx_model)
        network_input, self.layers = feature_layers(model)
        self._network_input = network_input
        self._outputs = [model.graph.output[0].name] + _add_averaged_maps(model, self.layers)
        model.graph.output.append(onnx.helper.make_empty_tensor_value_info(network_input))
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads or inference_threads()
        options.inter_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        # ONNX shape inference puts the resize's output at 65 rows (75 × float32 0.88, rounded down), ONNX
        # Runtime gives 66 and warns at the first run that reads it: errors only.
        options.log_severity_level = 3
        self._session = onnxruntime.InferenceSession(model.SerializeToString(), options,
                                                     providers=["CPUExecutionProvider"])
        self._input = self._session.get_inputs()[0].name
        self._batch = np.zeros((1, *FRAME_SHAPE), np.float32)
        self.input_size = self._network_input_size()

    def _network_input_size(self) -> tuple[int, int]:
        # The resize's output size is not reliably known without running it (see the log level above),
        # so one run on a blank frame tells.
        height, width = self._session.run([self._network_input], {self._input: self._batch})[0].shape[2:]  # ONNX is NCHW
        return int(height), int(width)

    def maps(self, frame: np.ndarray) -> tuple[float, list[np.ndarray]]:
        """Steering and each feature layer's activation clipped at 0 and averaged over channels (2-D), shallowest first."""
        self._batch[0] = frame
        steering, *activations = self._session.run(self._outputs, {self._input: self._batch})
        return float(np.asarray(steering).reshape(-1)[0]), [a[0] for a in activations]

    def __call__(self, frame: np.ndarray) -> tuple[float, np.ndarray]:
        """One RGB frame (160, 320, 3) → (steering, mask on the whole frame (160, 320), 0..1)."""
        steering, maps = self.maps(frame)
        return steering, to_frame(visual_backprop(maps, self.layers, self.input_size))


def saliency_for(runner, threads: int | None = None) -> Saliency:  # runner: base.runners.Runner
    """The saliency of the model a runner (`base.runtime.load_runner`) drives; SaliencyError where it has no ONNX form."""
    model = getattr(runner, "onnx_model", None)
    if model is None:
        raise SaliencyError(f"saliency needs the model in ONNX form, and this one runs on {runner.source}: pass its "
                            ".keras or .onnx file (`python -m training.export MODEL --format onnx`)")
    return Saliency(model, threads)


def load_saliency(path, allow_unsafe: bool = False, threads: int | None = None) -> Saliency:
    """The saliency of the model at `path` (anything `load_runner` loads); ModelLoadError or SaliencyError."""
    from base.runtime import load_runner

    return saliency_for(load_runner(path, allow_unsafe), threads)


def shift_effect(saliency: Callable[[np.ndarray], tuple[float, np.ndarray]], frames: Sequence[np.ndarray],
                 share: float = 0.1, shift_px: int = 20, seed: int = 0) -> dict[str, float]:
    """The PilotNet paper's check of a saliency map (arXiv 1704.07911): the mean |steering change| when
    only the `share` most ("most"), least ("least") or randomly chosen ("random") salient of the pixels
    the model sees are replaced by the frame moved `shift_px` sideways, and ("whole") when the whole
    frame is. Meaningful saliency: most ≫ least, and most near whole."""
    rng = np.random.default_rng(seed)
    changes: dict[str, list[float]] = {"most": [], "least": [], "random": [], "whole": []}
    for frame in frames:
        steering, mask = saliency(frame)
        values = mask[CROP_TOP:CROP_BOTTOM].ravel()
        count = int(share * values.size)
        order = np.argsort(values, kind="stable")
        moved = np.roll(frame, shift_px, axis=1)
        changes["whole"].append(abs(saliency(moved)[0] - steering))
        for name, picked in (("most", order[-count:]), ("least", order[:count]),
                             ("random", rng.permutation(values.size)[:count])):
            where = np.zeros(frame.shape[:2], bool)
            where[CROP_TOP:CROP_BOTTOM].flat[picked] = True
            changes[name].append(abs(saliency(np.where(where[..., None], moved, frame))[0] - steering))
    return {name: float(np.mean(values)) for name, values in changes.items()}
