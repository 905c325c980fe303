"""The training frames, decoded once, compact: only the rows anything downstream reads, in memory up to a
budget, beyond it in a file on disk.

What reads a training frame: the model crops rows CROP_TOP–CROP_BOTTOM; the augmentation's warp of those
rows reads up to the largest pan (a tenth of the height, 16 rows) above and below them, one more for
the interpolation (`band_top`); a view synthesised for an on-policy state (`base.viewpoint`) reads its source from
the horizon (row ≈ 57) down to the last row (it repeats the edge beyond the frame). So rows `top` to
the bottom are kept and the rows above come back as zeros, which nothing reads: the batches give the
model exactly the pixels whole frames give it.

Beyond `memory_mb` the frames go to a file in the system's temporary folder (never beside the
recordings), unlinked as soon as it is open, so nothing is left behind however the run ends; batches
read it with `pread`, through the operating system's page cache, which keeps it in RAM while RAM is
free and gives it back when it is not, outside the process's own memory.
"""
from __future__ import annotations

import logging
import math
import os
import tempfile
from concurrent.futures import ThreadPoolExecutor
from typing import Iterable, Sequence

import numpy as np
from tqdm import tqdm

from base.frames import CROP_TOP, FRAME_SHAPE, read_frame
from base.logs import SHOWN_PATHS, LogError

log = logging.getLogger(__name__)



# The highest source row a synthesised view of rows CROP_TOP on reads: 58.9 for every camera, shifts of up
# to ±2.5 m and turns of up to ±0.5 rad (base.viewpoint's maps), less a row for the interpolation.
SYNTHESIS_TOP = 57


def band_top(pan: float) -> int:
    """The first row anything reads when the augmentation pans up to `pan` of the frame (see the docstring)."""
    return max(0, min(SYNTHESIS_TOP, CROP_TOP - math.ceil(pan * FRAME_SHAPE[0]) - 1))


def load_frames(paths: Sequence[str], progress: bool = False) -> np.ndarray:
    """JPEG files → uint8 RGB frames (N, 160, 320, 3), decoded in parallel; LogError names the files that fail."""
    frames = np.empty((len(paths), *FRAME_SHAPE), dtype=np.uint8)

    def decode_into(i: int) -> bool:
        frame = read_frame(paths[i])
        if frame is not None:
            frames[i] = frame
        return frame is not None

    _decode_all(paths, decode_into, progress)
    return frames


def _decode_all(paths: Sequence[str], decode_into, progress: bool) -> None:
    """`decode_into(i)` for every path on every core (OpenCV releases the GIL while decoding); LogError for
    the paths it returned False for (it returns no frame: a list of them would hold every frame at once)."""
    with ThreadPoolExecutor(max_workers=os.cpu_count()) as pool:
        decoded = list(tqdm(pool.map(decode_into, range(len(paths))), total=len(paths), desc="decoding frames",
                            unit="img", disable=None if progress else True))  # None: only on a terminal
    failed = [path for path, ok in zip(paths, decoded) if not ok]
    if failed:
        raise LogError(f"{len(failed)} of {len(paths)} images could not be read as {FRAME_SHAPE[1]}×{FRAME_SHAPE[0]} "
                       f"JPEG frames (first: {', '.join(failed[:SHOWN_PATHS])}): replace them, or delete their rows from "
                       "the log")


class FrameStore:
    """Frames by image path, rows `top` on (the rows above read as zeros): `get(paths)` → (B, 160, 320, 3)."""

    def __init__(self, paths: Sequence[str], memory_mb: int, top: int = 0) -> None:
        self.paths = list(paths)
        self.index = {path: i for i, path in enumerate(self.paths)}
        self.top, self.shape = top, (FRAME_SHAPE[0] - top, *FRAME_SHAPE[1:])
        self.bytes = int(np.prod(self.shape))
        self.megabytes = len(self.paths) * self.bytes / 2**20
        self.in_memory = self.megabytes <= memory_mb
        self._band: np.ndarray | None = None
        self._file: int | None = None  # descriptor of the unlinked file on disk
        if self.in_memory:
            self._band = np.empty((len(self.paths), *self.shape), dtype=np.uint8)
            self.where = "in memory"
        else:
            handle, name = tempfile.mkstemp(prefix="training-frames-", suffix=".u8")
            os.unlink(name)  # the space is freed when the descriptor closes, at the latest when the process ends
            os.ftruncate(handle, len(self.paths) * self.bytes)
            self._file = handle
            self.where = f"on disk in {os.path.dirname(name)} (an unlinked file, gone when training ends)"
        _decode_all(self.paths, self._decode_into, progress=True)
        log.info("decoded %d frames (rows %d-%d of each, what training reads): %.0f MB %s (--memory-mb %d)",
                 len(self.paths), self.top, FRAME_SHAPE[0] - 1, self.megabytes, self.where, memory_mb)

    def _decode_into(self, i: int) -> bool:
        frame = read_frame(self.paths[i])
        if frame is None:
            return False
        if self._band is not None:
            self._band[i] = frame[self.top:]
        else:
            os.pwrite(self._file, np.ascontiguousarray(frame[self.top:]).data, i * self.bytes)
        return True

    def get(self, paths: Sequence[str]) -> np.ndarray:
        out = np.empty((len(paths), *FRAME_SHAPE), dtype=np.uint8)
        self.fill(out, range(len(paths)), paths)
        return out

    def fill(self, out: np.ndarray, slots: Iterable[int], paths: Sequence[str]) -> None:
        """The frames of `paths` into `out`'s `slots` (one each, in order); the other slots of `out` untouched."""
        # Each frame's rows `top` on are one contiguous block of `out`: copied (or read) straight into it, with
        # no intermediate array of the batch (fancy indexing) or bytes object (pread) to copy again.
        for slot, path in zip(slots, paths, strict=True):
            row = self.index[path]
            out[slot, :self.top] = 0
            if self._band is not None:
                out[slot, self.top:] = self._band[row]
            elif os.preadv(self._file, [out[slot, self.top:]], row * self.bytes) != self.bytes:
                raise OSError(f"the training frames' file ended before frame {row}: the disk may be full")

    def close(self) -> None:
        if self._file is not None:
            os.close(self._file)
            self._file = None

    def __del__(self) -> None:
        self.close()
