"""The two Keras layers of a mirror-averaged model: it steers by the mean of its steering of a frame and the
negated steering of the frame's mirror image, so its answer is exactly left-right symmetric.

Flip augmentation teaches a network that a mirrored road needs the mirrored steering only on average;
each trained network keeps left-right habits of its own, and they differ from seed to seed
(docs/driving.md). The mirror image goes through the network in the same batch as the frame.

The layers are registered with Keras when this module is imported, so files holding them load in safe
mode: `base.runtime` imports it before loading any Keras model.
"""
from __future__ import annotations

import keras


@keras.saving.register_keras_serializable(package="base")
class MirrorPair(keras.layers.Layer):
    """Images (N, H, W, C) → (2N, H, W, C): the images, then the same images mirrored left-right."""

    def call(self, images):  # a backend tensor (N, H, W, C)
        return keras.ops.concatenate([images, images[:, :, ::-1, :]], axis=0)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return (None, *input_shape[1:])


@keras.saving.register_keras_serializable(package="base")
class MirrorMean(keras.layers.Layer):
    """Steering (2N, 1) of `MirrorPair`'s images → (N, 1): for each image, half of (its steering minus its
    mirror image's)."""

    def call(self, steering):  # a backend tensor (2N, 1)
        n = keras.ops.shape(steering)[0] // 2
        return 0.5 * (steering[:n] - steering[n:])

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return (None, *input_shape[1:])
