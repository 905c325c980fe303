"""Log rows → training samples: time-block validation split, side cameras, steering balance.

The order matters and is fixed in `prepare_samples`: validation is split off first (whole blocks of
time, centre camera only), so neither the side-camera copies nor the balancing of training samples
can put a moment that is validated on into training.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import pandas as pd

from base.cameras import Camera
from base.driving import row_times, stretch_ids
from base.kinematics import MPS_PER_MPH
from base.logs import CAMERAS, SHOWN_PATHS, Recording
from training.config import TrainConfig
from training.recovery import recovery_steering

log = logging.getLogger(__name__)

# steering: the label; recorded: the frame's steering before any camera or view correction (led by
# --label-lead-s; validation keeps what the driver steered); lateral_m: where the camera sits (right +).
SAMPLE_COLUMNS = ["image", "steering", "camera", "recording", "row", "recorded", "lateral_m", "speed_mps"]
STEERING_RANGE = (-1.0, 1.0)  # normalised steering, as the simulator clamps it
NEAR_ZERO = 0.01  # |steering| below this counts as driving straight
CAMERA_X = {name: Camera.from_config(name).position[0] for name in CAMERAS}  # metres right of the centre camera


@dataclass(frozen=True)
class Balanced:
    samples: pd.DataFrame
    counts_before: np.ndarray  # samples per steering bin
    counts_after: np.ndarray
    edges: np.ndarray  # bin edges, len(bins) + 1
    cap: int


@dataclass(frozen=True)
class SampleSet:
    """What training sees: balanced training samples (all cameras) and centre-camera validation samples;
    and the test rows, which it never sees."""

    rows: pd.DataFrame
    train_rows: pd.DataFrame
    val_rows: pd.DataFrame
    test_rows: pd.DataFrame
    with_sides: pd.DataFrame
    balanced: Balanced
    val: pd.DataFrame
    train_labels: np.ndarray  # per training row, its centre frame's label (the recorded steering, led)

    @property
    def train(self) -> pd.DataFrame:
        return self.balanced.samples


def split_by_time(rows: pd.DataFrame, val_fraction: float, block: int, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(train_rows, held_out_rows): per recording, a seeded choice of whole blocks of `block` consecutive rows.

    Neighbouring frames are nearly identical, so a random-frame split would validate on frames the
    network trained on; whole blocks of seconds keep validation honest. Each recording gives
    round(val_fraction × its blocks) blocks, at least one (when val_fraction > 0) but never all of
    them: every recording of two blocks or more is both validated and trained on. A recording's last
    block is what is left over, often a few rows: held out alone it would be too short to replay or
    to judge a model by, so when chosen it takes the block before it along (or, in a recording of two
    blocks, that block is held out instead), with a log line.
    """
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"val_fraction is {val_fraction}: use a value in [0, 1)")
    if block < 1:
        raise ValueError(f"val_block is {block}: use a positive number of rows")
    rng = np.random.default_rng(seed)
    is_val = np.zeros(len(rows), dtype=bool)
    for _, members in rows.groupby("recording", sort=True).indices.items():
        blocks = rows["row"].to_numpy()[members] // block
        n_blocks = int(blocks.max()) + 1
        n_val = min(max(round(val_fraction * n_blocks), 1 if val_fraction else 0), n_blocks - 1)
        chosen = rng.choice(n_blocks, size=n_val, replace=False)
        chosen = _without_a_short_tail(chosen, blocks, n_blocks, block, rows["recording"].iloc[members[0]])
        is_val[members[np.isin(blocks, chosen)]] = True
    return rows[~is_val].reset_index(drop=True), rows[is_val].reset_index(drop=True)


def _without_a_short_tail(chosen: np.ndarray, blocks: np.ndarray, n_blocks: int, block: int,
                          recording: str) -> np.ndarray:
    """`chosen` blocks, where a chosen last block shorter than half a block is joined by the one before it."""
    last = n_blocks - 1
    tail_rows = int(np.sum(blocks == last))
    if last < 1 or last not in chosen or last - 1 in chosen or tail_rows >= block / 2:
        return chosen
    if len(chosen) + 1 < n_blocks:
        log.info("the held-out block at the end of %s has only %d rows: holding out the %d rows before it too",
                 recording, tail_rows, block)
        return np.append(chosen, last - 1)
    log.info("the held-out block at the end of %s has only %d rows: holding out the %d rows before it instead",
             recording, tail_rows, block)
    return np.where(chosen == last, last - 1, chosen)


def split_test(held: pd.DataFrame, share: float, seed: int, block: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(val_rows, test_rows): the held-out rows parted by whole stretches (a held-out block of `block`
    rows, or blocks side by side), a seeded choice of stretches holding about `share` of the rows as
    test rows. The choice is over all recordings at once, so adding a recording moves it.

    What the validation rows choose (the epoch kept, when to stop, the learning rate) flatters the
    model on them; the test rows choose nothing and report it fairly. With `share` > 0 at least one stretch
    is tested and one validated, and every recording with held-out rows has a stretch tested (while one
    stretch is left to validate): a recording the draw left out of the test blocks would report
    nothing, so one of its stretches is tested too and, to keep near `share`, stretches of recordings
    that test two or more go back to validation. Held-out rows of a single stretch are all validated
    (with a warning). The training rows never change.
    """
    if not 0.0 <= share < 1.0:
        raise ValueError(f"test share is {share}: use a value in [0, 1)")
    empty = held.iloc[:0]
    if not share or held.empty:
        return held, empty
    held = held.sort_values(["recording", "row"], kind="stable")  # as split_by_time meets the recordings
    # By block number, not row number: rows dropped inside a block (--skip-missing, exact copies) leave
    # gaps in the numbering that must not cut a block in two.
    blocks = held["row"] // block
    stretch = (held["recording"].ne(held["recording"].shift()) | blocks.diff().gt(1)).cumsum().to_numpy()
    sizes = np.bincount(stretch)[1:]
    if len(sizes) < 2:
        log.warning("the held-out rows are one stretch of %d rows: no test blocks (hold out more with "
                    "--val-fraction to have some)", len(held))
        return held, empty
    order = np.random.default_rng(seed).permutation(len(sizes)) + 1  # stretch ids start at 1
    tested = np.cumsum(sizes[order - 1])[:-1]  # rows tested with the first 1, 2, … stretches, never all
    count = int(np.argmin(np.abs(tested - share * len(held)))) + 1
    chosen = np.zeros(len(sizes) + 1, dtype=bool)  # by stretch id; id 0 is none
    chosen[order[:count]] = True
    owner = held["recording"].to_numpy()[np.searchsorted(stretch, np.arange(1, len(sizes) + 1))]
    chosen[1:] = _every_recording_tested(chosen[1:], owner, sizes, order - 1, share * len(held))
    is_test = _test_a_block_of_the_last(held["recording"].to_numpy(), blocks.to_numpy(), chosen[stretch])
    return held[~is_test].reset_index(drop=True), held[is_test].reset_index(drop=True)


def _every_recording_tested(tested: np.ndarray, owner: np.ndarray, sizes: np.ndarray, order: np.ndarray,
                            target: float) -> np.ndarray:
    """`tested` (per stretch) with a stretch of every recording (`owner` per stretch) tested, the first of
    its stretches in the seeded `order`, while one stretch is left to validate; then stretches of
    recordings testing two or more given back to validation while that brings the test rows nearer
    `target`. Unchanged when the draw already tested every recording (runs made before keep their split)."""
    tested = tested.copy()
    added = False
    for recording in np.unique(owner):
        mine = order[owner[order] == recording]
        if tested[mine].any():
            continue
        if len(tested) - tested.sum() < 2:  # the last stretch left to validate: _test_a_block_of_the_last
            continue
        tested[mine[0]] = True
        added = True
        log.info("the draw tested no held-out rows of %s: testing its %d held-out rows from the draw's first "
                 "stretch of it too", recording, sizes[mine[0]])
    while added:
        counts = {recording: int(tested[owner == recording].sum()) for recording in np.unique(owner)}
        spare = [i for i in order[::-1] if tested[i] and counts[owner[i]] > 1]  # the last drawn first
        total = int(sizes[tested].sum())
        best = min(spare, key=lambda i: abs(total - sizes[i] - target), default=None)
        if best is None or abs(total - sizes[best] - target) >= abs(total - target):
            break
        tested[best] = False
    return tested


def _test_a_block_of_the_last(recording: np.ndarray, blocks: np.ndarray, is_test: np.ndarray) -> np.ndarray:
    """`is_test` (per row) with the first block tested of a recording none of whose rows are: that happens
    when its one stretch is the last left to validate, so it is cut in two, when it spans two blocks or more."""
    is_test = is_test.copy()
    for name in np.unique(recording):
        mine = recording == name
        if is_test[mine].any():
            continue
        first, last = blocks[mine].min(), blocks[mine].max()
        if first == last:
            log.warning("no held-out rows of %s are tested: its one held-out block is the last left to validate "
                        "(hold out more with --val-fraction to test it)", name)
            continue
        is_test[mine & (blocks == first)] = True
        log.info("the held-out rows of %s are the last left to validate: testing their first block", name)
    return is_test


def centre_samples(rows: pd.DataFrame) -> pd.DataFrame:
    """The centre camera's frames as samples (what validation and the drive server see)."""
    return _samples(rows, "center", rows["steering"].to_numpy(dtype=float))


def with_side_cameras(rows: pd.DataFrame, correction: float | None, return_s: float) -> pd.DataFrame:
    """Every row as three samples: centre as recorded, left +correction, right −correction (clipped to ±1);
    `correction` None: the pure-pursuit steering back to the path in about `return_s` (training.recovery).

    The left camera sees the road as if the car were left of where it is, so the label is to steer
    back right (positive); the right camera the opposite. Rows whose side fields repeat the centre
    image (an autonomous run recorded by `drive.py`, which sees only the centre camera) stay centre-only.
    """
    has_sides = (rows["left"] != rows["center"]).to_numpy()
    sided = rows[has_sides]
    parts = [_samples(rows, "center", rows["steering"].to_numpy(dtype=float))]
    for side, sign in (("left", 1.0), ("right", -1.0)):
        recorded = sided["steering"].to_numpy(dtype=float)
        if correction is None:
            label = recovery_steering(recorded, CAMERA_X[side], 0.0, sided["speed"].to_numpy(dtype=float) * MPS_PER_MPH,
                                      return_s)
        else:
            label = np.clip(recorded + sign * correction, *STEERING_RANGE)
        parts.append(_samples(sided, side, label))
    return pd.concat(parts, ignore_index=True)


def retime_labels(rows: pd.DataFrame, lead_s: float) -> pd.DataFrame:
    """`rows` with each frame's steering label taken `lead_s` later in the recording, within each stretch the
    car drives (`base.driving`); rows standing still or crashing keep their own steering (0: `rows` unchanged).

    A driver steers a moment after the road shows why, so the steering a frame explains is the one a
    little later.
    """
    if rows.empty or lead_s <= 0:
        return rows
    out = rows.copy()
    column = out.columns.get_loc("steering")
    # Within the stretches the replay drives: a label never comes from across a held-out block, a pause,
    # a clock that steps back, a crash or another recording.
    times, _ = row_times(rows)
    stretch = stretch_ids(rows, times)
    recorded = rows["steering"].to_numpy(dtype=float)
    for number, members in rows.groupby(stretch, sort=False).indices.items():
        if number < 0:  # standing still or crashing: its own steering
            continue
        when = times[members]  # the last rows of a stretch take its last steering
        out.iloc[members, column] = np.interp(when + lead_s, when, recorded[members])
    return out


def balance(samples: pd.DataFrame, bins: int, cap: int | None, seed: int) -> Balanced:
    """Keep at most `cap` samples per steering bin (seeded choice, order kept); cap None: twice the mean bin count.

    Recordings are mostly straight driving; without a cap the network learns to go straight.
    """
    if bins < 1:
        raise ValueError(f"bins is {bins}: use a positive number of bins")
    edges = np.linspace(*STEERING_RANGE, bins + 1)
    steering = samples["steering"].to_numpy(dtype=float)
    which = np.clip(np.digitize(steering, edges[1:-1]), 0, bins - 1)
    counts_before = np.bincount(which, minlength=bins)
    if cap is None:
        cap = max(1, int(round(2 * len(samples) / bins)))
    if cap < 1:
        raise ValueError(f"bin_cap is {cap}: use a positive number of samples per bin (or leave it unset)")
    rng = np.random.default_rng(seed)
    keep = np.ones(len(samples), dtype=bool)
    for b in np.flatnonzero(counts_before > cap):
        members = np.flatnonzero(which == b)
        keep[rng.choice(members, size=len(members) - cap, replace=False)] = False
    counts_after = np.bincount(which[keep], minlength=bins)
    return Balanced(samples[keep].reset_index(drop=True), counts_before, counts_after, edges, cap)


def split_rows(rows: pd.DataFrame, config: TrainConfig) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(train_rows, val_rows, test_rows) as `config` splits `rows`."""
    train_rows, held = split_by_time(rows, config.val_fraction, config.val_block, config.seed)
    return (train_rows, *split_test(held, config.test_share, config.seed, config.val_block))


def prepare_samples(rows: pd.DataFrame, config: TrainConfig, correction: float | None = None) -> SampleSet:
    """Split off validation and test rows, add side cameras to the training rows, then balance them.
    `correction`: side-camera labels as the tutorials make them (`with_side_cameras`), for their recipe."""
    train_rows, val_rows, test_rows = split_rows(rows, config)
    labelled = retime_labels(train_rows, config.label_lead_s)
    with_sides = with_side_cameras(labelled, correction, config.return_s)
    balanced = balance(with_sides, config.bins, config.bin_cap, config.seed)
    log.info("samples: %d rows → %d train rows + %d validation rows + %d test rows; %d with side cameras → %d after "
             "balancing", len(rows), len(train_rows), len(val_rows), len(test_rows), len(with_sides), len(balanced.samples))
    return SampleSet(rows, train_rows, val_rows, test_rows, with_sides, balanced, centre_samples(val_rows),
                     labelled["steering"].to_numpy(dtype=float))


def summarize(recordings: Sequence[Recording], samples: SampleSet) -> dict[str, Any]:
    """The figures a user checks before training (JSON-ready); `recordings` are all rows as scanned."""
    steering = samples.rows["steering"].to_numpy(dtype=float)
    return {
        "rows": int(sum(len(rec.rows) for rec in recordings)),
        "rows_used": len(samples.rows),
        "images_missing": int(sum(len(rec.missing_images) for rec in recordings)),
        "images_damaged": int(sum(len(rec.damaged_images) for rec in recordings)),
        # rows with all their images that select_rows dropped as exact copies of earlier rows
        "duplicate_rows": int(sum(rec.rows["complete"].sum() for rec in recordings)) - len(samples.rows),
        "train_rows": len(samples.train_rows),
        "val_rows": len(samples.val_rows),
        "test_rows": len(samples.test_rows),
        "samples_with_side_cameras": len(samples.with_sides),
        "samples_after_balance": len(samples.train),
        "val_samples": len(samples.val),
        "steering": _steering_stats(steering),
        "balance": {
            "bin_edges": samples.balanced.edges.round(6).tolist(),
            "cap": samples.balanced.cap,
            "counts_before": samples.balanced.counts_before.tolist(),
            "counts_after": samples.balanced.counts_after.tolist(),
        },
        "recordings": [_recording_summary(rec) for rec in recordings],
    }


def _recording_summary(rec: Recording) -> dict[str, Any]:
    complete = rec.rows["complete"].to_numpy()
    return {
        "folder": rec.folder,
        "rows": len(rec.rows),
        "rows_complete": int(complete.sum()),
        "images_found": len(CAMERAS) * len(rec.rows) - len(rec.missing_images),  # damaged ones included
        "images_missing": len(rec.missing_images),
        "first_missing": rec.missing_images[:SHOWN_PATHS],
        "images_damaged": len(rec.damaged_images),
        "first_damaged": rec.damaged_images[:SHOWN_PATHS],
        "steering": _steering_stats(rec.rows["steering"].to_numpy(dtype=float)[complete]),
    }


def _steering_stats(steering: np.ndarray) -> dict[str, float | None]:
    if not len(steering):
        return {"min": None, "max": None, "mean": None, "zero_fraction": None}
    return {
        "min": float(steering.min()),
        "max": float(steering.max()),
        "mean": float(steering.mean()),
        "zero_fraction": float(np.mean(np.abs(steering) < NEAR_ZERO)),
    }


def _samples(rows: pd.DataFrame, camera: str, steering: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame({
        "image": rows[camera].to_numpy(dtype=object),
        "steering": steering.astype(np.float32),
        "camera": camera,
        "recording": rows["recording"].to_numpy(dtype=object),
        "row": rows["row"].to_numpy(),
        "recorded": rows["steering"].to_numpy(dtype=np.float32),
        "lateral_m": CAMERA_X[camera],
        "speed_mps": (rows["speed"].to_numpy(dtype=float) * MPS_PER_MPH).astype(np.float32),
    }, columns=SAMPLE_COLUMNS)
