"""`--precision`: what auto picks from the CPU's flags, float32 models out of bfloat16 training, resuming so."""
from __future__ import annotations

import json
from pathlib import Path

import keras
import numpy as np
import onnx
import pytest
from fit_helpers import fit_args
from recordings import road_frame, write_log

from base.convert import check_frames, export_checked
from base.runtime import load_keras_model, load_runner
from training import fit, precision, runs
from training.config import load_config
from training.model import build_model

# The flags line as /proc/cpuinfo has it, once per logical CPU (here two), with and without bfloat16.
X86_FLAGS = "fpu vme sse sse2 ssse3 fma avx avx2 avx512f avx512bw avx512vl"
ARM = "processor\t: 0\nBogoMIPS\t: 50.00\nFeatures\t: fp asimd evtstrm aes pmull sha1 sha2 crc32\n"


def cpuinfo(flags: str) -> str:
    return "".join(f"processor\t: {n}\nmodel name\t: Some CPU\nflags\t\t: {flags}\n\n" for n in range(2))


@pytest.mark.parametrize("extra", ["avx512_bf16", "amx_bf16", "avx512_bf16 amx_bf16 amx_tile"])
def test_auto_picks_bfloat16_where_the_cpu_has_bfloat16_instructions(extra):
    choice = precision.choose("auto", precision.cpu_flags(cpuinfo(f"{X86_FLAGS} {extra}")))
    assert choice.precision == "bfloat16"
    assert "CPU has" in choice.reason and extra.split()[0] in choice.reason


@pytest.mark.parametrize("text", [cpuinfo(X86_FLAGS), cpuinfo("fpu sse sse2 fma avx avx2"), ARM])
def test_auto_picks_float32_where_the_cpu_lacks_them_and_says_why(text):
    assert str(precision.choose("auto", precision.cpu_flags(text))) == "float32: CPU lacks avx512_bf16/amx_bf16"


def test_auto_picks_float32_where_the_cpu_flags_are_unknown():
    assert precision.cpu_flags("processor\t: 0\n") is None
    assert str(precision.choose("auto", None)) == "float32: CPU flags unknown (no /proc/cpuinfo)"


def test_on_gpus_auto_follows_their_compute_capability_not_the_cpu():
    no_bf16_cpu = precision.cpu_flags(cpuinfo(X86_FLAGS))
    assert precision.choose("auto", no_bf16_cpu, gpus=[(8, 0), (9, 0)]).precision == "bfloat16"
    assert precision.choose("auto", {"avx512_bf16"}, gpus=[(8, 6), (7, 5)]).precision == "float32"


def test_an_explicit_precision_is_used_and_emulated_bfloat16_is_called_slower():
    lacking = precision.cpu_flags(cpuinfo(X86_FLAGS))
    assert precision.choose("float32", {"avx512_bf16"}).precision == "float32"
    forced = precision.choose("bfloat16", lacking)
    assert forced.precision == "bfloat16" and "emulated" in forced.reason and "slower" in forced.reason
    assert "emulated" not in precision.choose("bfloat16", {"amx_bf16"}).reason


def test_an_unknown_precision_is_refused_naming_the_flag_and_the_choices():
    with pytest.raises(ValueError, match=r"--precision must be one of auto, float32, bfloat16, not float16"):
        load_config(precision="float16")  # as from a --config file; the flag itself offers only the three


def test_bfloat16_model_preprocesses_and_steers_in_float32():
    with precision.policy("bfloat16"):
        model = build_model()
    assert keras.config.dtype_policy().name == "float32"  # the policy is restored
    assert precision.precision_of(model) == "bfloat16"
    by_name = {layer.name: layer.dtype_policy.name for layer in model.layers}
    assert {by_name[name] for name in ("crop", "rgb_to_yuv", "blur", "resize", "scale", "steering")} == {"float32"}
    learnt = [layer for layer in model.layers if layer.trainable_weights and layer.name != "steering"]
    assert len(learnt) == 8 and {layer.dtype_policy.name for layer in learnt} == {"mixed_bfloat16"}  # 5 conv, 3 dense
    # bfloat16 would change the fixed YUV weights: why preprocessing is kept in float32
    yuv = model.get_layer("rgb_to_yuv").get_weights()[0]
    assert not np.array_equal(keras.ops.convert_to_numpy(keras.ops.cast(keras.ops.cast(yuv, "bfloat16"), "float32")), yuv)
    frames = np.stack([road_frame(x, np.random.default_rng(1)) for x in (-0.5, 0.5)]).astype(np.float32)
    float32 = precision.float32_copy(model)
    preprocessed = [keras.Model(m.inputs, m.get_layer("scale").output).predict(frames, verbose=0) for m in (model, float32)]
    np.testing.assert_array_equal(*preprocessed)
    assert model.predict(frames, verbose=0).dtype == np.float32


def test_resuming_in_another_precision_keeps_the_weights_and_the_optimizer_state():
    with precision.policy("bfloat16"):
        model = build_model(learning_rate=3e-4)
    frames = np.stack([road_frame(x, np.random.default_rng(2)) for x in (-0.5, 0.5)]).astype(np.float32)
    model.fit(frames, np.array([-0.2, 0.2], np.float32), batch_size=1, verbose=0)
    with precision.policy("float32"):
        rebuilt = precision.matched(model, "float32", lambda: build_model(learning_rate=1e-3))
    assert precision.precision_of(rebuilt) == "float32"
    for mine, theirs in zip(rebuilt.get_weights() + rebuilt.optimizer.variables, model.get_weights() + model.optimizer.variables):
        np.testing.assert_array_equal(np.asarray(mine), np.asarray(theirs))
    assert int(rebuilt.optimizer.iterations) == 2 and float(rebuilt.optimizer.learning_rate) == pytest.approx(3e-4)
    assert precision.matched(model, "bfloat16", build_model) is model


def float32_throughout(path: Path) -> bool:
    model = keras.models.load_model(path, compile=False)
    return precision.precision_of(model) == "float32" and all(w.dtype == "float32" for w in model.weights)


def test_a_bfloat16_run_keeps_float32_models_exports_them_so_and_resumes_in_bfloat16(tmp_path, monkeypatch, capsys):
    # A CPU that has the instructions, whatever this machine has: auto must pick bfloat16.
    monkeypatch.setattr(precision, "cpu_flags", lambda: {"avx512f", "avx512_bf16"})
    write_log(tmp_path / "rec")
    few = tmp_path / "few.json"  # few samples: bfloat16 is slow where emulated (bin_cap is a --config key)
    few.write_text(json.dumps({"bin_cap": 2}))
    assert fit.main(fit_args(tmp_path / "rec", tmp_path / "models", "--config", str(few))) == 0
    run = (tmp_path / "models" / runs.LATEST).resolve()
    assert "training in bfloat16: CPU has avx512_bf16" in capsys.readouterr().out
    assert json.loads((run / "config.json").read_text())["precision"] == "bfloat16"
    assert float32_throughout(run / "model.keras")
    assert precision.precision_of(keras.models.load_model(run / "last.keras")) == "bfloat16"

    for fmt in ("onnx", "tflite"):
        export_checked(load_keras_model(run / "model.keras"), fmt, run / f"model.{fmt}")
    assert load_runner(run / "model.tflite").source == "LiteRT"  # it refuses anything but float32 frames in
    graph = onnx.load(run / "model.onnx").graph
    types = {t.data_type for t in graph.initializer} | {v.type.tensor_type.elem_type for v in [*graph.input, *graph.output]}
    casts = {a.i for node in graph.node if node.op_type == "Cast" for a in node.attribute if a.name == "to"}
    assert onnx.TensorProto.FLOAT in types and onnx.TensorProto.BFLOAT16 not in types | casts, (types, casts)
    # last.keras computes in bfloat16, which ONNX Runtime cannot: it drives as its float32 copy
    frames = check_frames()
    last = load_runner(run / "last.keras")
    mirror_averaged = 0.5 * (last.predict(frames) - last.predict(np.ascontiguousarray(frames[:, :, ::-1])))
    # The same weights (the last epoch is the one kept), and what drives is mirror-averaged.
    np.testing.assert_allclose(load_runner(run / "model.keras").predict(frames), mirror_averaged, atol=1e-5)

    # Resumed on a machine without the instructions, it still trains in bfloat16, as config.json says.
    monkeypatch.setattr(precision, "cpu_flags", lambda: set())
    assert fit.main(["--resume", str(run), "--epochs", "2"]) == 0
    assert "training in bfloat16: asked for (CPU lacks avx512_bf16/amx_bf16: emulated" in capsys.readouterr().out
    assert json.loads((run / "config.json").read_text())["precision"] == "bfloat16"
    assert json.loads((run / "progress.json").read_text())["epochs_done"] == 2
    assert precision.precision_of(keras.models.load_model(run / "last.keras")) == "bfloat16"
    assert float32_throughout(run / "model.keras")
