"""augmentation_grid.png: what each sample got, and the rows the model sees."""
from __future__ import annotations

import numpy as np
import pandas as pd
from recordings import write_log

from base.frames import CROP_BOTTOM, CROP_TOP
from training.augment import Augmenter
from training.config import TrainConfig
from training.dataplots import GRID_COLUMNS, GRID_ROWS, OUTSIDE_CROP, _augmentation_grid
from training.framestore import load_frames


def test_each_panel_names_its_operations_and_marks_the_crop(tmp_path):
    write_log(tmp_path, rows=20)
    images = sorted(str(p) for p in (tmp_path / "IMG").glob("center_*.jpg"))
    train = pd.DataFrame({"image": images, "steering": np.linspace(-0.4, 0.4, len(images)), "camera": "center"})
    config = TrainConfig(aug_probability=0.5, seed=3)
    figure = _augmentation_grid(train, config)

    shown = [ax for ax in figure.axes if ax.images]
    assert len(shown) == GRID_ROWS * GRID_COLUMNS
    # The grid picks its samples with the config's seed; augmenting those the same way gives the same draws.
    chosen = train.iloc[np.sort(np.random.default_rng(config.seed).choice(len(train), size=len(shown), replace=False))]
    frames = load_frames(chosen["image"].tolist())
    out, _, draws = Augmenter(config, rows=(CROP_TOP, CROP_BOTTOM)).augment(
        frames, chosen["steering"].to_numpy(np.float32), config.seed)
    for i, ax in enumerate(shown):
        assert ax.get_title().splitlines()[1] == draws.describe(i)
        assert sorted(line.get_ydata()[0] for line in ax.lines) == [CROP_TOP - 0.5, CROP_BOTTOM - 0.5]
        pixels = np.asarray(ax.images[0].get_array())
        np.testing.assert_array_equal(pixels[CROP_TOP:CROP_BOTTOM], out[i, CROP_TOP:CROP_BOTTOM])
        np.testing.assert_array_equal(pixels[:CROP_TOP], (out[i, :CROP_TOP] * OUTSIDE_CROP).astype(np.uint8))
    assert f"rows {CROP_TOP}–{CROP_BOTTOM}" in figure.get_suptitle()
