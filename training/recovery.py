"""The steering that brings a car back to its recorded path: labels for side cameras and shifted views.

A frame seen from `lateral_m` right of the recorded path, turned `yaw_rad` right of it, should be
labelled with what the driver did there plus what returns the car to the path. Pure pursuit gives
the return: aim at the path point a look-ahead L ahead, on the arc of curvature 2·x / (x² + z²),
(x, z) being that point in the car's frame. Its error decays like exp(−v·t / L), so it is about back
(95 %) after 3 L / v: L = v · return_s / 3, never under MIN_LOOKAHEAD_M. A side camera 0.8 m out is
the special case of a 0.8 m shift with no turn. The correction is added as curvature to the
curvature the recorded steering drives, then turned back into steering by the bicycle model.
"""
from __future__ import annotations

import numpy as np

from base.kinematics import Steering

MIN_LOOKAHEAD_M = 4.0  # below this pure pursuit oscillates at the wheelbase's scale
STEERING = Steering.from_config()


def lookahead_m(speed_mps: np.ndarray | float, return_s: float) -> np.ndarray:
    return np.maximum(MIN_LOOKAHEAD_M, np.abs(np.asarray(speed_mps, dtype=float)) * return_s / 3.0)


def recovery_steering(steering: np.ndarray | float, lateral_m: np.ndarray | float, yaw_rad: np.ndarray | float,
                      speed_mps: np.ndarray | float, return_s: float) -> np.ndarray:
    """Normalised steering (clipped to ±1) that follows the recorded `steering` and returns the car from
    `lateral_m` (right +) and `yaw_rad` (turned right +) to the path in about `return_s` seconds."""
    steering, lateral, yaw = (np.asarray(a, dtype=float) for a in (steering, lateral_m, yaw_rad))
    look = lookahead_m(speed_mps, return_s)
    # The path point `look` ahead, in the frame of the car (x right, z forward).
    x = -lateral * np.cos(yaw) - look * np.sin(yaw)
    z = -lateral * np.sin(yaw) + look * np.cos(yaw)
    correction = 2 * x / (x ** 2 + z ** 2)
    _, recorded = STEERING.slip_and_curvature(steering)
    return np.clip(STEERING.steering_for_curvature(recorded + correction), -1.0, 1.0)
