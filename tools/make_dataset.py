#!/usr/bin/env python3
"""Procedural training data for the default face model (Blender as a Python module).

    .venv/bin/python tools/make_dataset.py --out data/faces --frames 2000 --seed 0
    nice -n 10 .venv/bin/python tools/make_dataset.py --out data/faces --frames 4000   # resumes

Each chunk of ``--chunk`` frames is one Blender scene: the bundled head with a random
identity, expression, head/eye/jaw pose and camera keyed on frames 1..N. The conditions
(coefficients, passes, landmarks) come from the exporter's ``export_shot``; the targets
are Cycles CPU renders (12 samples, optionally denoised) of the same frames with procedural skin, lips, eyes,
brows, hair, lighting and background (``tools/dataset/``). Chunk k draws from
``numpy.random.default_rng([seed, k])``: the dataset is reproducible from ``--seed`` and
resumable (finished chunks are skipped). Writes under ``data/`` (git-ignored).
"""

import argparse
import json
import os
import sys
import time
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


def frames_for_chunk(seed, index, count):
    """The random parameters of chunk ``index`` (pure numpy: reproducible from the seed)."""
    import numpy as np

    from neural_core.contract.rig.arkit import ARKIT_52
    from tools.dataset import sampling

    identity_names = [f"id_{i:02d}" for i in range(28)]
    rng = np.random.default_rng([seed, index])
    return [sampling.frame_parameters(rng, identity_names, ARKIT_52) for _ in range(count)]


def main(argv=None):
    args = parse_args(argv)
    from tools.dataset import scene as chunk_scene

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    recipe = {"seed": args.seed, "chunk": args.chunk, "resolution": args.resolution, "samples": args.samples, "denoise": args.denoise,
              "generator": "tools/make_dataset.py"}
    recipe_path = out / "dataset.json"
    if recipe_path.is_file():
        previous = json.loads(recipe_path.read_text())
        if {k: previous.get(k) for k in recipe} != recipe:
            print(f"error: {out} was made with {previous}, not {recipe}", file=sys.stderr)
            return 2
    else:
        recipe_path.write_text(json.dumps(recipe, indent=1))
    chunks = -(-args.frames // args.chunk)
    started = time.perf_counter()
    done_frames = 0
    for index in range(args.first_chunk, args.first_chunk + chunks):
        folder = out / f"chunk_{index:05d}"
        if chunk_scene.chunk_complete(folder):
            continue
        if args.max_minutes and time.perf_counter() - started > args.max_minutes * 60:
            print("time limit reached", flush=True)
            break
        frames = frames_for_chunk(args.seed, index, args.chunk)
        chunk_scene.make_chunk(folder, frames, args.resolution, args.samples, args.denoise, log=lambda m: print(m, flush=True))
        done_frames += len(frames)
        elapsed = time.perf_counter() - started
        print(f"{done_frames} frames in {elapsed / 60:.1f} min: {done_frames / elapsed * 3600:.0f} frames/hour", flush=True)
    return 0


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)  # bpy 4.5 can hang at interpreter exit (see ../shared/FACTS.md)
