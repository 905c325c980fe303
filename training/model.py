"""The NVIDIA end-to-end network (Bojarski et al., 2016) on 66×200 YUV, preprocessing included."""
from __future__ import annotations

import keras
from keras import layers

from base.frames import FRAME_SHAPE
from training.config import TrainConfig
from training.preprocess import preprocess


def nvidia_network(x: keras.KerasTensor, dropout: float = 0.0) -> keras.KerasTensor:
    """The NVIDIA layers on preprocessed 66×200×3 input → steering (batch, 1)."""
    for filters, size, stride in [(24, 5, 2), (36, 5, 2), (48, 5, 2), (64, 3, 1), (64, 3, 1)]:
        x = layers.Conv2D(filters, size, strides=stride, activation="elu")(x)
    x = layers.Flatten()(x)  # 1 × 18 × 64 = 1152 features
    if dropout:
        x = layers.Dropout(dropout)(x)
    for units in (100, 50, 10):
        x = layers.Dense(units, activation="elu")(x)
    # float32 in every training precision, as Keras advises for mixed precision: the loss and the
    # steering it is taken on keep their full resolution.
    return layers.Dense(1, name="steering", dtype="float32")(x)


def build_model(dropout: float = TrainConfig.dropout, learning_rate: float = TrainConfig.lr,
                weight_average: float = TrainConfig.weight_average) -> keras.Model:
    """Raw RGB frames (batch, 160, 320, 3) in 0..255 → normalised steering (batch, 1); compiled.

    `weight_average` > 0: the optimizer also keeps an exponential moving average of the weights with
    that momentum (`training.callbacks` swaps it in to validate and save).
    """
    frames = keras.Input(shape=FRAME_SHAPE, name="frames")
    model = keras.Model(frames, nvidia_network(preprocess(frames), dropout), name="nvidia")
    optimizer = keras.optimizers.Adam(learning_rate, use_ema=weight_average > 0, ema_momentum=weight_average or 0.99)
    model.compile(optimizer=optimizer, loss="mse")
    return model
