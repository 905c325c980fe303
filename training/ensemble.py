"""Several trained models as one: their steering averaged, for the drive server, export and the replay.

    python -m training.ensemble models/seed0 models/seed1 models/seed2 --out models/ensemble
    python drive.py models/ensemble

Runs that differ only in their seed drive differently enough that one may leave the road where the
others do not; their average drives like the best of them (docs/driving.md). The members share the
preprocessing layers (one crop, colour conversion and resize per frame) and the ensemble is an
ordinary Keras model with the same input and output, so every tool that takes a model takes it.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from base.convert import CHECK_FRAMES, check_frames
from base.modelfile import KERAS_SUFFIXES, ModelLoadError, check_model_file
from base.runtime import load_keras_model
from training import runs


def build_ensemble(members: list):  # keras.Models in, one keras.Model out (typed loosely: Keras loads late)
    """One model whose output is the mean of `members`' outputs (each a model `training.fit` keeps, mirror-averaged or not)."""
    import keras

    from base.frames import FRAME_SHAPE
    from training.preprocess import OUTPUT as PREPROCESSED  # the members start after it
    from training.preprocess import preprocess

    frames = keras.Input(shape=FRAME_SHAPE, name="frames")
    shared = preprocess(frames)
    outputs = []
    for i, member in enumerate(members):
        try:
            start = member.get_layer(PREPROCESSED).output
        except ValueError:
            raise ModelLoadError(f"member {i + 1} is not a network of training.fit (it has no '{PREPROCESSED}' "
                                 "layer): pass run folders or model.keras files it wrote") from None
        head = keras.Model(start, member.output, name=f"member{i + 1}")
        outputs.append(head(shared))
    steering = keras.layers.Average(name="steering_mean", dtype="float32")(outputs) if len(outputs) > 1 else outputs[0]
    return keras.Model(frames, steering, name=f"ensemble_of_{len(members)}")


def _difference_from_member(ensemble, i: int, member, frames: np.ndarray) -> float:
    """Largest steering difference between member `i` alone and its head in `ensemble` behind the shared preprocessing."""
    import keras

    from training.preprocess import OUTPUT as PREPROCESSED

    shared = keras.Model(ensemble.input, ensemble.get_layer(PREPROCESSED).output).predict(frames, verbose=0)
    head = ensemble.get_layer(f"member{i + 1}").predict(shared, verbose=0).reshape(-1)
    return float(np.max(np.abs(head - member.predict(frames, verbose=0).reshape(-1))))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.ensemble", description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+", metavar="MODEL", help="run folders (their model.keras) or .keras files")
    parser.add_argument("--out", required=True, metavar="DIR",
                        help="folder to write model.keras into (created; an existing model.keras is not replaced)")
    args = parser.parse_args(argv)
    if len(args.models) < 2:
        print("error: an ensemble needs two models or more: pass several run folders", file=sys.stderr)
        return 2
    out = Path(args.out) / runs.KEPT_MODEL
    if out.exists():
        print(f"error: {out} exists: pass another --out (nothing trained is replaced)", file=sys.stderr)
        return 2
    try:
        paths = [check_model_file(model) for model in args.models]
        wrong = [str(p) for p in paths if p.suffix.lower() not in KERAS_SUFFIXES]
        if wrong:
            raise ModelLoadError(f"{wrong[0]} is not a Keras model: pass run folders or .keras files")
        members = [load_keras_model(p) for p in paths]
        ensemble = build_ensemble(members)
        frames = check_frames().astype(np.float32)
        for i, (member, path) in enumerate(zip(members, paths)):
            difference = _difference_from_member(ensemble, i, member, frames)
            if difference > 1e-4:
                raise ModelLoadError(f"{path} steers {difference:.1e} differently behind the shared preprocessing: "
                                     "it preprocesses frames unlike the others (another version of training.fit); "
                                     "leave it out or train it again")
        out.parent.mkdir(parents=True, exist_ok=True)
        runs.save_model_atomic(ensemble, out)
    except (ModelLoadError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"wrote {out}: the mean of {len(members)} models (checked on {CHECK_FRAMES} frames: largest difference "
          f"from their mean {difference:.1e})")
    print(f"drive with it: python drive.py {out.parent}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
