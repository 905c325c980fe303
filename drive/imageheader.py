"""An image's pixel size read from its header, before anything is decoded.

`cv2.imdecode` allocates whatever the header claims: a 595 KB PNG of 12000×12000 pixels decodes to
432 MB and takes seconds. The drive server reads the size here first and decodes only frames near
the simulator's size. Only the formats read here are decoded at all; an image whose size cannot be
read up front cannot be bounded.
"""
from __future__ import annotations

import struct

from base.frames import JPEG_START

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# Start-of-frame markers (SOF0..SOF15 except DHT C4, JPG C8 and DAC CC) carry the frame's height and width.
_JPEG_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
_JPEG_NO_LENGTH = {0x01, *range(0xD0, 0xD9)}  # TEM, RSTn, SOI: markers without a length field
_JPEG_SOS = 0xDA  # entropy-coded data follows: a frame header must have come before


def image_format(raw: bytes) -> str | None:
    """"JPEG", "PNG" or "BMP" by the file's signature; None for anything else."""
    if raw.startswith(JPEG_START):
        return "JPEG"
    if raw.startswith(PNG_SIGNATURE):
        return "PNG"
    if raw.startswith(b"BM"):
        return "BMP"
    return None


def image_size(raw: bytes) -> tuple[int, int] | None:
    """(width, height) from a JPEG, PNG or BMP header; None when the header is absent or unreadable."""
    try:
        kind = image_format(raw)
        if kind == "JPEG":
            return _jpeg_size(raw)
        if kind == "PNG" and raw[12:16] == b"IHDR":
            return struct.unpack(">II", raw[16:24])
        if kind == "BMP":
            if struct.unpack("<I", raw[14:18])[0] == 12:  # the old OS/2 core header: 16-bit sizes
                return struct.unpack("<HH", raw[18:22])
            width, height = struct.unpack("<ii", raw[18:26])
            return abs(width), abs(height)  # a negative height stores the rows top-down
    except struct.error:  # shorter than its header
        return None
    return None


def _jpeg_size(raw: bytes) -> tuple[int, int] | None:
    at = 2
    while at + 4 <= len(raw):
        if raw[at] != 0xFF:
            return None
        marker = raw[at + 1]
        if marker == 0xFF:  # fill byte before a marker
            at += 1
            continue
        if marker in _JPEG_NO_LENGTH:
            at += 2
            continue
        if marker == _JPEG_SOS:
            return None
        (length,) = struct.unpack(">H", raw[at + 2:at + 4])
        if marker in _JPEG_SOF:
            height, width = struct.unpack(">HH", raw[at + 5:at + 9])
            return width, height
        at += 2 + length
    return None
