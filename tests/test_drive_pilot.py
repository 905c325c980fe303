"""Per-frame behaviour without sockets: parsing telemetry, the speed controller, and one reply per message."""
from __future__ import annotations

import base64
import math
import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest

from base.runtime import load_runner
from drive.controller import BAD_FRAMES_BEFORE_BRAKE, Command, SpeedController, safe_command
from drive.pilot import Pilot
from drive.telemetry import BadTelemetry, parse, parse_number
from training.model import build_model


def scene(width: int = 320, height: int = 160) -> np.ndarray:
    """An RGB frame with sky, road and a lane edge, so JPEG sizes and colours are realistic."""
    frame = np.zeros((height, width, 3), np.uint8)
    frame[: height * 3 // 8] = (120, 170, 230)
    frame[height * 3 // 8:] = (110, 105, 100)
    cv2.line(frame, (width // 4, height), (width // 2, height * 3 // 8), (240, 240, 240), 3)
    return frame


def jpeg(frame: np.ndarray, ext: str = ".jpg") -> bytes:
    return cv2.imencode(ext, cv2.cvtColor(frame, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 75])[1].tobytes()


def message(image: bytes, speed: str = "12.5000", steering: str = "-2.5000") -> dict:
    return {"steering_angle": steering, "throttle": "0.3000", "speed": speed,
            "image": base64.b64encode(image).decode()}


@pytest.fixture(scope="module")
def runner(tmp_path_factory):
    path = tmp_path_factory.mktemp("model") / "model.keras"
    build_model().save(path)
    return load_runner(path)


def test_parse_decodes_rgb_and_reads_locale_numbers() -> None:
    frame = scene()
    telemetry = parse(message(jpeg(frame), speed="12,5", steering="-2,5000"))
    assert telemetry.speed_mph == 12.5
    assert telemetry.frame.shape == (160, 320, 3)
    # RGB, not OpenCV's BGR: the sky is blue, so its third channel is the largest
    assert telemetry.frame[5, 5].argmax() == 2
    assert np.abs(telemetry.frame.astype(int) - frame).mean() < 3
    assert telemetry.note == ""


@pytest.mark.parametrize("data, reason", [
    ({"speed": "1", "image": "@@@not base64@@@"}, "not valid base64"),
    ({"speed": "1"}, "no image"),
    ({"speed": "fast", "image": "AAAA"}, "speed"),
    ({"image": "AAAA"}, "no speed"),
    ({"speed": "1", "image": base64.b64encode(b"GIF89a" + bytes(50)).decode()}, "not a readable"),
    (["telemetry"], "list"),
])
def test_parse_rejects_unusable_messages_with_a_reason(data: object, reason: str) -> None:
    with pytest.raises(BadTelemetry, match=reason):
        parse(data)


def test_truncated_jpeg_is_rejected_not_decoded_half_grey() -> None:
    whole = jpeg(scene())
    with pytest.raises(BadTelemetry, match="truncated"):
        parse(message(whole[: len(whole) // 2]))


def test_oversized_image_is_rejected_before_decoding() -> None:
    with pytest.raises(BadTelemetry, match="over the 1.0 MB limit"):
        parse({"speed": "1", "image": "A" * (4 << 20)})


def png_header_claiming(width: int, height: int) -> bytes:
    """A PNG whose header claims width×height pixels (a decompression bomb's shape: tiny file, huge image)."""
    ihdr = b"IHDR" + struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = b"IDAT" + zlib.compress(bytes(1 + 3 * width))  # one row of zeros: the rest would follow
    return b"\x89PNG\r\n\x1a\n" + b"".join(struct.pack(">I", len(chunk) - 4) + chunk +
                                          struct.pack(">I", zlib.crc32(chunk)) for chunk in (ihdr, idat))


def jpeg_header_claiming(width: int, height: int) -> bytes:
    """A real JPEG frame whose start-of-frame header is rewritten to claim width×height."""
    data = bytearray(jpeg(scene()))
    at = data.find(b"\xff\xc0")
    data[at + 5:at + 9] = struct.pack(">HH", height, width)
    return bytes(data)


@pytest.mark.parametrize("bomb", [png_header_claiming(12000, 12000), jpeg_header_claiming(12000, 12000)],
                         ids=["PNG", "JPEG"])
def test_a_decompression_bomb_is_refused_from_its_header_without_decoding(bomb: bytes, monkeypatch) -> None:
    def no_decoding(*args):
        raise AssertionError("imdecode called on a 12000×12000 image")

    monkeypatch.setattr(cv2, "imdecode", no_decoding)
    with pytest.raises(BadTelemetry, match="12000×12000 pixels is not a camera frame"):
        parse(message(bomb))


@pytest.mark.parametrize("image", [b"\xff\xd8\xff\xda" + bytes(20) + b"\xff\xd9", b"\x89PNG\r\n\x1a\n" + bytes(10)],
                         ids=["JPEG without a frame header", "PNG cut in its header"])
def test_an_image_without_a_readable_size_is_not_decoded(image: bytes, monkeypatch) -> None:
    monkeypatch.setattr(cv2, "imdecode", lambda *args: pytest.fail("imdecode called"))
    with pytest.raises(BadTelemetry, match="no readable header"):
        parse(message(image))


def test_png_and_other_sizes_are_resized_and_reencoded_as_jpeg() -> None:
    telemetry = parse(message(jpeg(scene(640, 480), ".png")))
    assert telemetry.frame.shape == (160, 320, 3)
    assert "not a JPEG" in telemetry.note and "640×480" in telemetry.note
    assert telemetry.jpeg.startswith(b"\xff\xd8")  # what the recorder stores is a JPEG again


def test_parse_number_refuses_non_finite_values() -> None:
    with pytest.raises(BadTelemetry):
        parse_number("nan")
    assert parse_number(" 7.843922E-05 ") == pytest.approx(7.843922e-05)


def test_controller_accelerates_below_and_brakes_above_the_set_speed() -> None:
    controller = SpeedController(15.0)
    assert controller.throttle(0.0, 0.0, now=0.0) == 1.0  # far below: full (clamped) throttle
    controller.reset()
    assert controller.throttle(25.0, 0.0, now=0.0) < 0  # far above: brake
    controller.reset()
    assert -1.0 <= controller.throttle(200.0, 0.0, now=0.0) <= 1.0


def test_controller_slows_down_in_sharp_steering() -> None:
    straight, bend = SpeedController(15.0), SpeedController(15.0)
    assert bend.throttle(12.0, 0.9, now=0.0) < straight.throttle(12.0, 0.0, now=0.0)
    assert bend.target_mph(-1.0) == pytest.approx(7.5)


def test_controller_integral_removes_a_steady_error_over_time() -> None:
    controller = SpeedController(15.0, kp=0.05, ki=0.05)
    first = controller.throttle(14.0, 0.0, now=0.0)
    later = [controller.throttle(14.0, 0.0, now=0.1 * i) for i in range(1, 30)][-1]
    assert later > first


def test_controller_respects_max_throttle() -> None:
    assert SpeedController(30.0, max_throttle=0.4).throttle(0.0, 0.0, now=0.0) == 0.4


def test_safe_command_keeps_steering_eases_off_then_brakes_but_never_reverses() -> None:
    last = Command(0.3, 0.6)
    first = safe_command(last, 1, speed_mph=12.0)
    assert first.steering == 0.3 and 0 <= first.throttle < 0.6
    assert safe_command(last, BAD_FRAMES_BEFORE_BRAKE, speed_mph=12.0).throttle < 0
    assert safe_command(last, BAD_FRAMES_BEFORE_BRAKE, speed_mph=0.0).throttle == 0.0


def _floats(reply: tuple[str, dict]) -> tuple[float, float]:
    name, data = reply
    assert name == "steer" and set(data) == {"steering_angle", "throttle"}
    assert all(isinstance(v, str) for v in data.values())  # the simulator float.Parse()s strings only
    steering, throttle = float(data["steering_angle"]), float(data["throttle"])
    assert -1 <= steering <= 1 and -1 <= throttle <= 1
    return steering, throttle


def test_pilot_answers_every_message_once_and_recovers_after_bad_frames(runner, caplog) -> None:
    pilot = Pilot(runner, SpeedController(15.0))
    good = message(jpeg(scene()), speed="5.0")
    steering, throttle = _floats(pilot.on_telemetry(good))
    assert steering == pytest.approx(runner.predict_one(parse(good).frame), abs=1e-5)
    assert throttle > 0  # below the set speed
    assert pilot.on_telemetry({}) == ("manual", {})
    caplog.clear()
    replies = [_floats(pilot.on_telemetry({"speed": "5", "image": "garbage!"})) for _ in range(4)]
    assert [r[0] for r in replies] == [steering] * 4  # the last steering is kept
    assert replies[-1][1] < 0  # several bad frames in a row: brake
    bad_lines = [r for r in caplog.records if "bad frame" in r.getMessage()]
    assert len(bad_lines) == 4 and all("\n" not in r.getMessage() for r in bad_lines)
    assert _floats(pilot.on_telemetry(good))[1] > 0  # the next good frame drives normally again


def test_pilot_returns_to_autonomous_after_manual(runner) -> None:
    pilot = Pilot(runner, SpeedController(15.0))
    assert pilot.on_telemetry({})[0] == "manual"
    assert pilot.on_telemetry(None)[0] == "manual"
    assert pilot.on_telemetry(message(jpeg(scene())))[0] == "steer"
    assert not math.isnan(pilot.last.steering)


def test_pilot_records_good_frames_only(runner, tmp_path: Path) -> None:
    from drive.recorder import Recorder

    recorder = Recorder(tmp_path / "run")
    pilot = Pilot(runner, SpeedController(15.0), recorder=recorder)
    pilot.on_telemetry(message(jpeg(scene())))
    pilot.on_telemetry({"speed": "1", "image": "garbage!"})
    pilot.on_telemetry(message(jpeg(scene())))
    recorder.close()
    assert recorder.written == 2
    assert len(list((tmp_path / "run" / "IMG").glob("*.jpg"))) == 2


def test_a_model_returning_nan_gets_a_safe_reply_not_full_lock(tmp_path: Path) -> None:
    import keras

    frames = keras.Input((160, 320, 3))
    head = keras.layers.Dense(1)
    nan_model = keras.Model(frames, head(keras.layers.GlobalAveragePooling2D()(frames)))
    head.set_weights([np.full((3, 1), np.nan, np.float32), np.zeros(1, np.float32)])  # a diverged training run
    nan_model.save(tmp_path / "nan.keras")
    pilot = Pilot(load_runner(tmp_path / "nan.keras"), SpeedController(15.0))
    steering, throttle = _floats(pilot.on_telemetry(message(jpeg(scene()))))
    assert steering == 0.0 and throttle == 0.0
