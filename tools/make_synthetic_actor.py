#!/usr/bin/env python3
"""A synthetic actor: photo-like renders of the bundled head as one hidden person, with the
ground truth kept aside (issue 14). Blender as a Python module.

    nice -n 10 .venv/bin/python tools/make_synthetic_actor.py --out data/synthetic_actor --seed 0
    .venv/bin/python tools/make_synthetic_actor.py --out DIR --train 600 --held-out 64 --seed N --samples 16

OUT/train/, OUT/held_out/ (stills), OUT/video/ (48 frames and video.mp4) hold the footage;
OUT/truth/ holds what the footage shows (identity, ARKit values, pose, camera, landmarks).
Deterministic for a seed and resumable: a rerun renders only the frames not yet on disk.
The code is ``blender_addon/dataset/synthetic_actor.py``.
"""

import argparse
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "data" / "synthetic_actor"), help="output folder (default data/synthetic_actor)")
    parser.add_argument("--train", type=int, default=600, help="training stills")
    parser.add_argument("--held-out", type=int, default=64, help="held-out stills")
    parser.add_argument("--video-frames", type=int, default=48, help="frames of the video (0: none)")
    parser.add_argument("--seed", type=int, default=0, help="the actor (identity, look, every frame)")
    parser.add_argument("--samples", type=int, default=16, help="Cycles samples per pixel")
    parser.add_argument("--resolution", type=int, default=512, help="image side in pixels")
    parser.add_argument("--max-minutes", type=float, default=0.0, help="stop after this many minutes (0 = no limit); rerun to go on")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    from blender_addon.core_link import NeuralFaceError
    from blender_addon.dataset.synthetic_actor import make_synthetic_actor

    try:
        make_synthetic_actor(args.out, train=args.train, held_out=args.held_out, seed=args.seed, samples=args.samples,
                             resolution=args.resolution, video_frames=args.video_frames, max_minutes=args.max_minutes,
                             log=lambda m: print(m, flush=True))
    except NeuralFaceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)  # bpy 4.5.15 can hang at interpreter exit while a handler is left in bpy.app.handlers
