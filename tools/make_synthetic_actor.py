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

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tools"))

import blender_script


def parse_args(argv=None):
    parser = blender_script.render_parser(__doc__, "synthetic_actor", samples=16, resolution=512,
                                          seed_help="the actor (identity, look, every frame)")
    parser.add_argument("--train", type=int, default=600, help="training stills")
    parser.add_argument("--held-out", type=int, default=64, help="held-out stills")
    parser.add_argument("--video-frames", type=int, default=48, help="frames of the video (0: none)")
    parser.add_argument("--appearance", nargs="+", default=[], metavar="NAME=VALUE",
                        help="override the seed's look, values in [0, 1] (e.g. hair_darkness=0.95: the same person "
                             "with dark hair and brows; names: blender_addon/dataset/sampling.py APPEARANCE)")
    return parser.parse_args(blender_script.script_arguments(argv))


def appearance_overrides(pairs):
    """["name=value", ...] -> {name: float}; a malformed pair exits with its text."""
    overrides = {}
    for pair in pairs:
        name, _, value = pair.partition("=")
        try:
            overrides[name] = float(value)
        except ValueError:
            raise SystemExit(f"make_synthetic_actor: --appearance {pair!r}: expected NAME=VALUE with a number") from None
    return overrides


def main(argv=None):
    args = parse_args(argv)

    def work():
        from blender_addon.dataset.synthetic_actor import make_synthetic_actor

        make_synthetic_actor(args.out, train=args.train, held_out=args.held_out, seed=args.seed, samples=args.samples,
                             resolution=args.resolution, video_frames=args.video_frames, max_minutes=args.max_minutes,
                             log=blender_script.log, appearance=appearance_overrides(args.appearance))

    return blender_script.run(work)


if __name__ == "__main__":
    blender_script.leave(main())
