"""The one definition of preprocessing, as Keras layers the saved model carries.

Training feeds the model raw 320×160 RGB frames and so does the drive server: crop, colour
conversion, blur, resize and scaling happen inside the model, so the two can never disagree.
Every layer here is a built-in Keras layer with fixed weights, so the model loads in safe mode and
exports to ONNX and LiteRT (which rejects `Resizing(interpolation="area")`, hence bilinear).
They compute in float32 whatever the training precision (`training.precision`): bfloat16 would round
the YUV coefficients (0.299 → 0.2988) and every intermediate value to 8 significant bits, so a
model would see other inputs in training than in driving.
"""
from __future__ import annotations

import keras
import numpy as np
from keras import layers

from base.frames import CROP_BOTTOM, CROP_TOP, FRAME_HEIGHT

MODEL_HEIGHT, MODEL_WIDTH = 66, 200
DTYPE = "float32"  # of every preprocessing layer, in every training precision (see above)
OUTPUT = "scale"  # the last preprocessing layer: the network proper starts after it (mirror, ensembles)

# OpenCV's COLOR_RGB2YUV for 8-bit images: Y = .299R + .587G + .114B, U = .492(B−Y) + 128,
# V = .877(R−Y) + 128 — written as a 1×1 convolution (rows: Y, U, V; columns: R, G, B).
_LUMA = np.array([0.299, 0.587, 0.114])
RGB_TO_YUV = np.stack([_LUMA, 0.492 * (np.eye(3)[2] - _LUMA), 0.877 * (np.eye(3)[0] - _LUMA)])
YUV_OFFSET = np.array([0.0, 128.0, 128.0])
# OpenCV's 3×3 Gaussian with sigma derived from the size: [1, 2, 1] / 4 in each direction.
_GAUSS_1D = np.array([0.25, 0.5, 0.25])
GAUSSIAN_3X3 = np.outer(_GAUSS_1D, _GAUSS_1D)


def preprocess(frames: keras.KerasTensor) -> keras.KerasTensor:
    """Raw RGB frames (batch, 160, 320, 3), values 0..255 → YUV (batch, 66, 200, 3) in [-1, 1]."""
    x = layers.Cropping2D(((CROP_TOP, FRAME_HEIGHT - CROP_BOTTOM), (0, 0)), name="crop", dtype=DTYPE)(frames)
    to_yuv = layers.Conv2D(3, 1, trainable=False, name="rgb_to_yuv", dtype=DTYPE)
    x = to_yuv(x)
    to_yuv.set_weights([RGB_TO_YUV.T.reshape(1, 1, 3, 3).astype("float32"), YUV_OFFSET.astype("float32")])
    blur = layers.DepthwiseConv2D(3, padding="same", use_bias=False, trainable=False, name="blur",
                                   dtype=DTYPE)
    x = blur(x)
    blur.set_weights([np.repeat(GAUSSIAN_3X3[:, :, None, None], 3, axis=2).astype("float32")])
    x = layers.Resizing(MODEL_HEIGHT, MODEL_WIDTH, interpolation="bilinear", name="resize", dtype=DTYPE)(x)
    return layers.Rescaling(1 / 127.5, offset=-1.0, name=OUTPUT, dtype=DTYPE)(x)
