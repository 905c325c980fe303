"""Random pan, zoom, brightness and mirror for training batches, with the steering labels they imply.

imgaug's stochastic parameters are built once and draw every random choice of a batch from one seeded
random state: whether each operation fires (each with its own probability) and its amount. Applying
them is one OpenCV call per image instead of one imgaug augmenter per operation, whose Python
overhead per image cost more than the pixel work (0.75 → 0.2 ms/img on one core): pan, zoom and
mirror are composed into a single affine warp (skipped when neither pan nor zoom fired), brightness
is a saturating scale of the uint8 pixels. The steering correction is read off the composed warp:
how far it moves the image centre sideways. Training augments only the rows the model crops to
(0.1 ms/img); those rows are bit for bit what augmenting the whole frame gives.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from training.config import TrainConfig
from training.imgaug_compat import imgaug
from training.samples import STEERING_RANGE

iap = imgaug.parameters
_PAN, _ZOOM, _BRIGHTNESS, _FLIP = range(4)


@dataclass(frozen=True)
class Draws:
    """What each image of a batch got: which operations fired, and by how much."""

    pan_px: np.ndarray  # (B, 2) whole pixels (x right, y down); 0 where pan did not fire
    zoom: np.ndarray  # (B,) factor; 1 where zoom did not fire
    brightness: np.ndarray  # (B,) factor; 1 where brightness did not fire
    flipped: np.ndarray  # (B,) bool

    def describe(self, i: int) -> str:
        """Image `i`'s operations for people: 'pan +12/-3 px, zoom 1.15, brightness 0.62, flip', or 'none'."""
        done = []
        if self.pan_px[i].any():
            done.append(f"pan {self.pan_px[i, 0]:+.0f}/{self.pan_px[i, 1]:+.0f} px")
        if self.zoom[i] != 1:
            done.append(f"zoom {self.zoom[i]:.2f}")
        if self.brightness[i] != 1:
            done.append(f"brightness {self.brightness[i]:.2f}")
        if self.flipped[i]:
            done.append("flip")
        return ", ".join(done) or "none"


class Augmenter:
    """`augmenter(images, steering, seed)` → augmented copies; the same seed gives the same result."""

    def __init__(self, config: TrainConfig, rows: tuple[int, int] | None = None) -> None:
        """`rows` (top, bottom): augment only these frame rows, e.g. the ones the model crops to; the
        others keep their original pixels. None: whole frames."""
        self.rows = rows
        self.steering_per_px = config.pan_steering_per_px
        self.enabled = np.array([config.pan != 0, tuple(config.zoom) != (1.0, 1.0),
                                 tuple(config.brightness) != (1.0, 1.0), bool(config.flip)])
        self.fires = iap.Binomial(config.aug_probability)
        self.pan = iap.Uniform(-config.pan, config.pan)  # share of width (x) and height (y)
        self.zoom = iap.Uniform(*config.zoom)
        self.brightness = iap.Uniform(*config.brightness)

    def __call__(self, images: np.ndarray, steering: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
        """uint8 frames (B, H, W, 3) and steering (B,) → augmented frames and corrected steering (float32)."""
        out, corrected, _ = self.augment(images, steering, seed)
        return out, corrected

    def augment(self, images: np.ndarray, steering: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray, Draws]:
        """As calling the augmenter, and what each image got."""
        count, height, width = images.shape[:3]
        # A fresh random state per call: parallel workers share nothing, and a batch's result depends
        # on its seed alone, not on which batches other workers augmented first.
        rng = imgaug.random.RNG(seed)
        fires = self.fires.draw_samples((count, 4), random_state=rng).astype(bool) & self.enabled
        # Whole pixels: a pan alone is then an exact shift, with no interpolation blur unshifted frames lack.
        pan = np.where(fires[:, [_PAN]], np.round(self.pan.draw_samples((count, 2), random_state=rng)
                                                  * (width, height)), 0.0)
        zoom = np.where(fires[:, _ZOOM], self.zoom.draw_samples(count, random_state=rng), 1.0)
        brightness = self.brightness.draw_samples(count, random_state=rng)

        # Pixel centres are at integer coordinates, so the image centre is at ((W-1)/2, (H-1)/2).
        centre = np.array([(width - 1) / 2, (height - 1) / 2])
        # Pan, then zoom about the centre (imgaug's Affine order), written as where each output pixel
        # reads from: source = (output − centre) / zoom + centre − pan.
        # Multiples of 2^-10 make OpenCV's per-row coordinate sums exact, so warping only a band of rows
        # gives bit for bit the rows of the full warp; 0.001 px is far below what interpolation resolves.
        inverse_zoom = _exact(1 / zoom)
        sources = np.zeros((count, 2, 3))
        sources[:, 0, 0] = sources[:, 1, 1] = inverse_zoom
        sources[:, :, 2] = _exact(centre - pan - centre * inverse_zoom[:, None])
        # Content moved right = the car seen further left of the road's centre = steer right (+).
        shift_x = (centre[0] - sources[:, 0, 2]) / sources[:, 0, 0] - centre[0]
        corrected = steering + shift_x * self.steering_per_px
        flipped = fires[:, _FLIP]
        mirror = np.array([[-1.0, 0.0, width - 1], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
        sources[flipped] = sources[flipped] @ mirror
        corrected = np.where(flipped, -corrected, corrected)

        top, bottom = self.rows or (0, height)
        sources[:, :, 2] += sources[:, :, 1] * top  # output row 0 of the band is frame row `top`
        out = images.copy()  # rows outside the band keep their pixels
        band = out[:, top:bottom]
        for i in range(count):
            if fires[i, _PAN] or fires[i, _ZOOM]:
                # Nearest neighbour is exact for a whole-pixel pan and mirror; a zoom needs interpolation.
                interpolation = cv2.INTER_LINEAR if fires[i, _ZOOM] else cv2.INTER_NEAREST
                cv2.warpAffine(images[i], sources[i], (width, bottom - top), dst=band[i],
                               flags=interpolation | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_CONSTANT,
                               borderValue=0)
            elif flipped[i]:
                cv2.flip(images[i, top:bottom], 1, dst=band[i])
            if fires[i, _BRIGHTNESS]:
                # Scale, round and saturate to uint8 like imgaug's Multiply; the pixels are never negative.
                cv2.convertScaleAbs(band[i], dst=band[i], alpha=float(brightness[i]))
        draws = Draws(pan_px=pan, zoom=zoom, brightness=np.where(fires[:, _BRIGHTNESS], brightness, 1.0),
                      flipped=flipped)
        return out, np.clip(corrected, *STEERING_RANGE).astype(np.float32), draws


def _exact(values: np.ndarray) -> np.ndarray:
    """`values` rounded to multiples of 2^-10, which sums and integer multiples keep exact in float64."""
    return np.round(values * 1024) / 1024
