"""A training or held-out dataset: chunks of ``chunk.make_chunk``, reproducible and resumable.

Dataset folder layout::

    DIR/dataset.json      the recipe (seed, chunk size, resolution, samples, denoise); a
                          rerun with another recipe is refused
    DIR/chunk_00000/ ...  sample folders (see ``chunk``); finished ones are skipped

Chunk k draws its frames from ``numpy.random.default_rng([seed, k])``, so any chunk can
be made again, alone or on another machine, from the seed.
"""

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..core_link import NeuralFaceError, arkit, atomic
from ..head.identity import identity_names
from . import sampling

RECIPE = "dataset.json"


@dataclass
class Recipe:
    """How a dataset is made; stored in ``dataset.json``."""

    seed: int = 0  # dataset seed
    chunk: int = 32  # frames per chunk (one scene and sample folder each)
    resolution: int = 256  # image side, pixels
    samples: int = 12  # Cycles samples of the beauty render
    denoise: bool = False  # OIDN on the beauty render (about 2 s more per 256 px frame here)
    generator: str = "tools/make_dataset.py"  # the command that made it


def frames_for_chunk(seed, index, count):
    """The random parameters of chunk ``index``: ``count`` ``sampling.frame_parameters`` dicts."""
    rng = np.random.default_rng([seed, index])
    names = identity_names()
    return [sampling.frame_parameters(rng, names, arkit.ARKIT_52) for _ in range(count)]


def check_recipe(out, recipe):
    """Write ``out/dataset.json``, or check that the one there matches ``recipe``.

    Raises NeuralFaceError naming both recipes when the folder was made differently.
    """
    path = Path(out) / RECIPE
    wanted = asdict(recipe)
    if path.is_file():
        previous = json.loads(path.read_text())
        if {k: previous.get(k) for k in wanted} != wanted:
            raise NeuralFaceError(f"{out} was made with {previous}, not {wanted}")
    else:
        atomic.write_text_atomically(path, json.dumps(wanted, indent=1))


def make_dataset(out, frames, recipe, first_chunk=0, max_minutes=0.0, log=print):
    """Make (or finish) the chunks holding ``frames`` frames (rounded up to whole chunks)
    from chunk ``first_chunk`` on; stops starting chunks after ``max_minutes`` (0: no
    limit). Returns the number of frames rendered now."""
    from .chunk import chunk_complete, make_chunk

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    check_recipe(out, recipe)
    started = time.perf_counter()
    done = 0
    for index in range(first_chunk, first_chunk + -(-frames // recipe.chunk)):
        folder = out / f"chunk_{index:05d}"
        if chunk_complete(folder):
            continue
        if max_minutes and time.perf_counter() - started > max_minutes * 60:
            log("time limit reached")
            break
        params = frames_for_chunk(recipe.seed, index, recipe.chunk)
        make_chunk(folder, params, recipe.resolution, recipe.samples, recipe.denoise, log=log)
        done += len(params)
        elapsed = time.perf_counter() - started
        log(f"{done} frames in {elapsed / 60:.1f} min: {done / elapsed * 3600:.0f} frames/hour")
    return done
