"""`python -m training.ensemble`: several models as one that steers by their mean, for every runtime."""
from __future__ import annotations

import numpy as np
import pytest
from fit_helpers import save_untrained_model

from base.convert import check_frames
from base.runtime import load_keras_model, load_runner
from training import ensemble


@pytest.fixture(scope="module")
def members(tmp_path_factory) -> list:
    return [save_untrained_model(tmp_path_factory.mktemp(f"seed{seed}"), seed) for seed in (1, 2, 3)]


def test_the_ensemble_steers_by_its_members_mean_in_keras_and_onnx(members, tmp_path, capsys):
    assert ensemble.main([*map(str, members), "--out", str(tmp_path / "ens")]) == 0
    assert "the mean of 3 models" in capsys.readouterr().out
    frames = check_frames()
    each = np.array([load_keras_model(m).predict(frames, verbose=0).reshape(-1) for m in members])
    assert np.ptp(each, axis=0).min() > 1e-3  # the members disagree, so the mean is a real test
    model = load_keras_model(tmp_path / "ens" / "model.keras")  # safe mode: no Python code inside
    np.testing.assert_allclose(model.predict(frames, verbose=0).reshape(-1), each.mean(axis=0), atol=1e-5)
    runner = load_runner(tmp_path / "ens")  # what drive.py does: converted to ONNX, checked, kept
    assert "ONNX" in runner.source
    np.testing.assert_allclose(runner.predict(frames), each.mean(axis=0), atol=1e-4)


def test_an_existing_output_is_never_replaced(members, tmp_path, capsys):
    out = tmp_path / "ens"
    out.mkdir()
    (out / "model.keras").write_bytes(b"trained")
    assert ensemble.main([*map(str, members[:2]), "--out", str(out)]) == 2
    assert "exists" in capsys.readouterr().err
    assert (out / "model.keras").read_bytes() == b"trained"


@pytest.mark.parametrize("case", ["one model", "not keras", "missing"])
def test_bad_members_get_one_line_and_exit_2(members, tmp_path, capsys, case):
    args = {"one model": [str(members[0])],
            "not keras": [str(members[0]), str(tmp_path / "x.onnx")],
            "missing": [str(members[0]), str(tmp_path / "nowhere")]}[case]
    if case == "not keras":
        (tmp_path / "x.onnx").write_bytes(b"\x08\x01")
    assert ensemble.main([*args, "--out", str(tmp_path / "ens")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ")
    assert not (tmp_path / "ens" / "model.keras").exists()


def test_a_member_that_preprocesses_otherwise_is_named(members, tmp_path, capsys):
    import keras

    model = load_keras_model(members[1])
    other = keras.models.clone_model(model, clone_function=lambda layer: keras.layers.Rescaling(
        1 / 255, name="scale") if layer.name == "scale" else layer.__class__.from_config(layer.get_config()))
    other.set_weights(model.get_weights())
    odd = tmp_path / "odd.keras"
    other.save(odd)
    assert ensemble.main([str(members[0]), str(odd), "--out", str(tmp_path / "ens")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "odd.keras" in err[0] and "preprocesses frames unlike the others" in err[0]
    assert not (tmp_path / "ens").exists()
