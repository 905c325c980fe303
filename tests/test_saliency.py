"""VisualBackProp (evaluate.saliency): the algorithm, its mapping onto the frame, what it means, and its users."""
from __future__ import annotations

import subprocess
import sys

import cv2
import numpy as np
import pytest
from recordings import road_frame, write_recording

from base.frames import CROP_BOTTOM, CROP_TOP, FRAME_SHAPE
from base.processes import ROOT
from evaluate.saliency import FeatureLayer, Saliency, _deconvolve, overlay, shift_effect, visual_backprop


def test_the_upscaling_is_a_transposed_convolution_with_unit_weights_padded_to_the_layer_input():
    one = np.zeros((2, 3), np.float32)
    one[1, 2] = 1
    up = _deconvolve(one, (5, 5), (2, 2), (8, 11))
    assert up.shape == (8, 11)
    expected = np.zeros((8, 11), np.float32)
    expected[2:7, 4:9] = 1  # the 5×5 receptive field of output (1, 2) at stride 2
    np.testing.assert_array_equal(up, expected)
    overlap = _deconvolve(np.ones((2, 1), np.float32), (3, 3), (1, 1), (4, 3))
    np.testing.assert_array_equal(overlap[:, 0], [1, 2, 2, 1])  # overlapping fields add up


def test_the_mask_is_the_product_of_every_layer_down_to_the_input_normalised():
    layers = [FeatureLayer("a", (3, 3), (1, 1)), FeatureLayer("b", (3, 3), (1, 1))]
    shallow = np.ones((5, 5), np.float32)
    shallow[:, :2] = 0  # the first layer is silent on the left
    deep = np.zeros((3, 3), np.float32)
    deep[1, 1] = 2.0  # one deep unit fires: its field covers the shallow map's rows and columns 1..3
    mask = visual_backprop([shallow, deep], layers, (7, 7))
    assert mask.max() == pytest.approx(1.0) and mask.min() == 0.0
    assert not mask[:, :2].any()  # nothing left of where the first layer could be reached from column ≥ 2
    assert mask[3, 3] == mask.max()  # the centre of the fields
    assert not visual_backprop([np.zeros((5, 5), np.float32), deep], layers, (7, 7)).any()  # nothing fired


def test_saliency_steers_like_the_driving_runner_and_lies_in_the_rows_the_model_sees(untrained_onnx):
    from base.runtime import load_runner

    saliency, runner = Saliency(str(untrained_onnx)), load_runner(untrained_onnx)
    assert saliency.input_size == (66, 200) and len(saliency.layers) == 5
    assert [layer.kernel for layer in saliency.layers] == [(5, 5)] * 3 + [(3, 3)] * 2
    frame = road_frame(0.3, np.random.default_rng(0))
    steering, mask = saliency(frame)
    assert steering == pytest.approx(runner.predict_one(frame), abs=1e-5)
    assert mask.shape == FRAME_SHAPE[:2] and mask.dtype == np.float32
    assert not mask[:CROP_TOP].any() and not mask[CROP_BOTTOM:].any()
    assert 0 <= mask.min() and 0.5 < mask[CROP_TOP:CROP_BOTTOM].max() <= 1
    drawn = overlay(frame, mask)
    assert drawn.shape == frame.shape and drawn.dtype == np.uint8
    np.testing.assert_array_equal(drawn[:CROP_TOP], frame[:CROP_TOP])  # zero saliency: the frame as it was


def test_shifting_the_most_salient_pixels_moves_the_steering_more_than_the_least_salient(untrained_onnx, realdata):
    # As the PilotNet paper checked VisualBackProp: on real frames of two tracks, moving the 10 % most
    # salient of the pixels the model sees changes its steering far more than moving the 10 % least salient.
    paths = [p for track in ("track1_windows", "track2_jungle")
             for p in sorted((realdata / track / "IMG").glob("center_*.jpg"))[::40][:12]]
    frames = [cv2.imread(str(p))[..., ::-1].copy() for p in paths]
    changes = shift_effect(Saliency(str(untrained_onnx)), frames, share=0.1, shift_px=20)
    assert changes["most"] > 5 * changes["least"], changes
    assert changes["most"] > changes["random"] > changes["least"], changes


def test_drive_video_draws_a_models_saliency_on_any_recording(untrained_onnx, tmp_path):
    rng = np.random.default_rng(1)
    folder = tmp_path / "run"
    write_recording(folder, [0.0] * 6, draw=lambda row, camera: road_frame(row / 10, rng))
    plain, salient = tmp_path / "plain.mp4", tmp_path / "salient.mp4"
    for out, extra in ((plain, []), (salient, ["--saliency", str(untrained_onnx)])):
        result = subprocess.run([sys.executable, "-m", "drive.video", str(folder), "--out", str(out), *extra],
                                cwd=ROOT, capture_output=True, text=True)
        assert result.returncode == 0, result.stderr
        assert result.stdout.startswith(f"wrote {out} (6 frames")
    first = [cv2.VideoCapture(str(path)).read()[1].astype(int) for path in (plain, salient)]
    difference = np.abs(first[0] - first[1]).mean(axis=2)
    assert difference[CROP_TOP:CROP_BOTTOM].mean() > 3 * difference[:CROP_TOP].mean()  # drawn where the model looks


def test_drive_video_with_a_model_that_is_not_there_is_one_line(tmp_path):
    folder = tmp_path / "run"
    write_recording(folder, [0.0] * 2)
    result = subprocess.run([sys.executable, "-m", "drive.video", str(folder), "--saliency", str(tmp_path / "no.onnx")],
                            cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr == f"error: --saliency: model {tmp_path / 'no.onnx'} does not exist: pass a .keras/.h5/.onnx/.tflite file or a run folder\n"


def test_sim_drive_saliency_needs_a_video(capsys):
    from sim.drive import main

    with pytest.raises(SystemExit) as exit_code:
        main(["--saliency", "models/latest"])
    assert exit_code.value.code == 2
    assert "--saliency draws on the video: pass --video FILE.mp4 too" in capsys.readouterr().err


def test_sim_drive_draws_the_models_saliency_on_its_video(untrained_onnx, free_port, tmp_path):
    from base.processes import drive_server
    from sim.drive import DriveFiles, DriveServer, drive_session
    from tests.sim_helpers import write_track

    track = write_track(tmp_path)
    videos = {name: tmp_path / f"{name}.mp4" for name in ("plain", "salient")}
    with drive_server(untrained_onnx, free_port, extra_args=["--quiet"]):
        for name, path in videos.items():
            files = DriveFiles(video=path, saliency=untrained_onnx if name == "salient" else None)
            drive_session(track, 1, DriveServer("127.0.0.1", free_port), files, max_seconds=0.5, progress=False)
    plain, salient = (cv2.VideoCapture(str(path)).read()[1].astype(int) for path in videos.values())
    difference = np.abs(plain - salient).mean(axis=2)
    assert difference[CROP_TOP:CROP_BOTTOM].mean() > 3 * difference[:CROP_TOP].mean()
