"""Random pan, zoom, brightness and mirror for training batches, with the steering labels they imply;
optionally the look of another simulator (`appearance`: focus, colour, shadows), which moves no label;
and, before those, the car moved (`ViewpointAugmenter`) or the road bent (`BendAugmenter`), which move it.

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

import math
from dataclasses import dataclass

import cv2
import numpy as np

from base.cameras import Camera
from base.frames import CROP_BOTTOM, CROP_TOP
from base.viewpoint import Shift, ViewSynthesizer
from training.config import TrainConfig
from training.imgaug_compat import imgaug
from training.recovery import STEERING, recovery_steering
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
    focus: np.ndarray | None = None  # (B,) -1..1: blurred (<0) or sharpened (>0); 0 where it did not fire
    saturation: np.ndarray | None = None  # (B,) factor; 1 where colour did not fire
    shadow: np.ndarray | None = None  # (B,) darkening factor inside the shadow; 1 where none fell

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
        if self.focus is not None and self.focus[i]:
            done.append(f"{'sharpen' if self.focus[i] > 0 else 'blur'} {abs(self.focus[i]):.2f}")
        if self.saturation is not None and self.saturation[i] != 1:
            done.append(f"saturation {self.saturation[i]:.2f}")
        if self.shadow is not None and self.shadow[i] != 1:
            done.append(f"shadow {self.shadow[i]:.2f}")
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
        self.appearance = config.aug_probability if config.appearance else 0.0  # each look's probability

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
        looks = _look_like_another_simulator(band, self.appearance, rng) if self.appearance else {}
        draws = Draws(pan_px=pan, zoom=zoom, brightness=np.where(fires[:, _BRIGHTNESS], brightness, 1.0),
                      flipped=flipped, **looks)
        return out, np.clip(corrected, *STEERING_RANGE).astype(np.float32), draws


def _look_like_another_simulator(band: np.ndarray, probability: float, rng) -> dict[str, np.ndarray]:
    """In place on the uint8 RGB rows `band` (B, h, W, 3): what other users' simulators change without moving
    the car. Their quality setting blurs or sharpens the road (the Laplacian variance of the road rows is
    ~3,100 in the Udacity sample and ~4,900 in `track1_windows`), their light changes colour, trees cast
    shadows. Each fires with `probability`; drawn after the geometric operations, so those stay as they were."""
    count, height, width = band.shape[:3]
    draw = np.random.default_rng(rng.generate_seed_())
    fires = draw.random((count, 3)) < probability
    focus = np.where(fires[:, 0], draw.uniform(-1, 1, count), 0.0)
    saturation = np.where(fires[:, 1], draw.uniform(0.6, 1.4, count), 1.0)
    hue = draw.uniform(-6, 6, count)  # of OpenCV's 180 hue steps
    shadow = np.where(fires[:, 2], draw.uniform(0.45, 0.85, count), 1.0)
    edges = draw.uniform(0, width, (count, 4))  # where the shadow's two sides cross the band's top and bottom
    for i in range(count):
        image = band[i]
        if focus[i] < 0:
            cv2.GaussianBlur(image, (0, 0), sigmaX=-1.5 * focus[i], dst=image)
        elif focus[i] > 0:
            cv2.addWeighted(image, 1 + focus[i], cv2.GaussianBlur(image, (0, 0), sigmaX=1.0), -focus[i], 0, dst=image)
        if saturation[i] != 1:  # lookup tables on the uint8 channels: no float copy of the image
            h, s, v = cv2.split(cv2.cvtColor(image, cv2.COLOR_RGB2HSV))
            h = cv2.LUT(h, ((np.arange(256) + round(hue[i])) % 180).astype(np.uint8))
            s = cv2.LUT(s, np.minimum(np.arange(256) * saturation[i], 255).astype(np.uint8))
            cv2.cvtColor(cv2.merge([h, s, v]), cv2.COLOR_HSV2RGB, dst=image)
        if shadow[i] != 1:
            mask = np.zeros((height, width), np.uint8)
            a, b, c, d = edges[i]
            corners = [[min(a, b), 0], [max(a, b), 0], [max(c, d), height - 1], [min(c, d), height - 1]]
            cv2.fillConvexPoly(mask, np.array(corners, dtype=np.int32), 1)
            cv2.copyTo(cv2.convertScaleAbs(image, alpha=float(shadow[i])), mask, image)
    return {"focus": focus, "saturation": saturation, "shadow": shadow}


def _exact(values: np.ndarray) -> np.ndarray:
    """`values` rounded to multiples of 2^-10, which sums and integer multiples keep exact in float64."""
    return np.round(values * 1024) / 1024


class BendAugmenter:
    """Bends the road ahead into a curve: each firing frame becomes the view of the same scene with
    curvature κ (drawn up to `bend_curvature`, right +) added to it, labelled with the steering that adds
    κ to the curvature its label drives. A ground point straight ahead at distance z moves κ·z²/2
    sideways (the curve to second order, which keeps the car's own place and heading), farther than
    BEND_REACH_M only as the curve's tangent there does, so the far rows turn rather than tear. The
    cameras share height and pitch, so one map serves all three; only the rows the model crops to move."""

    BEND_REACH_M = 15.0

    def __init__(self, config: TrainConfig) -> None:
        self.probability = config.bend_probability
        self.curvature = config.bend_curvature
        camera = Camera.from_config("center")
        _, z, _ = camera.ground
        z = z[CROP_TOP:CROP_BOTTOM]  # the crop lies below the horizon: every pixel sees the ground
        reach = self.BEND_REACH_M
        sideways = np.where(z <= reach, z ** 2 / 2, reach * z - reach ** 2 / 2)  # metres per unit of κ
        _, _, depth = camera.project(np.stack([np.zeros_like(z), np.zeros_like(z), z], axis=-1))
        self.columns_per_curvature = (camera.focal_px * sideways / depth).astype(np.float32)
        self.rows, self.columns = np.indices(z.shape, dtype=np.float32)

    def __call__(self, images: np.ndarray, labels: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
        """uint8 frames (B, H, W, 3) and their labels (B,) → frames with the firing ones bent, and their labels."""
        rng = np.random.default_rng(seed)
        count = len(images)
        fires = rng.random(count) < self.probability
        curvature = np.where(fires, rng.uniform(-self.curvature, self.curvature, count), 0.0)
        out, labels = images.copy(), labels.astype(np.float32).copy()
        for i in np.flatnonzero(fires):
            # A road bent right shows its points further right: each pixel reads from further left.
            source_columns = self.columns - np.float32(curvature[i]) * self.columns_per_curvature
            cv2.remap(images[i, CROP_TOP:CROP_BOTTOM], source_columns, self.rows, cv2.INTER_LINEAR,
                      dst=out[i, CROP_TOP:CROP_BOTTOM], borderMode=cv2.BORDER_REPLICATE)
        if fires.any():
            _, driven = STEERING.slip_and_curvature(labels[fires].astype(float))
            labels[fires] = np.clip(STEERING.steering_for_curvature(driven + curvature[fires]), *STEERING_RANGE)
        return out, labels


class ViewpointAugmenter:
    """Moves and turns the car (DAVE-2's augmentation): each firing sample's frame becomes the view
    from up to `shift_m` beside its camera and `yaw_deg` turned, synthesised by `base.viewpoint` (the
    replay's own synthesis) from that camera — the nearest one, since the side cameras sit 0.8 m out
    and the shift stays within half that — and labelled with the steering that returns to the path
    (`training.recovery`). Only the rows the model crops to are synthesised."""

    def __init__(self, config: TrainConfig) -> None:
        self.probability = config.viewpoint_probability
        self.shift_m = config.shift_m
        self.yaw_rad = math.radians(config.yaw_deg)
        self.return_s = config.return_s
        self.synth = ViewSynthesizer(top=CROP_TOP)
        self.forward = {name: cam.position[2] - self.synth.target.position[2] for name, cam in self.synth.sources.items()}

    def __call__(self, images: np.ndarray, labels: np.ndarray, samples: dict[str, np.ndarray],
                 seed: int) -> tuple[np.ndarray, np.ndarray]:
        """uint8 frames (B, H, W, 3), their labels (B,) and per sample `camera`, `lateral_m`,
        `recorded` steering and `speed_mps` → frames with the firing ones replaced, and their labels."""
        rng = np.random.default_rng(seed)
        count = len(images)
        fires = rng.random(count) < self.probability
        shift = rng.uniform(-self.shift_m, self.shift_m, count)
        yaw = rng.uniform(-self.yaw_rad, self.yaw_rad, count)
        out, labels = images.copy(), labels.astype(np.float32).copy()
        for i in np.flatnonzero(fires):
            camera = samples["camera"][i]
            where = Shift(lateral_m=float(samples["lateral_m"][i] + shift[i]), yaw_rad=float(yaw[i]),
                          forward_m=self.forward[camera])
            self.synth.synthesize({camera: images[i]}, where, camera, out=out[i])
        if fires.any():
            labels[fires] = recovery_steering(samples["recorded"][fires], samples["lateral_m"][fires] + shift[fires],
                                              yaw[fires], samples["speed_mps"][fires], self.return_s)
        return out, labels
