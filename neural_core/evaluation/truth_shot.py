"""A synthetic actor's split as a coefficient-only shot made from its *truth* (issue 14).

The actor model is measured driven by the true rig values. This module writes the same kind
of folder the actor fitter writes (``neural_core/actor/fit_shot.py``: shot folder v1 +
square photo crops, K of the crop), with every value taken from the synthetic actor's
``truth/`` instead of a fit, so ``blender_addon.dataset.actor_build`` renders its passes
exactly as it rendered the training frames.

Per truth frame (``truth/<split>/####.json``, see ``blender_addon/dataset/synthetic_actor.py``):

- ``coefficients``: ``id_00``..``id_27`` from ``truth/actor.json`` then the 52 ARKit values
  (a key the truth does not name is 0), rig profile ``arkit52``;
- ``joints``: ``neck``, ``jaw``, ``eye.L``, ``eye.R`` = the truth pose's Euler XYZ angles as
  3 x 3 rotations (Blender's ``matrix_basis``; the fit's eye convention, ``fit_shot.joints``);
  the ``head`` bone's own rotation is not a joint the build poses: it goes into the head
  placement, as the exporter's ``head_world`` carries it;
- ``head_camera``: the head bone's frame (turned by the neck and head bones) in the camera,
  from ``head_frame_to_camera`` and the bones (``fitting.truth_head_to_camera``);
  ``world_to_camera`` is the fit's fixed ``WORLD_TO_CAMERA`` (camera at the origin looking
  along +Y; the normal pass is in world axes, so the training data's convention matters)
  and ``head_world = inv(world_to_camera) @ head_camera``;
- the crop: ``fit_shot.crop_box`` around the truth's 468 projected face landmarks with the
  actor's ``crop_size`` and ``crop_scale``; ``K = crop.matrix() @ K_photo``;
- ``landmarks``: the truth's 468 projected face landmarks in crop pixels.
"""

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..actor import rotations
from ..actor.fit_shot import PHOTO_FPS, WORLD_TO_CAMERA, crop_box
from ..actor.head_model import NUM_FACE
from ..contract.rig.arkit import ARKIT_52
from ..contract.shot import FrameRecord, Shot, Transform
from .fitting import truth_head_to_camera

JOINTS = ("neck", "jaw", "eye.L", "eye.R")  # the bones the actor build poses (actor_stage.JOINTS)
CROP_DEFAULTS = {"crop_size": 512, "crop_scale": 1.6}  # neural_core/actor/project.py SETTINGS


@dataclass
class TruthShot:
    """What :func:`make_truth_shot` returns: the shot, and per shot frame (frame i + 1) its
    photo, crop box and truth dict."""

    shot: Shot
    photos: list  # Path of each frame's photo
    boxes: list  # fit_shot.CropBox of each frame
    truths: list  # the truth JSON dicts


def crop_settings(actor=None):
    """{"crop_size", "crop_scale"} of an actor folder (its ``actor.json`` settings), else the defaults."""
    settings = dict(CROP_DEFAULTS)
    if actor is not None:
        path = Path(actor) / "actor.json"
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no actor file (pass the actor folder that was trained)")
        stored = json.loads(path.read_text()).get("settings", {})
        settings.update({k: stored[k] for k in CROP_DEFAULTS if stored.get(k) is not None})
    return settings


def load_truth(root, split):
    """(identity {name: value}, [(photo path, truth dict)] in frame order) of a synthetic actor."""
    root = Path(root)
    actor = root / "truth" / "actor.json"
    if not actor.is_file():
        raise FileNotFoundError(f"{actor}: not a synthetic actor (make one with tools/make_synthetic_actor.py)")
    items = []
    for path in sorted((root / "truth" / split).glob("*.json")):
        truth = json.loads(path.read_text())
        items.append((root / truth["image"], truth))
    if not items:
        raise FileNotFoundError(f"{root / 'truth' / split}: no truth frames")
    return json.loads(actor.read_text())["identity"], items


def truth_record(number, model, identity, truth, crop_size, crop_scale):
    """(FrameRecord, CropBox) of one truth frame; ``identity`` [28] in the head model's key order."""
    expression = np.array([float(truth["expression"].get(name, 0.0)) for name in ARKIT_52])
    rotation, translation = truth_head_to_camera(model, truth)
    head_camera = np.eye(4)
    head_camera[:3, :3], head_camera[:3, 3] = rotation, translation
    head_world = np.linalg.inv(WORLD_TO_CAMERA) @ head_camera
    points = np.asarray(truth["landmarks"], dtype=np.float64)[:NUM_FACE]
    box = crop_box(points, crop_size, crop_scale)
    joints = {joint: rotations.euler_xyz(np.asarray(truth["pose"].get(joint, (0.0, 0.0, 0.0)), dtype=np.float64))
              for joint in JOINTS}
    record = FrameRecord(frame=number, coefficients=np.concatenate([np.asarray(identity, dtype=np.float64), expression]),
                         head_world=Transform(head_world[:3, :3], head_world[:3, 3]), head_camera=Transform(rotation, translation),
                         joints=joints, K=box.matrix() @ np.asarray(truth["camera"]["K"], dtype=np.float64),
                         world_to_camera=WORLD_TO_CAMERA.copy(), landmarks=box.to_crop(points))
    return record, box


def make_truth_shot(root, split, model, crop_size=512, crop_scale=1.6, limit=None):
    """The :class:`TruthShot` of ``split`` of the synthetic actor at ``root`` (frames 1..N in
    the truth's order; ``limit``: only the first N); ``model``: the head model."""
    identity, items = load_truth(root, split)
    items = items[:limit] if limit else items
    missing = [name for name in model.identity_names if name not in identity]
    if missing:
        raise ValueError(f"{Path(root) / 'truth' / 'actor.json'}: identity lacks {', '.join(missing[:5])}")
    values = [float(identity[name]) for name in model.identity_names]
    records, boxes = [], []
    for number, (_, truth) in enumerate(items, start=1):
        record, box = truth_record(number, model, values, truth, crop_size, crop_scale)
        records.append(record)
        boxes.append(box)
    shot = Shot(fps=PHOTO_FPS, resolution=(int(crop_size), int(crop_size)), pixel_aspect=1.0, rig_profile="arkit52",
                coefficient_names=list(model.identity_names) + list(ARKIT_52), frames=records, passes={},
                source={"generator": "neural_core.evaluation.truth_shot", "actor": str(Path(root).resolve()), "split": split,
                        "frames": [{"frame": i + 1, "truth": str(p), "crop": [b.x0, b.y0, b.side]}
                                   for i, ((p, _), b) in enumerate(zip(items, boxes))]})
    return TruthShot(shot, [p for p, _ in items], boxes, [t for _, t in items])


def write_truth_shot(folder, truth_shot):
    """Write ``folder/shot/shot.json`` and ``folder/crops/####.png`` (atomically; the same
    truth gives the same bytes, so a rerun's build skips its finished frames). Returns
    (shot folder, crops folder)."""
    from PIL import Image

    from ..actor.fit_shot import write_crop, write_fit_shot

    folder = Path(folder)
    shot_folder, crops = folder / "shot", folder / "crops"
    crops.mkdir(parents=True, exist_ok=True)
    for record, photo, box in zip(truth_shot.shot.frames, truth_shot.photos, truth_shot.boxes):
        with Image.open(photo) as image:
            write_crop(crops / f"{record.frame:04d}.png", np.asarray(image.convert("RGB")), box)
    write_fit_shot(shot_folder, truth_shot)
    return shot_folder, crops
