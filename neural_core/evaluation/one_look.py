"""The best an actor model with ONE look could score on footage whose light changes
(issue 14; ``tools/one_look_bound.py`` is the command line).

The synthetic actor's held-out photos each have their own light. A model driven by the rig
with one appearance code renders one light for every frame, so even a perfect one is off
by the difference between that light and each photo's. ``blender_addon.dataset.relit_actor``
renders the held-out frames again, each light set on every frame (the ground truth of such
a perfect model); here they are cropped exactly as the evaluation crops the photos and
measured with the evaluation's own figures (:func:`.actor_figures.measure`) against the
photos, on the evaluation's build (its mask, regions and targets):

- ``own``: each frame under its own light, the check that the relit frames reproduce the
  photos (Cycles renders a frame the same way twice: PSNR is limited by nothing but that);
- ``centre`` and ``draw_K``: one light for the whole shot (a perfect model with that look);
- ``draw_mean``: per frame the mean image over the ``draw_K`` sets, the estimate of the
  expected image over the footage's light distribution: the lowest squared error any
  one-look prediction can reach (an upper bound of PSNR; not a picture a model would make).
"""

from pathlib import Path

import numpy as np

AVERAGE = "draw_mean"
OWN = "own"  # blender_addon/dataset/relit_actor.py OWN


def relit_names(relit_root):
    """The light sets rendered under ``relit_root`` (``lights.json``), in its order."""
    import json

    path = Path(relit_root) / "lights.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no relit frames (blender_addon.dataset.relit_actor makes them)")
    return list(json.loads(path.read_text()))


def relit_targets(relit_root, name, split, count, resolution, crop_size, crop_scale):
    """The first ``count`` frames of light set ``name`` cropped by the evaluation's rule
    (``truth_shot``, the actor's crop settings) and resized as the build resizes its
    targets (Lanczos): uint8 [count, R, R, 3]."""
    from PIL import Image

    from ..actor.fit_shot import crop_image
    from ..actor.head_model import load_head_model
    from .truth_shot import make_truth_shot

    truth = make_truth_shot(Path(relit_root) / name, split, load_head_model(), crop_size, crop_scale, limit=count)
    if len(truth.photos) != count:
        raise ValueError(f"{Path(relit_root) / name}: {len(truth.photos)} frames of {split}, the build has {count}")
    images = []
    for photo, box in zip(truth.photos, truth.boxes):
        with Image.open(photo) as image:
            crop = Image.fromarray(crop_image(np.asarray(image.convert("RGB")), box), "RGB")
        if crop.size != (resolution, resolution):
            crop = crop.resize((resolution, resolution), Image.Resampling.LANCZOS)
        images.append(np.asarray(crop, dtype=np.uint8))
    return np.stack(images)


def with_average(sets):
    """``sets`` ({name: uint8 [N, R, R, 3]}) plus ``draw_mean``: the per-pixel mean of the
    ``draw_*`` sets (rounded to uint8); unchanged when there are fewer than two draws."""
    draws = [images for name, images in sets.items() if name.startswith("draw_")]
    if len(draws) < 2:
        return dict(sets)
    mean = np.mean(np.stack(draws).astype(np.float64), axis=0)
    return {**sets, AVERAGE: np.clip(np.round(mean), 0, 255).astype(np.uint8)}


def best_single_light(figures):
    """The name of the one-light set (not the average, not ``own``) with the highest mean PSNR."""
    singles = {name: f["psnr_db"] for name, f in figures.items() if name not in (AVERAGE, OWN)}
    return max(singles, key=singles.get)


def bound_figures(sets, data, analysis=None):
    """{name: the evaluation's figures of that set against ``data``} (:class:`.actor_model.Frames`);
    ``analysis``: face_analysis results of the images named ``<name>_NNNN.png`` and the
    crops ``crop_NNNN.png`` (None: PSNR and skin colour only)."""
    from .actor_figures import measure

    return {name: measure(images, data, analysis, name if analysis is not None else None) for name, images in sets.items()}
