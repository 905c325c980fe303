"""The network: preprocessing layers against an OpenCV reference, and the safe-mode round trip."""
from __future__ import annotations

import cv2
import keras
import numpy as np
import pytest
from recordings import road_frame

from base.frames import CROP_BOTTOM, CROP_TOP
from training.model import build_model
from training.preprocess import MODEL_HEIGHT, MODEL_WIDTH

BORDER = 2  # the Keras blur pads with zeros and OpenCV reflects: compare away from the edges
# OpenCV rounds YUV to uint8 before blurring (±0.5 of 255 levels); the layers keep float.
TOLERANCE = 1.0 / 127.5


@pytest.fixture(scope="module")
def model() -> keras.Model:
    return build_model()


def opencv_preprocess(frame: np.ndarray) -> np.ndarray:
    """The classic pipeline: crop, RGB→YUV, 3×3 Gaussian blur, resize to 200×66, scale to [-1, 1]."""
    yuv = cv2.cvtColor(frame[CROP_TOP:CROP_BOTTOM], cv2.COLOR_RGB2YUV).astype(np.float32)
    blurred = cv2.GaussianBlur(yuv, (3, 3), 0)
    resized = cv2.resize(blurred, (MODEL_WIDTH, MODEL_HEIGHT), interpolation=cv2.INTER_LINEAR)
    return resized / 127.5 - 1.0


def keras_preprocess(model: keras.Model, frame: np.ndarray) -> np.ndarray:
    preprocessing = keras.Model(model.input, model.get_layer("scale").output)
    return preprocessing.predict(frame[None].astype(np.float32), verbose=0)[0]


def assert_matches_opencv(model: keras.Model, frame: np.ndarray) -> None:
    ours, reference = keras_preprocess(model, frame), opencv_preprocess(frame)
    assert ours.shape == reference.shape == (MODEL_HEIGHT, MODEL_WIDTH, 3)
    inner = (slice(BORDER, -BORDER), slice(BORDER, -BORDER))
    difference = np.abs(ours[inner] - reference[inner])
    assert difference.max() < TOLERANCE, difference.max()
    assert difference.mean() < 0.25 / 127.5


def test_preprocessing_matches_opencv_on_a_road_like_frame(model):
    assert_matches_opencv(model, road_frame(0.3, np.random.default_rng(1)))


def test_preprocessing_matches_opencv_on_a_real_frame(model, realdata):
    bgr = cv2.imread(str(sorted((realdata / "udacity_sample_part" / "IMG").glob("center_*.jpg"))[500]))
    assert_matches_opencv(model, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))


def test_preprocessing_is_sensitive_to_channel_order(model):
    """The reference check can fail: BGR input (cv2's default) gives a visibly different image."""
    frame = road_frame(0.0, np.random.default_rng(2))
    ours, wrong = keras_preprocess(model, frame), opencv_preprocess(frame[..., ::-1].copy())
    assert np.abs(ours - wrong).max() > 5 * TOLERANCE


# An untrained model has no optimizer state to restore; Keras warns about that, not about the model.
@pytest.mark.filterwarnings("ignore:Skipping variable loading for optimizer")
def test_saved_model_loads_in_safe_mode_with_the_same_steering(model, tmp_path):
    frames = np.stack([road_frame(x, np.random.default_rng(3)) for x in (-0.5, 0.0, 0.5)]).astype(np.float32)
    model.save(tmp_path / "model.keras")
    loaded = keras.models.load_model(tmp_path / "model.keras", safe_mode=True)
    np.testing.assert_allclose(loaded.predict(frames, verbose=0), model.predict(frames, verbose=0), atol=1e-6)
    assert loaded.input_shape == (None, 160, 320, 3) and loaded.output_shape == (None, 1)
