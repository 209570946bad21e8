"""The synthetic actor's stills rendered again, each light set applied to every frame
(issue 14: what any model with ONE look could score on footage whose light changes).

Each held-out photo of the synthetic actor has its own light, which no rig value carries.
A model rendering one look can at best reproduce every frame under one light. This module
renders exactly that: the same actor, expression, pose, camera and plate as the source
frames (``performance.still_frame`` of the source's seed), with the lights replaced by one
light set for the whole split. Folder layout, one synthetic actor per light set::

    OUT/lights.json                  {set name: {light key: uniform in [0, 1]}}
    OUT/<set>/truth/actor.json       the source's (identity, look)
    OUT/<set>/truth/<split>/0001.json  the source frame's truth, its "lights" replaced
    OUT/<set>/<split>/0001.png       the frame under that light, over its own plate

so ``neural_core.evaluation.truth_shot`` crops them exactly as it crops the source frames.
Light sets: ``own`` (each frame's own light: the check that this reproduces the source
frames), ``centre`` (every light uniform at its middle) and ``draw_K`` (K = 0, 1, ...:
``performance.lights`` from ``default_rng([seed, LIGHT_STREAM, K])``, the footage's own
light distribution). Resumable: a rerun renders only the images not on disk.
"""

import json
import time
from pathlib import Path

import numpy as np

from ..core_link import NeuralFaceError, arkit, atomic
from ..head.identity import identity_names
from . import performance, plates
from .synthetic_actor import Stage, _save_png, frame_name

LIGHT_STREAM = 4  # performance's streams: 0 actor, 1 train, 2 held_out, 3 video
OWN = "own"
CENTRE = {"light_azimuth": 0.5, "light_elevation": 0.5, "light_ratio": 0.5, "light_warmth": 0.5, "ambient": 0.6}


def light_sets(seed, draws):
    """{name: lights}: ``own`` (None: each frame's own), ``centre`` and ``draw_0`` .. ``draw_<draws-1>``."""
    sets = {OWN: None, "centre": dict(CENTRE)}
    for k in range(draws):
        sets[f"draw_{k}"] = performance.lights(np.random.default_rng([seed, LIGHT_STREAM, k]))
    return sets


def read_source(source, split):
    """(recipe, the text of its truth/actor.json, [truth dicts] in frame order) of a finished synthetic actor split."""
    source = Path(source)
    recipe_path = source / "truth" / "recipe.json"
    if not recipe_path.is_file():
        raise NeuralFaceError(f"{source}: not a synthetic actor (no truth/recipe.json; make one with tools/make_synthetic_actor.py)")
    recipe = json.loads(recipe_path.read_text())
    if split not in performance.SPLITS:
        raise NeuralFaceError(f"split {split!r}: stills only ({', '.join(performance.SPLITS)}); the video has one light already")
    truths = [json.loads(p.read_text()) for p in sorted((source / "truth" / split).glob("*.json"))]
    if not truths:
        raise NeuralFaceError(f"{source / 'truth' / split}: no truth frames")
    return recipe, (source / "truth" / "actor.json").read_text(), truths


def relight(source, out, split="held_out", draws=6, limit=0, log=print):
    """Render ``split`` of the synthetic actor at ``source`` under each light set into
    ``out`` (see the module docstring); ``limit``: only the first N frames (0: all).
    Returns the number of images rendered now."""
    recipe, actor_text, truths = read_source(source, split)
    truths = truths[:limit] if limit else truths
    out = Path(out)
    seed = int(recipe["seed"])
    sets = light_sets(seed, draws)
    out.mkdir(parents=True, exist_ok=True)
    atomic.write_text_atomically(out / "lights.json", json.dumps(sets, indent=1))
    todo = [(name, number) for name in sets for number in range(1, len(truths) + 1)
            if not (out / name / split / frame_name(number)).is_file()]
    if not todo:
        return 0
    for name in sets:  # each set is a synthetic actor of its own: the same actor.json
        (out / name / "truth" / split).mkdir(parents=True, exist_ok=True)
        atomic.write_text_atomically(out / name / "truth" / "actor.json", actor_text)
    stage = Stage(performance.actor(seed, identity_names()), int(recipe["resolution"]), int(recipe["samples"]))
    scratch = out / ".render.png"
    started = time.perf_counter()
    for i, (name, number) in enumerate(todo):
        truth = truths[number - 1]
        params = performance.still_frame(seed, split, number - 1, arkit.ARKIT_52)
        if params["plate"] != truth["plate"] or params["expression"] != truth["expression"]:
            raise NeuralFaceError(f"{source}: frame {number} of {split} is not the seed's draw (made by other code?)")
        params["lights"] = truth["lights"] if sets[name] is None else sets[name]
        stage.pose(params)
        rgba = stage.render(scratch)
        image = plates.composite(rgba, plates.make_plate(params["plate"]["kind"], params["plate"]["seed"], stage.resolution))
        atomic.write_text_atomically(out / name / "truth" / split / f"{number:04d}.json",
                                     json.dumps({**truth, "lights": params["lights"]}))
        _save_png(out / name / split / frame_name(number), image)
        elapsed = time.perf_counter() - started
        log(f"{name} {split} {number}/{len(truths)}: {i + 1}/{len(todo)} in {elapsed / 60:.1f} min")
    scratch.unlink(missing_ok=True)
    return len(todo)
