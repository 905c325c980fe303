"""The tutorials' way of training (the classic behavioural-cloning notebook), rebuilt to compare against.

A Python generator picks random samples, reads each JPEG with matplotlib, augments it with imgaug
augmenters made and called per image (pan, zoom, brightness, mirror, each with probability 0.5),
preprocesses it with OpenCV (crop, YUV, blur, resize, /255) and stacks a batch; the NVIDIA network
trains on that with `fit(steps_per_epoch=...)`, and the last epoch is the model. `benchmarks.input_pipeline`
times it; `studies.real_replay --recipe tutorial` trains it and drives the held-out footage with it.
"""
from __future__ import annotations

import random
from pathlib import Path
from typing import Iterator

import cv2
import keras
import matplotlib.image as mpimg
import numpy as np
import pandas as pd

from base.frames import CROP_BOTTOM, CROP_TOP
from training.config import TrainConfig
from training.imgaug_compat import iaa
from training.model import nvidia_network
from training.preprocess import MODEL_HEIGHT, MODEL_WIDTH


def zoom(image: np.ndarray) -> np.ndarray:
    return iaa.Affine(scale=(1, 1.3)).augment_image(image)


def pan(image: np.ndarray) -> np.ndarray:
    return iaa.Affine(translate_percent={"x": (-0.1, 0.1), "y": (-0.1, 0.1)}).augment_image(image)


def brightness(image: np.ndarray) -> np.ndarray:
    return iaa.Multiply((0.4, 1.2)).augment_image(image)


def random_augment(path: str, steering: float) -> tuple[np.ndarray, float]:
    image = mpimg.imread(path)
    if np.random.rand() < 0.5:
        image = pan(image)
    if np.random.rand() < 0.5:
        image = zoom(image)
    if np.random.rand() < 0.5:
        image = brightness(image)
    if np.random.rand() < 0.5:
        image, steering = cv2.flip(image, 1), -steering
    return image, steering


def preprocess(image: np.ndarray) -> np.ndarray:
    image = image[CROP_TOP:CROP_BOTTOM, :, :]
    image = cv2.cvtColor(image, cv2.COLOR_RGB2YUV)
    image = cv2.GaussianBlur(image, (3, 3), 0)
    image = cv2.resize(image, (MODEL_WIDTH, MODEL_HEIGHT))
    return image / 255


def batch_generator(paths: list[str], steering: np.ndarray, batch_size: int) -> Iterator[tuple]:
    while True:
        images, labels = [], []
        for _ in range(batch_size):
            i = random.randint(0, len(paths) - 1)
            image, label = random_augment(paths[i], float(steering[i]))
            images.append(preprocess(image))
            labels.append(label)
        yield np.asarray(images), np.asarray(labels)


def build() -> keras.Model:
    """The tutorials' NVIDIA network: training.model's layers, on input preprocessed by the generator."""
    images = keras.Input((MODEL_HEIGHT, MODEL_WIDTH, 3))
    model = keras.Model(images, nvidia_network(images))
    model.compile(optimizer=keras.optimizers.Adam(TrainConfig().lr), loss="mse")
    return model


def train(samples: pd.DataFrame, epochs: int, batch_size: int, seed: int, out: Path) -> keras.Model:
    """The tutorials' fit on `samples` (image, steering), as many images per epoch as samples; saved to `out`."""
    random.seed(seed)
    keras.utils.set_random_seed(seed)  # also seeds NumPy, which the generator uses
    model = build()
    batches = batch_generator(samples["image"].tolist(), samples["steering"].to_numpy(), batch_size)
    model.fit(batches, steps_per_epoch=max(1, len(samples) // batch_size), epochs=epochs, verbose=2)
    out.parent.mkdir(parents=True, exist_ok=True)
    model.save(out)
    return model


class Steerer:
    """One frame (RGB, as the simulator sends it) → the tutorial model's steering, preprocessed its way."""

    def __init__(self, model: keras.Model) -> None:
        import tensorflow as tf

        self.call = tf.function(lambda x: model(x, training=False))  # model.predict costs ~50 ms a frame

    def __call__(self, frame: np.ndarray) -> float:
        x = preprocess(frame)[None].astype(np.float32)
        return float(np.asarray(self.call(x))[0, 0])
