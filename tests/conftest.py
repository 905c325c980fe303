"""Fixtures shared by every test module."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
import base.quiet_tensorflow  # noqa: E402,F401  (before any test imports TensorFlow)
from base.processes import free_loopback_port  # noqa: E402  (the repository is importable from here on)

REALDATA = ROOT.parent / "shared" / "realdata"


@pytest.fixture
def realdata() -> Path:
    """The three real simulator recordings; the test is skipped where they are absent."""
    if not (REALDATA / "udacity_sample_part" / "driving_log.csv").exists():
        pytest.skip(f"real recordings not found at {REALDATA} (they live in ../shared/realdata)")
    return REALDATA


@pytest.fixture(scope="session")
def untrained_onnx(tmp_path_factory) -> Path:
    """An untrained NVIDIA network (seeded) as ONNX: the drive server starts on it in a second, without TensorFlow."""
    import keras

    from base.convert import export_checked
    from training.model import build_model

    keras.utils.set_random_seed(7)
    path = tmp_path_factory.mktemp("model") / "model.onnx"
    export_checked(build_model(), "onnx", path)
    return path


@pytest.fixture
def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    return free_loopback_port()


@pytest.fixture(autouse=True)
def eventlet_left_unpatched():
    """No test leaves eventlet patched for the next: the drive server patches it only in its own process."""
    yield
    patcher = sys.modules.get("eventlet.patcher")
    if patcher is not None:
        assert not patcher.already_patched, f"eventlet left monkey-patched: {sorted(patcher.already_patched)}"
    wsmask = sys.modules.get("drive.wsmask")
    if wsmask is not None:
        from eventlet import websocket

        assert websocket.RFC6455WebSocket._apply_mask is not wsmask.apply_mask, "drive.wsmask left installed"
