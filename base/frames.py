"""The simulator's camera frames, as every part of the project meets them."""
from __future__ import annotations

import simulator_config

FRAME_WIDTH, FRAME_HEIGHT = simulator_config.image_size()
FRAME_SHAPE = (FRAME_HEIGHT, FRAME_WIDTH, 3)  # raw RGB, uint8, as the simulator's JPEGs decode
# Rows 60..135 keep the road: above is sky, below is the car's hood. The model crops to them, so
# training augments only these rows and views are compared on them.
CROP_TOP, CROP_BOTTOM = 60, 135

JPEG_START, JPEG_END = b"\xff\xd8", b"\xff\xd9"  # SOI and EOI markers


def jpeg_truncated(data: bytes) -> bool:
    """True for a JPEG cut off before its end marker (trailing zero padding allowed), e.g. the tail of a file.

    libjpeg decodes a cut-off file without an error, filling the rest grey, and only prints "Premature
    end of JPEG file": the one sign is the missing end marker, so every reader of frames checks it.
    """
    return not data.rstrip(b"\0").endswith(JPEG_END)
