"""The course's drive.py, as users ran it: the baseline the drive server is measured against.

Kept faithful where it matters for speed and behaviour: python-socketio 4 + eventlet with default
settings (a greenlet per event, eventlet's byte-by-byte websocket unmasking), PIL to decode the
frame, `model.predict` on every frame, a SimplePIController toward 9 mph, values sent as `str()`
and a `steer` broadcast on connect. Differences, each to make it runnable here and safe:
- `socketio.WSGIApp` instead of wrapping a Flask app: Flask only answered non-Socket.IO HTTP
  routes, which the simulator never requests (Flask is not installed here);
- `--host` (default 127.0.0.1) and `--port` instead of listening on all interfaces at 4567;
- no IMAGE_FOLDER: the original deleted an existing folder (`shutil.rmtree`) before recording;
- `float(prediction[0, 0])`: NumPy 2 no longer converts a (1, 1) array with `float()`.

    python -m benchmarks.classic_drive MODEL --port P
"""
from __future__ import annotations

import argparse
import base64
from io import BytesIO

import eventlet
import eventlet.wsgi
import numpy as np
import socketio
from PIL import Image

READY = "classic drive server listening on"


class SimplePIController:
    def __init__(self, Kp: float, Ki: float) -> None:
        self.Kp = Kp
        self.Ki = Ki
        self.set_point = 0.0
        self.error = 0.0
        self.integral = 0.0

    def set_desired(self, desired: float) -> None:
        self.set_point = desired

    def update(self, measurement: float) -> float:
        # proportional error
        self.error = self.set_point - measurement
        # integral error
        self.integral += self.error
        return self.Kp * self.error + self.Ki * self.integral


def main() -> None:
    parser = argparse.ArgumentParser(description="Remote Driving (the course's classic drive.py)")
    parser.add_argument("model", type=str, help="Path to model h5 file. Model should be on the same path.")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (the original used all)")
    parser.add_argument("--port", type=int, default=4567)
    args = parser.parse_args()

    from keras.models import load_model

    sio = socketio.Server()
    model = load_model(args.model)
    controller = SimplePIController(0.1, 0.002)
    set_speed = 9
    controller.set_desired(set_speed)

    @sio.on("telemetry")
    def telemetry(sid, data):
        if data:
            # The current steering angle of the car
            steering_angle = data["steering_angle"]
            # The current throttle of the car
            throttle = data["throttle"]
            # The current speed of the car
            speed = data["speed"]
            # The current image from the center camera of the car
            imgString = data["image"]
            image = Image.open(BytesIO(base64.b64decode(imgString)))
            image_array = np.asarray(image)
            steering_angle = float(model.predict(image_array[None, :, :, :], batch_size=1)[0, 0])

            throttle = controller.update(float(speed))

            print(steering_angle, throttle)
            send_control(steering_angle, throttle)
        else:
            # NOTE: DON'T EDIT THIS.
            sio.emit("manual", data={}, skip_sid=True)

    @sio.on("connect")
    def connect(sid, environ):
        print("connect ", sid)
        send_control(0, 0)

    def send_control(steering_angle, throttle):
        sio.emit(
            "steer",
            data={
                "steering_angle": steering_angle.__str__(),
                "throttle": throttle.__str__()
            },
            skip_sid=True)

    # wrap the app with the Socket.IO middleware
    app = socketio.WSGIApp(sio)
    sock = eventlet.listen((args.host, args.port))
    print(f"{READY} {args.host}:{args.port}", flush=True)
    # deploy as an eventlet WSGI server
    eventlet.wsgi.server(sock, app)


if __name__ == "__main__":
    main()
