"""The base layer: what evaluation, the simulator, training and the drive server share, importing none of them.

It holds the simulator's data contract (the recording log, the frames, the cameras and the views
synthesised from them), run folders' split and atomic writes, and the model runtime (load any model
format, run it on raw frames). `evaluate` (judging models by driving) sits on it; `training`, `drive`
and `sim` sit on both and on `simulator_config`, and meet only through them and the drive server's socket.
"""
# Every command imports base before TensorFlow (whoever imports it: Keras, tf2onnx, the runtime), so
# TensorFlow's start-up lines are kept off the user's terminal here, in one place.
from base import quiet_tensorflow  # noqa: F401
