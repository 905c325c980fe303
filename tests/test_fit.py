"""`python -m training.fit`: the run folder, resume, Ctrl-C, atomic saves and every bad-input path."""
from __future__ import annotations

import dataclasses
import errno
import hashlib
import json
import logging
import math
import re
import sys
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import pytest
from fit_helpers import fit_args
from recordings import write_log

from training import callbacks, fit, rmse, runs
from training.config import FILE_ONLY, REMOVED, REMOVED_AT, TrainConfig
from training.options import build_parser, config_from_args


@pytest.fixture(scope="module")
def recording(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("recording")
    write_log(folder)
    return folder


@pytest.fixture(scope="module")
def finished_run(recording, tmp_path_factory) -> Path:
    """One real, tiny training run shared by the tests that only read its folder (its own path, not
    `latest`, which a later run in the same folder moves on)."""
    out = tmp_path_factory.mktemp("models")
    assert fit.main(fit_args(recording, out)) == 0
    return (out / runs.LATEST).resolve()


def digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir()) if p.is_file()}


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert err and err[-1].startswith("error: "), err
    return err[-1]


# -- command line ---------------------------------------------------------------------------------

def shown_help(capsys, flag: str = "--help") -> str:
    with pytest.raises(SystemExit) as exit_code:
        build_parser().parse_args([flag])
    assert exit_code.value.code == 0
    return " ".join(capsys.readouterr().out.split())


def test_help_lists_what_users_touch_with_its_default_and_names_the_file_only_settings(capsys):
    text = shown_help(capsys)
    usage, _, after = text.partition("options:")
    for field in dataclasses.fields(TrainConfig):
        flag = field.name.replace("_", "-")
        listed = f"--{flag}" in after.split() or f"--no-{flag}" in after.split()
        assert listed == (field.name not in FILE_ONLY), field.name
        if field.name in FILE_ONLY:  # below the options, with its default
            shown = " ".join(map(str, getattr(TrainConfig(), field.name))) if field.name in ("zoom", "brightness") \
                else str(getattr(TrainConfig(), field.name))
            assert f"{field.name} ({shown if shown != 'None' else 'unset'}):" in text, field.name
    assert "(default: 64)" in text and "(default: models)" in text and "global batch" in text
    assert "--out DIR" in text and "1 lap of lake is first recorded into data/lake_sample" in text
    options = set(re.findall(r"\[(--?[a-z][-a-z]*)", usage)) | {"-h"}  # the usage line names each option once
    assert len(options) <= 25, sorted(options)  # what a user should touch, not every setting there is
    assert "early stopping" not in text and "experimental" not in text  # every epoch runs; none is left
    assert "model.keras = the last epoch" in text


def test_every_field_has_its_help_beside_it_and_help_shows_its_default(capsys):
    text = shown_help(capsys)
    defaults = TrainConfig()
    for field in dataclasses.fields(TrainConfig):
        help_text = field.metadata.get("help", "")
        assert len(help_text) > 10, f"{field.name} has no help beside it in training/config.py"
        if field.name in FILE_ONLY:
            assert " ".join(help_text.split()) in text, field.name
            continue
        value = getattr(defaults, field.name)
        shown = ("on" if value else "off") if isinstance(value, bool) else (
            "unset" if value is None else " ".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value))
        assert f"{' '.join(help_text.split())} (default: {shown})" in text, field.name


def test_a_file_only_setting_is_set_by_the_config_file_and_refused_as_a_flag(tmp_path, capsys):
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"bins": 9, "zoom": [1.0, 1.1]}))
    config = config_from_args(build_parser().parse_args(["--config", str(path)]))
    assert (config.bins, config.zoom) == (9, (1.0, 1.1))
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--bins", "9"])
    path.write_text(json.dumps({"bins": 0}))
    with pytest.raises(ValueError, match='"bins" must be at least 1'):
        config_from_args(build_parser().parse_args(["--config", str(path)]))


def test_a_removed_setting_is_refused_in_one_line_unless_it_asks_for_what_training_does(tmp_path, recording, capsys):
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"viewpoint": True, "epochs": 2}))
    assert fit.main(["--config", str(path), "--data", str(recording), "--out", str(tmp_path / "models")]) == 2
    line = one_error_line(capsys)
    assert '"viewpoint" was removed' in line and f"check out commit {REMOVED_AT}" in line and "delete the key" in line
    assert not (tmp_path / "models").exists()
    # A run folder made before the removal names every removed key at the value training has today.
    path.write_text(json.dumps(REMOVED | {"shift_m": 0.2, "early_stopping_patience": 9, "epochs": 2}))
    assert config_from_args(build_parser().parse_args(["--config", str(path)])).epochs == 2
    for flag in ("--select-by", "--early-stopping-patience", "--dropout", "--help-experimental"):
        with pytest.raises(SystemExit):
            build_parser().parse_args([flag, "1"])


def test_flags_override_the_config_file_which_overrides_defaults(tmp_path):
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"epochs": 7, "lr": 0.01}))
    config = config_from_args(build_parser().parse_args(["--config", str(path), "--lr", "0.5", "--no-augment"]))
    assert (config.epochs, config.lr, config.augment, config.batch_size) == (7, 0.5, False, TrainConfig().batch_size)


# -- a run ----------------------------------------------------------------------------------------

def test_run_folder_holds_models_history_split_plots_config_and_metrics(finished_run, recording):
    run = finished_run
    latest = run.parent / runs.LATEST
    assert latest.is_symlink() and not Path(latest.readlink()).is_absolute()  # the folder can move with its runs
    for name in ("model.keras", "last.keras", "history.csv", "loss.png", "config.json", "metrics.json",
                 "progress.json", "split.json", "steering_histograms.png", "augmentation_grid.png"):
        assert (run / name).is_file(), name
    assert not [p for p in run.iterdir() if ".tmp" in p.name], "temp files left behind"
    metrics = json.loads((run / "metrics.json").read_text())
    assert {"train_samples", "val_samples", "kept_val_loss", "val_rmse", "epochs", "seconds", "images_per_s"} <= set(metrics)
    assert metrics["epochs"] == 1 and metrics["val_samples"] > 0 and metrics["train_samples"] > 0
    # The loss is the network's; the RMSE is of model.keras, which steers mirror-averaged (the default).
    assert metrics["val_rmse"] > 0 and not math.isclose(metrics["val_rmse"], math.sqrt(metrics["kept_val_loss"]))
    assert json.loads((run / "config.json").read_text())["data"] == [str(recording)]
    history = pd.read_csv(run / "history.csv")
    assert list(history["epoch"]) == [1] and "learning_rate" in history  # counted from 1, as everywhere
    # The kept epoch is chosen by driving the held-out blocks, and what that drive cost is on record.
    assert {"val_autonomy", "val_interventions", "val_replay_s"} <= set(history) and history["val_replay_s"][0] > 0


def test_the_test_blocks_choose_nothing_and_report_the_kept_model_once(tmp_path, capsys):
    write_log(tmp_path / "rec", rows=80)
    assert fit.main(fit_args(tmp_path / "rec", tmp_path / "models", "--val-fraction", "0.5", "--seed", "1")) == 0
    run = (tmp_path / "models" / runs.LATEST).resolve()
    (entry,) = json.loads((run / "split.json").read_text())["recordings"]
    tested = {row for start, stop in entry["test"] for row in range(start, stop)}
    held = {row for start, stop in entry["held_out"] for row in range(start, stop)}
    assert tested and tested < held  # some held-out rows test, the others validate
    assert json.loads((run / "metrics.json").read_text())["val_samples"] == len(held - tested)
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["test_replay_footage_s"] > 0 and metrics["test_autonomy"] is not None
    assert "on the test blocks, which chose nothing: replay autonomy" in capsys.readouterr().out


def test_every_epoch_runs_and_the_last_is_kept(recording, tmp_path):
    assert fit.main(fit_args(recording, tmp_path, "--epochs", "3")) == 0
    run = (tmp_path / runs.LATEST).resolve()
    assert list(pd.read_csv(run / runs.HISTORY)["epoch"]) == [1, 2, 3]
    metrics = json.loads((run / "metrics.json").read_text())
    assert (metrics["kept_epoch"], metrics["epochs"]) == (3, 3)
    kept, last = (keras.models.load_model(run / name) for name in ("model.keras", "last.keras"))
    for mine, theirs in zip(kept.get_weights(), last.get_weights(), strict=True):
        np.testing.assert_array_equal(mine, theirs)
    # What drives is mirror-averaged (the default); what resumes trains on as the network it is.
    assert "mirror_mean" in [layer.name for layer in kept.layers]
    assert "mirror_mean" not in [layer.name for layer in last.layers]


def test_checkpoint_messages_start_their_own_line_after_the_progress_bar(tmp_path, capsys):
    handler = logging.StreamHandler(sys.stdout)  # the terminal shows the log and the progress bar together
    logger = logging.getLogger("training.callbacks")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile("sgd", "mse")
    x, y = np.linspace(0, 1, 64).reshape(32, 2), np.linspace(0, 1, 32)
    try:
        standard, *_ = callbacks.standard_callbacks(runs.Run(tmp_path), TrainConfig(mirror_average=False),
                                                    pd.DataFrame())
        model.fit(x, y, validation_data=(x, y), epochs=2, callbacks=standard, verbose=1)  # as on a terminal
    finally:
        logger.removeHandler(handler)
    shown = re.sub(r"\x1b\[[0-9;]*m|\x08", "", capsys.readouterr().out)  # colours and backspaces
    lines = re.split(r"[\r\n]", shown)
    messages = [line for line in lines if ": kept (" in line]
    assert len(messages) == 2 and all(line.startswith("epoch ") for line in messages), messages
    assert list(pd.read_csv(tmp_path / "history.csv")["epoch"]) == [1, 2]


def test_saved_model_loads_in_safe_mode_and_steers_raw_frames(finished_run):
    model = keras.models.load_model(finished_run / "model.keras")  # safe_mode=True is the default
    frames = np.random.default_rng(0).integers(0, 256, (2, 160, 320, 3)).astype("float32")
    steering = model.predict(frames, verbose=0)
    assert steering.shape == (2, 1) and np.all(np.isfinite(steering))


def test_val_rmse_is_what_rmse_measures_on_the_validation_split(finished_run, capsys):
    metrics = json.loads((finished_run / "metrics.json").read_text())
    capsys.readouterr()
    assert rmse.main([str(finished_run), "--split", "val", "--json"]) == 0
    measured = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert measured["frames"] == metrics["val_samples"]
    assert measured["rmse"] == pytest.approx(metrics["val_rmse"], rel=1e-3)


def test_resume_continues_the_epoch_count_in_the_same_folder_on_the_same_split(tmp_path, capsys):
    log = write_log(tmp_path / "rec")
    assert fit.main(fit_args(tmp_path / "rec", tmp_path / "models")) == 0
    run = (tmp_path / "models" / runs.LATEST).resolve()
    split = (run / "split.json").read_text()
    assert fit.main(["--resume", str(run), "--epochs", "2"]) == 0
    assert [p.name for p in run.parent.iterdir() if p.name != runs.LATEST] == [run.name]
    assert list(pd.read_csv(run / "history.csv")["epoch"]) == [1, 2]
    assert json.loads((run / "progress.json").read_text())["epochs_done"] == 2
    assert json.loads((run / "config.json").read_text())["epochs"] == 2
    assert (run / "split.json").read_text() == split

    before = digest(run)
    assert fit.main(["--resume", str(run), "--epochs", "3", "--val-block", "20"]) == 2
    assert "held out for validation and test differ" in one_error_line(capsys) and digest(run) == before
    assert fit.main(["--resume", str(run), "--epochs", "3", "--no-mirror-average"]) == 2
    assert "keeps its model mirror-averaged" in one_error_line(capsys) and digest(run) == before
    with open(log, "a") as f:  # a recording that grew since: its held-out rows are no longer known
        f.write(log.read_text().splitlines()[-1] + "\n")
    assert fit.main(["--resume", str(run), "--epochs", "3"]) == 2
    assert f"{log} changed since {run}" in one_error_line(capsys) and digest(run) == before


def test_resuming_a_finished_run_asks_for_more_epochs(finished_run, capsys):
    assert fit.main(["--resume", str(finished_run)]) == 2
    line = one_error_line(capsys)
    assert "trained all 1 of its 1 epochs" in line and "--epochs with a number above 1" in line
    assert "None" not in line


def test_a_second_run_leaves_the_first_untouched(recording, finished_run):
    first = finished_run
    before = digest(first)
    assert fit.main(fit_args(recording, first.parent)) == 0
    assert digest(first) == before
    assert (first.parent / runs.LATEST).resolve() != first  # latest moved on to the new run


def test_ctrl_c_keeps_the_best_model_and_says_where(recording, tmp_path, ctrl_c_in_epoch, capsys):
    ctrl_c_in_epoch(2)
    assert fit.main(fit_args(recording, tmp_path, "--epochs", "3")) == 130
    (run,) = [p for p in tmp_path.iterdir() if p.name != runs.LATEST]
    err = capsys.readouterr().err
    assert f"{run / 'model.keras'}" in err and "--resume" in err
    keras.models.load_model(run / "model.keras")
    assert json.loads((run / "progress.json").read_text())["epochs_done"] == 1


def test_ctrl_c_in_the_first_epoch_leaves_no_run_behind(recording, tmp_path, ctrl_c_in_epoch, capsys):
    ctrl_c_in_epoch(1)
    assert fit.main(fit_args(recording, tmp_path / "models")) == 130
    assert "nothing saved" in capsys.readouterr().err
    assert list((tmp_path / "models").iterdir()) == []


@pytest.fixture
def ctrl_c_in_epoch(monkeypatch):
    """Ctrl-C after the first training step of the given epoch (1-based), as the user would press it."""

    def arm(epoch: int) -> None:
        class CtrlC(keras.callbacks.Callback):
            def on_epoch_begin(self, index, logs=None):
                self.index = index

            def on_train_batch_end(self, batch, logs=None):
                if self.index + 1 == epoch:
                    raise KeyboardInterrupt

        original = callbacks.standard_callbacks

        def with_ctrl_c(*args, **kwargs):
            standard, *rest = original(*args, **kwargs)
            return [*standard, CtrlC()], *rest

        monkeypatch.setattr(callbacks, "standard_callbacks", with_ctrl_c)  # fit imports it when it trains

    return arm


# -- bad input: one line, exit 2, nothing written -------------------------------------------------

def test_no_recording(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert fit.main(fit_args(tmp_path / "empty", tmp_path / "models")) == 2
    assert "driving_log.csv" in one_error_line(capsys)
    assert not (tmp_path / "models").exists()


def test_all_images_missing(tmp_path, capsys):
    write_log(tmp_path / "rec", rows=20, missing_images=True)
    assert fit.main(fit_args(tmp_path / "rec", tmp_path / "models")) == 2
    assert "missing" in one_error_line(capsys)
    assert not (tmp_path / "models").exists()


def test_truncated_images_stop_the_fit_with_their_count_unless_skipped(tmp_path, capsys, caplog):
    write_log(tmp_path / "rec")
    for image in sorted((tmp_path / "rec" / "IMG").glob("center_*.jpg"))[:4]:
        image.write_bytes(image.read_bytes()[: image.stat().st_size // 3])
    assert fit.main(fit_args(tmp_path / "rec", tmp_path / "models")) == 2
    line = one_error_line(capsys)
    assert "4 of 120 images are damaged" in line and "--skip-missing" in line
    assert not (tmp_path / "models").exists()
    assert fit.main(fit_args(tmp_path / "rec", tmp_path / "models", "--skip-missing")) == 0
    assert "skipping 4 rows with 0 missing or unreadable images and 4 damaged ones" in caplog.text
    assert json.loads((tmp_path / "models" / runs.LATEST / "split.json").read_text())["recordings"][0]["rows"] == 36


def test_unwritable_output_folder(recording, tmp_path, capsys):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the output folder should go")
    assert fit.main(fit_args(recording, blocker / "models")) == 2
    assert "--out" in one_error_line(capsys)


def test_resume_without_last_keras(tmp_path, capsys):
    (tmp_path / "run").mkdir()
    assert fit.main(["--resume", str(tmp_path / "run")]) == 2
    assert "last.keras" in one_error_line(capsys)


def test_nan_loss_stops_with_a_clear_message_and_leaves_no_run(recording, tmp_path, capsys):
    assert fit.main(fit_args(recording, tmp_path, "--lr", "1e30")) == 2
    line = one_error_line(capsys)
    assert "NaN" in line and "--lr" in line
    assert list(tmp_path.iterdir()) == []


def test_a_full_disk_mid_save_keeps_the_previous_model(tmp_path, monkeypatch):
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    target = tmp_path / "model.keras"
    runs.save_model_atomic(model, target)
    before = target.read_bytes()

    def save_until_the_disk_is_full(self, path, *args, **kwargs):
        Path(path).write_bytes(b"PK\x03\x04 half a zip")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(keras.Model, "save", save_until_the_disk_is_full)
    with pytest.raises(OSError):
        runs.save_model_atomic(model, target)
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["model.keras"]


@pytest.mark.parametrize("full_at", [1, 2], ids=["first epoch", "second epoch"])
def test_a_disk_full_mid_fit_keeps_the_best_model_says_which_file_and_how_to_go_on(tmp_path, monkeypatch, capsys,
                                                                                    full_at):
    write_log(tmp_path / "rec")
    save, last_saves = keras.Model.save, []

    def save_until_the_disk_is_full(self, path, *args, **kwargs):
        if Path(path).name.startswith(".last."):  # the temp file last.keras is written to
            last_saves.append(path)
            if len(last_saves) == full_at:
                raise OSError(errno.ENOSPC, "No space left on device")
        return save(self, path, *args, **kwargs)

    monkeypatch.setattr(keras.Model, "save", save_until_the_disk_is_full)
    assert fit.main(fit_args(tmp_path / "rec", tmp_path / "models", "--epochs", "3")) == 2
    (run,) = [p for p in (tmp_path / "models").iterdir() if p.name != runs.LATEST]
    line = one_error_line(capsys)
    assert f"the disk is full: writing {run / runs.LAST_MODEL} failed (No space left on device)" in line
    assert f"{run} keeps {run / runs.KEPT_MODEL} (the epoch kept so far)" in line
    keras.models.load_model(run / runs.KEPT_MODEL)  # the model announced as saved is still there, whole
    if full_at == 1:
        assert "no finished epoch to resume from" in line and not (run / runs.PROGRESS).exists()
        return
    assert f"the state after epoch 1: free space, then continue with --resume {run}" in line
    progress = json.loads((run / runs.PROGRESS).read_text())
    assert (progress["epochs_done"], progress["kept_epoch"]) == (1, 1)
    monkeypatch.undo()
    assert fit.main(["--resume", str(run), "--epochs", "2"]) == 0
    assert "epoch None" not in capsys.readouterr().out
    assert json.loads((run / runs.METRICS).read_text())["kept_epoch"] in (1, 2)


@pytest.mark.parametrize("prefix", ["kept", "best"])  # best_*: the names of runs saved before 2026-12-08
def test_a_resumed_run_keeps_the_kept_epoch_it_had(tmp_path, prefix):
    (tmp_path / runs.PROGRESS).write_text(f'{{"epochs_done": 3, "{prefix}_val_loss": 0.02, "{prefix}_val_autonomy": null, '
                                          f'"{prefix}_epoch": 2}}')
    for name in (runs.LAST_MODEL, runs.CONFIG):
        (tmp_path / name).write_text("{}")
    progress = runs.read_progress(tmp_path)
    assert progress == {"epochs_done": 3, "kept_val_loss": 0.02, "kept_val_autonomy": -math.inf, "kept_epoch": 2}
    _, kept, _, _ = callbacks.standard_callbacks(runs.Run(tmp_path, resumed_from=tmp_path, **progress), TrainConfig(),
                                                 pd.DataFrame())
    assert (kept.epoch, kept.val_loss) == (2, 0.02)  # what metrics.json and the last line report before another epoch


def test_a_full_output_disk_is_refused_before_training_and_leaves_no_folder(tmp_path, monkeypatch):
    def no_space(self, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Path, "write_bytes", no_space)
    with pytest.raises(runs.RunError, match="No space left on device.*--out"):
        runs.Run.create(tmp_path / "models")
    assert list((tmp_path / "models").iterdir()) == []


def test_a_resumed_run_goes_on_with_its_own_config_json_and_flags_override_it(tmp_path):
    folder = tmp_path / "old_run"
    folder.mkdir()
    old = json.loads(TrainConfig(epochs=2, out=str(tmp_path), label_lead_s=0.3).to_json())
    (folder / runs.CONFIG).write_text(json.dumps(old | {"dropout": 0.0, "select_by": "last"}))  # made before removals
    resumed = runs.Run(folder, resumed_from=folder, epochs_done=1)
    assert fit.configure(build_parser().parse_args(["--resume", str(folder), "--epochs", "3"]), resumed).label_lead_s == 0.3
    flags = ["--resume", str(folder), "--epochs", "3", "--label-lead-s", "0.2"]
    assert fit.configure(build_parser().parse_args(flags), resumed).label_lead_s == 0.2  # a flag still overrides
    (folder / runs.CONFIG).write_text(json.dumps(old | {"select_by": "autonomy"}))
    with pytest.raises(runs.RunError, match='"select_by" was removed'):
        fit.configure(build_parser().parse_args(["--resume", str(folder), "--epochs", "3"]), resumed)
