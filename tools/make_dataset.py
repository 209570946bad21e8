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

import argparse
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "data" / "faces"), help="dataset folder (default data/faces)")
    parser.add_argument("--frames", type=int, default=2000, help="total frames wanted (rounded up to whole chunks)")
    parser.add_argument("--chunk", type=int, default=32, help="frames per chunk (one scene and shot folder each)")
    parser.add_argument("--seed", type=int, default=0, help="dataset seed")
    parser.add_argument("--resolution", type=int, default=256, help="image side in pixels")
    parser.add_argument("--samples", type=int, default=12, help="Cycles samples of the beauty render")
    parser.add_argument("--denoise", action="store_true", help="denoise the beauty render (OIDN; about 2 s more per frame here)")
    parser.add_argument("--first-chunk", type=int, default=0, help="index of the first chunk (to split work)")
    parser.add_argument("--max-minutes", type=float, default=0.0, help="stop after this many minutes (0 = no limit)")
    return parser.parse_args(sys.argv[sys.argv.index("--") + 1:] if "--" in sys.argv and argv is None else argv)


def main(argv=None):
    args = parse_args(argv)
    from blender_addon.core_link import NeuralFaceError
    from blender_addon.dataset.generate import Recipe, make_dataset

    recipe = Recipe(seed=args.seed, chunk=args.chunk, resolution=args.resolution, samples=args.samples, denoise=args.denoise)
    try:
        make_dataset(args.out, args.frames, recipe, args.first_chunk, args.max_minutes, log=lambda m: print(m, flush=True))
    except NeuralFaceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)  # bpy 4.5.15 can hang at interpreter exit while a handler is left in bpy.app.handlers
