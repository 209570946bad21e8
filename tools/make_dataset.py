#!/usr/bin/env python3
"""Procedural training data for the default face model (Blender as a Python module).

    .venv/bin/python tools/make_dataset.py --out data/faces --frames 2000 --seed 0
    nice -n 10 .venv/bin/python tools/make_dataset.py --out data/faces --frames 4000   # resumes

Each chunk of ``--chunk`` frames is one Blender scene: the bundled head with a random
identity, expression, head/eye/jaw pose and camera keyed on frames 1..N. The conditions
(coefficients, passes, landmarks) come from the exporter's ``export_shot``; the targets
are Cycles CPU renders (12 samples, optionally denoised) of the same frames with procedural
skin, lips, eyes, brows, hair, lighting and background. Chunk k draws from
``numpy.random.default_rng([seed, k])``: the dataset is reproducible from ``--seed`` and
resumable (finished chunks are skipped). Writes under ``data/`` (git-ignored). The code is
``blender_addon/dataset/`` (``generate.py``).
"""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tools"))

import blender_script


def parse_args(argv=None):
    parser = blender_script.render_parser(__doc__, "faces", samples=12, resolution=256, seed_help="dataset seed")
    parser.add_argument("--frames", type=int, default=2000, help="total frames wanted (rounded up to whole chunks)")
    parser.add_argument("--chunk", type=int, default=32, help="frames per chunk (one scene and shot folder each)")
    parser.add_argument("--denoise", action="store_true", help="denoise the beauty render (OIDN; about 2 s more per frame here)")
    parser.add_argument("--first-chunk", type=int, default=0, help="index of the first chunk (to split work)")
    return parser.parse_args(blender_script.script_arguments(argv))


def main(argv=None):
    args = parse_args(argv)

    def work():
        from blender_addon.dataset.generate import Recipe, make_dataset

        recipe = Recipe(seed=args.seed, chunk=args.chunk, resolution=args.resolution, samples=args.samples, denoise=args.denoise)
        make_dataset(args.out, args.frames, recipe, args.first_chunk, args.max_minutes, log=blender_script.log)

    return blender_script.run(work)


if __name__ == "__main__":
    blender_script.leave(main())
