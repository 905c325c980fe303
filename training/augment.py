"""Random pan, zoom, brightness and mirror for training batches, with the steering labels they imply.

The imgaug pipeline is built once; each batch is augmented in one imgaug call. Two keypoints beside
the image centre ride along with every image, so the pipeline itself reports what it did to each
frame: where the centre moved (the horizontal shift to correct the steering for) and whether the
pair swapped sides (a mirror, which negates the steering). No parameter is sampled twice.
"""
from __future__ import annotations

import numpy as np

from training.config import TrainConfig
from training.imgaug_compat import iaa
from training.samples import STEERING_RANGE


class Augmenter:
    """`augmenter(images, steering, seed)` → augmented copies; the same seed gives the same result."""

    def __init__(self, config: TrainConfig) -> None:
        self.steering_per_px = config.pan_steering_per_px
        p = config.aug_probability
        ops = []
        if config.pan:
            # Nearest neighbour moves the content by whole pixels: no interpolation blur that unshifted frames
            # lack, and cheaper. The keypoints report the unrounded shift, at most 0.5 px off (0.002 at 0.004/px).
            shift = (-config.pan, config.pan)
            ops.append(iaa.Sometimes(p, iaa.Affine(translate_percent={"x": shift, "y": shift}, order=0), name="pan"))
        if tuple(config.zoom) != (1.0, 1.0):
            ops.append(iaa.Sometimes(p, iaa.Affine(scale=tuple(config.zoom)), name="zoom"))
        if tuple(config.brightness) != (1.0, 1.0):
            ops.append(iaa.Sometimes(p, iaa.Multiply(tuple(config.brightness)), name="brightness"))
        if config.flip:
            ops.append(iaa.Sometimes(p, iaa.Fliplr(1.0), name="flip"))
        self.pipeline = iaa.Sequential(ops, name="augment")

    def __call__(self, images: np.ndarray, steering: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
        """uint8 frames (B, H, W, 3) and steering (B,) → augmented frames and corrected steering (float32)."""
        height, width = images.shape[1:3]
        centre = np.array([[width / 2, height / 2], [width / 2 + 1, height / 2]])
        # A private copy per call: parallel workers never share random state, and a batch's result
        # depends on its seed alone, not on which batches other workers augmented first.
        pipeline = self.pipeline.deepcopy()
        pipeline.seed_(seed)
        augmented, markers = pipeline(images=images, keypoints=[centre] * len(images))
        markers = np.stack(markers)  # (B, 2 keypoints, xy)
        mirrored = markers[:, 1, 0] < markers[:, 0, 0]
        centre_x = np.where(mirrored, width - markers[:, 0, 0], markers[:, 0, 0])
        # Content moved right = the car seen further left of the road's centre = steer right (+).
        corrected = steering + (centre_x - width / 2) * self.steering_per_px
        corrected = np.where(mirrored, -corrected, corrected)
        return augmented, np.clip(corrected, *STEERING_RANGE).astype(np.float32)
