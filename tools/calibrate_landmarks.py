#!/usr/bin/env python3
"""Estimate where MediaPipe sees the bundled head's landmarks (neural_core/actor/calibration.py).

    .venv/bin/python tools/make_synthetic_actor.py --out data/calibration_actor --seed 1 \\
        --train 200 --held-out 0 --video-frames 0 --samples 4
    .venv/bin/python tools/calibrate_landmarks.py data/calibration_actor

Detects MediaPipe's landmarks on the actor's renders, compares them with the true vertices
(truth/), and writes neural_core/actor/data/landmark_calibration.npz (``--out`` to put it
elsewhere). Use an actor that no evaluation uses (another --seed): the evaluation actor is
seed 0.
"""

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("actor", help="a synthetic actor folder (tools/make_synthetic_actor.py)")
    parser.add_argument("--split", default="train")
    parser.add_argument("--ridge", type=float, default=1.0, help="pull of the per-key terms towards 0")
    parser.add_argument("--out", default=None, help="calibration file (default: the bundled one)")
    args = parser.parse_args(argv)

    import numpy as np

    from neural_core.actor import calibration
    from neural_core.actor.head_model import load_head_model
    from neural_core.evaluation import fitting

    model = load_head_model()
    items = fitting.load_split(args.actor, args.split)
    if not items:
        raise SystemExit(f"calibrate_landmarks: no frames in {args.actor}/truth/{args.split}")
    detections, _, _ = fitting.detect(items)
    truth = json.loads((Path(args.actor) / "truth" / "actor.json").read_text())
    identity = np.array([truth["identity"][n] for n in model.identity_names])
    detected, vertices, expressions = fitting.calibration_samples(model, items, detections, identity)
    recipe = json.loads((Path(args.actor) / "truth" / "recipe.json").read_text())
    source = (f"{len(expressions)} frames of a synthetic actor (seed {recipe.get('seed')}, "
              f"{recipe.get('resolution')} px, {recipe.get('samples')} samples, Blender {recipe.get('blender_version')}), "
              f"MediaPipe 0.10.21 refined face mesh, ridge {args.ridge}")
    result = calibration.estimate(detected, vertices, expressions, model.expression_names, args.ridge, source)
    out = Path(args.out) if args.out else calibration.DEFAULT_PATH
    result.save(out)
    offsets = np.linalg.norm(result.offset, axis=1) * 1000
    print(f"{out}: {source}; offset median {np.median(offsets):.2f} mm, max {offsets.max():.2f} mm")
    return 0


if __name__ == "__main__":
    sys.exit(main())
