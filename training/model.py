"""The NVIDIA end-to-end network (Bojarski et al., 2016) on 66×200 YUV, preprocessing included."""
from __future__ import annotations

import keras
from keras import layers

from base.frames import FRAME_SHAPE
from base.mirror import MirrorMean, MirrorPair
from training.config import TrainConfig
from training.preprocess import OUTPUT as PREPROCESSED
from training.preprocess import preprocess

POSE = "pose"  # the auxiliary head's output: the view's offset and heading from the recorded path
YAW_SCALE = 10.0  # heading targets in tenths of a radian, so both pose targets are about a metre's size


@keras.saving.register_keras_serializable(package="training")
def pose_loss(y_true, y_pred):
    """Squared error of (lateral m, yaw/10 rad) where the sample's pose is known (y_true's third column is 1)."""
    known = y_true[:, 2]
    return known * keras.ops.mean(keras.ops.square(y_pred - y_true[:, :2]), axis=-1)


def nvidia_network(x: keras.KerasTensor, dropout: float = 0.0, pose: bool = False):
    """The NVIDIA layers on preprocessed 66×200×3 input → steering (batch, 1), and with `pose` also
    (steering, pose (batch, 2)) from the first dense layer."""
    for filters, size, stride in [(24, 5, 2), (36, 5, 2), (48, 5, 2), (64, 3, 1), (64, 3, 1)]:
        x = layers.Conv2D(filters, size, strides=stride, activation="elu")(x)
    x = layers.Flatten()(x)  # 1 × 18 × 64 = 1152 features
    if dropout:
        x = layers.Dropout(dropout)(x)
    head = None
    for units in (100, 50, 10):
        x = layers.Dense(units, activation="elu")(x)
        if pose and head is None:
            head = layers.Dense(2, name=POSE, dtype="float32")(x)
    # float32 in every training precision, as Keras advises for mixed precision: the loss and the
    # steering it is taken on keep their full resolution.
    steering = layers.Dense(1, name="steering", dtype="float32")(x)
    return (steering, head) if pose else steering


def build_model(dropout: float = TrainConfig.dropout, learning_rate: float = TrainConfig.lr,
                weight_average: float = TrainConfig.weight_average, pose_weight: float = TrainConfig.pose_weight) -> keras.Model:
    """Raw RGB frames (batch, 160, 320, 3) in 0..255 → normalised steering (batch, 1); compiled.

    `weight_average` > 0: the optimizer also keeps an exponential moving average of the weights with
    that momentum (`training.callbacks` swaps it in to validate and save).
    """
    frames = keras.Input(shape=FRAME_SHAPE, name="frames")
    optimizer = keras.optimizers.Adam(learning_rate, use_ema=weight_average > 0, ema_momentum=weight_average or 0.99)
    if pose_weight > 0:
        steering, pose = nvidia_network(preprocess(frames), dropout, pose=True)
        model = keras.Model(frames, {"steering": steering, POSE: pose}, name="nvidia")
        model.compile(optimizer=optimizer, loss={"steering": "mse", POSE: pose_loss},
                      loss_weights={"steering": 1.0, POSE: pose_weight})
        return model
    model = keras.Model(frames, nvidia_network(preprocess(frames), dropout), name="nvidia")
    model.compile(optimizer=optimizer, loss="mse")
    return model


def steering_only(model: keras.Model) -> keras.Model:
    """`model` without its pose head, if it has one (the same layers and weights): what is saved and driven."""
    if POSE not in {layer.name for layer in model.layers}:
        return model
    return keras.Model(model.input, model.get_layer("steering").output, name=model.name)


def mirror_averaged(model: keras.Model) -> keras.Model:
    """`model` (steering alone) steering by the mean of its steering of a frame and the negated steering of
    the frame's mirror image (`base.mirror`): the same layers and weights, exactly left-right symmetric."""
    start = model.get_layer(PREPROCESSED).output
    network = keras.Model(start, model.output, name="network")
    steering = MirrorMean(name="mirror_mean", dtype="float32")(network(MirrorPair(name="mirror_pair", dtype="float32")(start)))
    return keras.Model(model.input, steering, name=model.name)
