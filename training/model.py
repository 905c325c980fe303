"""The NVIDIA end-to-end network (Bojarski et al., 2016) on 66×200 YUV, preprocessing included."""
from __future__ import annotations

import keras
from keras import layers

from base.frames import FRAME_SHAPE
from base.mirror import MirrorMean, MirrorPair
from training.config import TrainConfig
from training.preprocess import OUTPUT as PREPROCESSED
from training.preprocess import preprocess


def nvidia_network(x: keras.KerasTensor) -> keras.KerasTensor:
    """The NVIDIA layers on preprocessed 66×200×3 input → steering (batch, 1)."""
    for filters, size, stride in [(24, 5, 2), (36, 5, 2), (48, 5, 2), (64, 3, 1), (64, 3, 1)]:
        x = layers.Conv2D(filters, size, strides=stride, activation="elu")(x)
    x = layers.Flatten()(x)  # 1 × 18 × 64 = 1152 features
    for units in (100, 50, 10):
        x = layers.Dense(units, activation="elu")(x)
    # float32 in every training precision, as Keras advises for mixed precision: the loss and the
    # steering it is taken on keep their full resolution.
    return layers.Dense(1, name="steering", dtype="float32")(x)


def build_model(learning_rate: float = TrainConfig.lr) -> keras.Model:
    """Raw RGB frames (batch, 160, 320, 3) in 0..255 → normalised steering (batch, 1); compiled."""
    frames = keras.Input(shape=FRAME_SHAPE, name="frames")
    model = keras.Model(frames, nvidia_network(preprocess(frames)), name="nvidia")
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss="mse")
    return model


def mirror_averaged(model: keras.Model) -> keras.Model:
    """`model` (steering alone) steering by the mean of its steering of a frame and the negated steering of
    the frame's mirror image (`base.mirror`): the same layers and weights, exactly left-right symmetric."""
    start = model.get_layer(PREPROCESSED).output
    network = keras.Model(start, model.output, name="network")
    steering = MirrorMean(name="mirror_mean", dtype="float32")(network(MirrorPair(name="mirror_pair", dtype="float32")(start)))
    return keras.Model(model.input, steering, name=model.name)


def network_alone(model: keras.Model) -> keras.Model:
    """`mirror_averaged`'s inverse: the network of a mirror-averaged model steering by itself (the same layers
    and weights, one pass a frame); any other model as it is."""
    try:
        network = model.get_layer("network")
    except ValueError:  # not mirror-averaged
        return model
    return keras.Model(model.input, network(model.get_layer(PREPROCESSED).output), name=model.name)
