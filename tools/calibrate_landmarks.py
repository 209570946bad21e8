#!/usr/bin/env python3
"""Estimate where MediaPipe sees the bundled head's landmarks (neural_core/actor/calibration.py).

    .venv/bin/python tools/make_synthetic_actor.py --out data/calibration_actor --seed 1 \\
        --train 200 --held-out 0 --video-frames 0 --samples 4
    .venv/bin/python tools/calibrate_landmarks.py data/calibration_actor [data/calibration_actor_2 ...]

Detects MediaPipe's landmarks on the actors' renders, compares them with the true vertices
(truth/), and writes neural_core/actor/data/landmark_calibration.npz (``--out`` to put it
elsewhere). ``--depth`` writes the depth calibration instead
(neural_core/actor/data/depth_calibration.npz): the same regression with each detection put
at MediaPipe's own relative depth, detected as the actor workflow does (each image and its
mirror image, averaged). Use actors that no evaluation uses (other --seed values: the evaluation actor
is seed 0), and several of them: with one identity the offsets also learn that person's
proportions, which then bias every other fit.
"""

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("actors", nargs="+", help="synthetic actor folders (tools/make_synthetic_actor.py)")
    parser.add_argument("--split", default="train")
    parser.add_argument("--ridge", type=float, default=1.0, help="pull of the per-key terms towards 0")
    parser.add_argument("--depth", action="store_true",
                        help="the depth calibration (MediaPipe's relative depth; mirror-averaged detections)")
    parser.add_argument("--out", default=None, help="calibration file (default: the bundled one)")
    args = parser.parse_args(argv)

    import numpy as np

    from neural_core.actor import calibration
    from neural_core.actor.head_model import load_head_model
    from neural_core.evaluation import fitting

    model = load_head_model()
    parts, described = [], []
    for actor in args.actors:
        items = fitting.load_split(actor, args.split)
        if not items:
            raise SystemExit(f"calibrate_landmarks: no frames in {actor}/truth/{args.split}")
        detections, _, _, depths, _ = fitting.detect(items, mirror=args.depth)
        truth = json.loads((Path(actor) / "truth" / "actor.json").read_text())
        identity = np.array([truth["identity"][n] for n in model.identity_names])
        parts.append(fitting.calibration_samples(model, items, detections, identity, depths if args.depth else None))
        recipe = json.loads((Path(actor) / "truth" / "recipe.json").read_text())
        described.append(f"seed {recipe.get('seed')}: {len(parts[-1][2])} frames")
        blender = recipe.get("blender_version")
    detected, vertices, expressions = (np.concatenate([p[k] for p in parts]) for k in range(3))
    source = (f"{len(expressions)} frames of {len(parts)} synthetic actors ({'; '.join(described)}; 384 px renders, "
              f"Blender {blender}), MediaPipe 0.10.21 refined face mesh, ridge {args.ridge}"
              + (", relative depth, mirror-averaged detections" if args.depth else ""))
    result = calibration.estimate(detected, vertices, expressions, model.expression_names, args.ridge, source)
    out = Path(args.out) if args.out else (calibration.DEPTH_PATH if args.depth else calibration.DEFAULT_PATH)
    result.save(out)
    offsets = np.linalg.norm(result.offset, axis=1) * 1000
    print(f"{out}: {source}; offset median {np.median(offsets):.2f} mm, max {offsets.max():.2f} mm")
    return 0


if __name__ == "__main__":
    sys.exit(main())
