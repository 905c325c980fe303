"""The steering training's replays drive: the model's preprocessing done by OpenCV, the network by TensorFlow,
against the model's own layers."""
from __future__ import annotations

import keras
import numpy as np
import pytest

from base.frames import FRAME_SHAPE
from training.model import build_model
from training.precision import Float32Steering, policy
from training.preprocess import MODEL_HEIGHT, MODEL_WIDTH, OUTPUT
from training.replay_steering import ReplaySteering, preprocess_view


@pytest.fixture(scope="module")
def frames() -> np.ndarray:
    """Frame-like pictures: a gradient with noise, so every pixel path and the borders are exercised."""
    rng = np.random.default_rng(0)
    ramp = np.linspace(0, 255, FRAME_SHAPE[1])[None, None, :, None]
    return np.clip(ramp + rng.uniform(-60, 60, size=(12, *FRAME_SHAPE)), 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def model() -> keras.Model:
    keras.utils.set_random_seed(1)
    return build_model()


def test_opencv_gives_the_network_the_inputs_the_models_preprocessing_layers_give_it(frames, model):
    layers = keras.Model(model.input, model.get_layer(OUTPUT).output)
    expected = np.asarray(layers(frames.astype(np.float32)))
    mine = np.empty((len(frames), MODEL_HEIGHT, MODEL_WIDTH, 3), np.float32)
    for frame, out in zip(frames, mine):
        preprocess_view(frame, out)
    assert np.abs(mine - expected).max() < 3e-5  # of a range of 2: float32 rounding, nothing misplaced
    assert expected.std() > 0.1  # the frames are not flat: a shifted row or a wrong channel would show


@pytest.mark.parametrize("mirror", [False, True])
def test_the_steering_is_the_float32_models_and_follows_its_weights(frames, model, mirror):
    steering = ReplaySteering(mirror)
    expected = Float32Steering(mirror)(model)(frames)
    assert np.abs(steering(model)(frames) - expected).max() < 1e-5
    assert np.ptp(expected) > 1e-3  # the frames steer differently
    original = model.get_weights()
    for variable in model.trainable_variables:  # training moves the network's weights (the preprocessing's are fixed)
        variable.assign(variable * 0.9)
    try:
        moved = Float32Steering(mirror)(model)(frames)
        assert np.abs(moved - expected).max() > 1e-3
        assert np.abs(steering(model)(frames) - moved).max() < 1e-5
    finally:
        model.set_weights(original)


def test_as_trained_the_network_is_the_models_own_in_its_training_precision(frames, model):
    with policy("bfloat16"):
        trained = build_model()
    trained.set_weights(model.get_weights())
    float32 = Float32Steering()(model)(frames)
    own = ReplaySteering(as_trained=True)(trained)(frames)
    assert 0 < np.abs(own - float32).max() < 0.02  # bfloat16's rounding: close, not the float32 copy's
    assert np.abs(own - ReplaySteering(as_trained=True)(trained)(frames)).max() == 0
    with pytest.raises(ValueError, match="mirror"):
        ReplaySteering(mirror=True, as_trained=True)
