"""The batch augmenter: labels follow what was done to each image, and a seed fixes the result."""
from __future__ import annotations

import numpy as np
from recordings import frame

from base.frames import CROP_BOTTOM, CROP_TOP
from training.augment import Augmenter
from training.config import TrainConfig
from training.model import build_model

NO_OPS = dict(pan=0.0, zoom=(1.0, 1.0), brightness=(1.0, 1.0), flip=False)


def batch(n: int = 16) -> tuple[np.ndarray, np.ndarray]:
    return np.stack([frame(i) for i in range(n)]), np.linspace(-0.5, 0.5, n).astype(np.float32)


def bar_column(image: np.ndarray) -> float:
    """Where the bright vertical bar of a test frame is (mean column of its near-white pixels, middle row)."""
    return float(np.flatnonzero(image[80].min(axis=-1) > 200).mean())


def test_mirroring_flips_the_image_and_negates_steering():
    images, steering = batch()
    out, labels = Augmenter(TrainConfig(**(NO_OPS | dict(flip=True)), aug_probability=1.0))(images, steering, 0)
    np.testing.assert_array_equal(out, images[:, :, ::-1])
    np.testing.assert_allclose(labels, -steering)


def test_pan_corrects_steering_by_the_shift_and_towards_the_right_side():
    images, steering = batch(32)
    config = TrainConfig(**(NO_OPS | dict(pan=0.1)), aug_probability=1.0, pan_steering_per_px=0.004)
    out, labels = Augmenter(config)(images, steering, 7)
    shifts = np.array([bar_column(a) - bar_column(b) for a, b in zip(out, images)])
    assert (shifts > 1).any() and (shifts < -1).any()
    assert np.abs(shifts).max() <= 32 + 1
    # Content moved right: the car sees itself left of the road's centre, so it must steer more to the right.
    np.testing.assert_allclose(labels - steering, shifts * 0.004, atol=0.004)


def test_pan_then_mirror_negates_the_corrected_steering():
    images, steering = batch(32)
    config = TrainConfig(**(NO_OPS | dict(pan=0.1, flip=True)), aug_probability=1.0, pan_steering_per_px=0.004)
    out, labels = Augmenter(config)(images, steering, 3)
    # Undo the mirror to measure the shift; the label is the mirrored, shift-corrected steering.
    shifts = np.array([bar_column(a[:, ::-1]) - bar_column(b) for a, b in zip(out, images)])
    np.testing.assert_allclose(labels, -(steering + shifts * 0.004), atol=0.004)


def test_each_operation_fires_with_its_probability():
    images, steering = batch(64)
    config = TrainConfig(**(NO_OPS | dict(flip=True)), aug_probability=0.5)
    _, labels = Augmenter(config)(images, steering, 0)
    flipped = np.isclose(labels, -steering) & ~np.isclose(steering, 0)
    assert 16 <= flipped.sum() <= 48
    out, labels = Augmenter(TrainConfig(aug_probability=0.0))(images, steering, 0)
    np.testing.assert_array_equal(out, images)
    np.testing.assert_array_equal(labels, steering)


def test_same_seed_same_batch_other_seed_other_batch():
    images, steering = batch()
    augmenter = Augmenter(TrainConfig())
    first = augmenter(images, steering, 11)
    again = augmenter(images, steering, 11)
    other = augmenter(images, steering, 12)
    np.testing.assert_array_equal(first[0], again[0])
    np.testing.assert_array_equal(first[1], again[1])
    assert not np.array_equal(first[0], other[0])
    assert images.dtype == first[0].dtype == np.uint8 and first[0].shape == images.shape


def test_brightness_and_zoom_keep_the_label():
    images, steering = batch()
    config = TrainConfig(**(NO_OPS | dict(zoom=(1.1, 1.3), brightness=(0.4, 0.6))), aug_probability=1.0)
    out, labels = Augmenter(config)(images, steering, 0)
    np.testing.assert_allclose(labels, steering, atol=1e-5)  # zoom is about the centre: no shift
    assert out.mean() < 0.7 * images.mean()
    assert not np.array_equal(out, images)


def test_a_pan_alone_is_an_exact_whole_pixel_shift_and_the_label_matches_it():
    images, steering = batch(8)
    config = TrainConfig(**(NO_OPS | dict(pan=0.1)), aug_probability=1.0, pan_steering_per_px=0.004)
    out, labels = Augmenter(config)(images, steering, 5)
    for image, shifted, before, after in zip(images, out, steering, labels):
        dx = int(round((after - before) / 0.004))
        np.testing.assert_allclose(after, before + dx * 0.004, atol=1e-6)
        matches = [dy for dy in range(-16, 17) if np.array_equal(
            shifted[max(dy, 0):160 + min(dy, 0), max(dx, 0):320 + min(dx, 0)],
            image[max(-dy, 0):160 + min(-dy, 0), max(-dx, 0):320 + min(-dx, 0)])]
        assert matches, f"no whole-pixel shift by {dx} px sideways reproduces the panned frame"


def test_pan_zoom_brightness_and_flip_fire_independently_each_with_its_probability():
    images = np.stack([frame(10 + i % 10) for i in range(512)])  # bluish frames: brightness is easy to measure
    steering = np.full(512, 0.1, dtype=np.float32)
    config = TrainConfig(pan=0.1, zoom=(1.25, 1.3), brightness=(0.4, 0.6), flip=True, aug_probability=0.5,
                         pan_steering_per_px=0.004)
    out, labels = Augmenter(config)(images, steering, 1)
    row, original_row = out[:, 80].astype(float), images[:, 80].astype(float)
    seen = row.max(axis=-1) > 0  # not the black border a pan leaves
    dimming = np.array([np.median(r[s, 2]) / o[0, 2] for r, s, o in zip(row, seen, original_row)])
    # The red channel rises left to right: mirrored, it falls; zoomed in, it rises slower.
    slope = np.array([np.median((r[200:, 0] - r[:-200, 0])[s[200:] & s[:-200]]) for r, s in zip(row, seen)])
    slope /= (original_row[0, 200:, 0] - original_row[0, :-200, 0]).mean() * dimming
    flipped, zoomed, dimmed = slope < 0, np.abs(slope) < 0.88, dimming < 0.8
    panned = ~np.isclose(np.where(flipped, -labels, labels), steering, atol=1e-4)
    fired = np.stack([panned, zoomed, dimmed, flipped], axis=1)
    assert (np.abs(fired.mean(axis=0) - 0.5) < 0.1).all(), fired.mean(axis=0)
    both = fired[:, :, None] & fired[:, None, :]  # every pair of operations fires together about 1/4 of the time
    assert (np.abs(both.mean(axis=0)[np.triu_indices(4, 1)] - 0.25) < 0.08).all()


def test_augmenting_only_the_cropped_rows_gives_the_model_the_same_input():
    images, steering = batch(16)
    whole, whole_labels = Augmenter(TrainConfig())(images, steering, 2)
    band, band_labels = Augmenter(TrainConfig(), rows=(CROP_TOP, CROP_BOTTOM))(images, steering, 2)
    np.testing.assert_array_equal(band_labels, whole_labels)
    np.testing.assert_array_equal(band[:, CROP_TOP:CROP_BOTTOM], whole[:, CROP_TOP:CROP_BOTTOM])
    np.testing.assert_array_equal(band[:, :CROP_TOP], images[:, :CROP_TOP])
    model = build_model()
    np.testing.assert_array_equal(model.predict(band, verbose=0), model.predict(whole, verbose=0))


def test_draws_say_what_each_image_got_and_match_the_pixels():
    images, steering = batch()
    config = TrainConfig(**(NO_OPS | dict(pan=0.1, flip=True)), aug_probability=0.5, pan_steering_per_px=0.004)
    out, labels, draws = Augmenter(config).augment(images, steering, 4)
    again, again_labels = Augmenter(config)(images, steering, 4)
    np.testing.assert_array_equal(out, again)  # the same as calling it
    np.testing.assert_array_equal(labels, again_labels)
    text = [draws.describe(i) for i in range(len(images))]
    assert {"none", "flip"} <= set(text) and any(t.startswith("pan ") for t in text)
    for i, described in enumerate(text):
        assert "zoom" not in described and "brightness" not in described  # those are off
        dx = draws.pan_px[i, 0]
        expected = -(steering[i] + dx * 0.004) if draws.flipped[i] else steering[i] + dx * 0.004
        assert labels[i] == np.float32(np.clip(expected, -1, 1))
        assert (described == "none") == np.array_equal(out[i], images[i])
