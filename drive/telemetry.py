"""One telemetry message from the simulator → a checked frame and speed, or a one-line reason why not.

The simulator sends every value as a string, numbers in the machine's locale ("12,5" on a German
Windows) and the centre camera as base64 JPEG, 320×160 RGB. Anything else is reported as
`BadTelemetry` so the server can answer with a safe command instead of crashing. The car's current
steering and throttle are not read: the model and the speed controller need only frame and speed.

PNG or BMP images and images of another size (up to `MAX_SCALE` times) are accepted, not rejected:
resized to 320×160 (area interpolation) and re-encoded as JPEG for recording, with a warning line
per frame, since driving on a rescaled view beats stopping. Truncated JPEGs, undecodable data,
non-base64 text, images over `max_image_bytes` and images whose header claims more than
`MAX_SCALE` times the simulator's width or height (a decompression bomb: a small PNG of 12000×12000
pixels) are rejected before anything is decoded (the server then replies safely). Only JPEG, PNG and
BMP are decoded: their headers give the pixel size up front.
"""
from __future__ import annotations

import base64
import binascii
import math
from dataclasses import dataclass

import cv2
import numpy as np

import simulator_config
from base.frames import FRAME_HEIGHT, FRAME_WIDTH, decode_frame, jpeg_truncated
from drive.imageheader import image_format, image_size

# A real frame is 15–25 KB of JPEG (≈ 27 KB as base64); anything beyond this is not a camera frame.
DEFAULT_MAX_IMAGE_BYTES = 1 << 20
# Whole websocket messages: a bound on memory per message, well above any frame plus its image.
DEFAULT_MAX_MESSAGE_BYTES = 16 << 20
# Decoded images: at most this many times the simulator's width and height (1280×640, 2.4 MB of pixels).
MAX_SCALE = 4


class BadTelemetry(ValueError):
    """A telemetry message the server cannot drive from; the message says what was wrong."""


@dataclass(frozen=True)
class Telemetry:
    frame: np.ndarray  # (160, 320, 3) RGB uint8
    jpeg: bytes  # the image as received, or re-encoded as JPEG when it came in another form
    speed_mph: float
    note: str = ""  # what was adapted (another size or format), for one log line


def parse_number(text: object) -> float:
    """A simulator number: a string (or number) with '.' or a locale ',' as decimal separator."""
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        value = float(text)
    elif isinstance(text, str):
        try:
            value = float(text.strip().replace(",", "."))
        except ValueError:
            raise BadTelemetry(f"{text[:20]!r} is not a number") from None
    else:
        raise BadTelemetry(f"{type(text).__name__} where a number string was expected")
    if not math.isfinite(value):
        raise BadTelemetry(f"{text!r} is not a finite number")
    return value


def parse(data: dict, max_image_bytes: int = DEFAULT_MAX_IMAGE_BYTES) -> Telemetry:
    """The message's frame (RGB, 320×160) and numbers; raises BadTelemetry saying what is wrong."""
    if not isinstance(data, dict):
        raise BadTelemetry(f"telemetry is a {type(data).__name__}, expected an object")
    try:
        speed = parse_number(data["speed"])
    except KeyError:
        raise BadTelemetry("no speed field") from None
    except BadTelemetry as e:
        raise BadTelemetry(f"speed: {e}") from None
    encoded = data.get("image")
    if not isinstance(encoded, str) or not encoded:
        raise BadTelemetry("no image field" if encoded is None else "image is not a base64 string")
    if len(encoded) > max_image_bytes:
        raise BadTelemetry(f"image of {len(encoded) / 1e6:.1f} MB is over the {max_image_bytes / 1e6:.1f} MB limit")
    try:
        raw = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise BadTelemetry("image is not valid base64") from None
    frame, jpeg, note = _decode(raw)
    return Telemetry(frame, jpeg, speed, note)


def _decode(raw: bytes) -> tuple[np.ndarray, bytes, str]:
    """RGB frame, JPEG bytes to record, and a note when the image was not a 320×160 JPEG."""
    kind = image_format(raw)
    if kind is None:
        raise BadTelemetry(f"image of {len(raw)} bytes is not a readable JPEG, PNG or BMP (starts {raw[:4].hex()})")
    is_jpeg = kind == "JPEG"
    if is_jpeg and jpeg_truncated(raw):
        raise BadTelemetry(f"JPEG of {len(raw)} bytes is truncated (no end marker)")
    size = image_size(raw)
    if size is None:
        raise BadTelemetry(f"{kind} of {len(raw)} bytes has no readable header (no pixel size)")
    if not (0 < size[0] <= MAX_SCALE * FRAME_WIDTH and 0 < size[1] <= MAX_SCALE * FRAME_HEIGHT):
        raise BadTelemetry(f"{kind} of {size[0]}×{size[1]} pixels is not a camera frame (at most "
                           f"{MAX_SCALE * FRAME_WIDTH}×{MAX_SCALE * FRAME_HEIGHT} is decoded): not decoded")
    frame = decode_frame(raw)  # the one checked decoder (base.frames); the checks above bound what it decodes
    if frame is None:
        raise BadTelemetry(f"image of {len(raw)} bytes is not a readable {kind} (starts {raw[:4].hex()})")
    notes = [] if is_jpeg else [f"not a JPEG ({kind})"]
    height, width = frame.shape[:2]
    if (width, height) != (FRAME_WIDTH, FRAME_HEIGHT):
        notes.append(f"{width}×{height}, resized to {FRAME_WIDTH}×{FRAME_HEIGHT}")
        frame = cv2.resize(frame, (FRAME_WIDTH, FRAME_HEIGHT), interpolation=cv2.INTER_AREA)
    if notes:
        ok, encoded = cv2.imencode(".jpg", cv2.cvtColor(frame, cv2.COLOR_RGB2BGR),
                                   [cv2.IMWRITE_JPEG_QUALITY, simulator_config.load()["image"]["jpeg_quality"]])
        if not ok:
            raise BadTelemetry(f"a {width}×{height} image could not be re-encoded as JPEG for the recording")
        raw = encoded.tobytes()
    return frame, raw, "; ".join(notes)

