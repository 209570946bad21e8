"""An actor fit as a shot folder v1 plus aligned photo crops (issue 14: the fit's output).

Every converged frame of an :class:`~.fit.ActorFit` becomes one shot frame (numbered
1..N in input order; frames without a face or whose fit did not converge are left out and
listed in ``FitShot.left_out``). The shot is coefficient-only (``passes`` is ``{}``): the
Blender build step renders the passes later through the same cameras.

Per frame:

- ``coefficients``: the identity keys ``id_00``..``id_27`` (the actor's one identity)
  then the 52 ARKit values (``eyeLook*`` already follow the gaze), rig profile
  ``arkit52``: the names and order the exporter writes for the bundled head and the
  default model reads.
- ``joints``: ``eye.L`` / ``eye.R`` = Euler XYZ (gaze X, 0, gaze Z) of the eye bones,
  ``jaw`` and ``neck`` at rest, as 3 x 3 rotations relative to rest in bone-local axes
  (the exporter's convention: Blender's ``matrix_basis``).
- The camera sits at the world origin looking along world +Y (OpenCV axes: +X = world
  +X, +Y down = world -Z, +Z forward = world +Y), so ``world_to_camera`` is the same
  fixed matrix for every frame; ``head_camera`` is the fitted rigid pose (head frame ->
  camera) and ``head_world = inv(world_to_camera) @ head_camera``.
- ``K``: the photo's fitted intrinsics mapped into the crop: the crop is the square
  ``[x0, x0 + side] x [y0, y0 + side]`` of the photo (whole pixels, ``side =
  crop_scale x`` the longer side of the fitted face landmarks' box, centred on that box),
  resized to ``crop_size`` pixels, so ``K_crop = S @ K`` with
  ``S = [[s, 0, -s x0], [0, s, -s y0], [0, 0, 1]]``, ``s = crop_size / side``.
- ``landmarks``: the fitted head's 468 face vertices projected with ``K_crop`` (crop pixels).

Crops reaching past the photo's edge are filled with black there.
"""

from dataclasses import dataclass, field

import numpy as np

from ..contract.atomic import write_atomically
from ..contract.rig.arkit import ARKIT_52
from ..contract.shot import FrameRecord, Shot, Transform, write_shot
from . import rotations
from .head_model import NUM_FACE
from .linear_head import gaze_pose
from .problems import FRONTAL

# world -> camera rotation: the camera at the origin looking along world +Y (see the module docstring)
WORLD_TO_CAMERA = np.eye(4)
WORLD_TO_CAMERA[:3, :3] = FRONTAL
PHOTO_FPS = 24.0  # nominal frame rate of a shot made from photos


@dataclass(frozen=True)
class CropBox:
    """A square crop of a photo: ``[x0, x0 + side] x [y0, y0 + side]`` (whole pixels,
    may reach past the photo), resized to ``size`` x ``size`` pixels."""

    x0: int
    y0: int
    side: int
    size: int

    @property
    def scale(self):
        """Crop pixels per photo pixel."""
        return self.size / self.side

    def matrix(self):
        """[3, 3] photo pixels -> crop pixels (homogeneous)."""
        s = self.scale
        return np.array([[s, 0.0, -s * self.x0], [0.0, s, -s * self.y0], [0.0, 0.0, 1.0]])

    def to_crop(self, points):
        """[..., 2] photo pixels -> crop pixels."""
        return (np.asarray(points, dtype=np.float64) - (self.x0, self.y0)) * self.scale


@dataclass
class FitShot:
    """What :func:`make_fit_shot` returns. ``inputs[i]`` and ``crops[i]`` belong to shot
    frame ``i + 1``; ``left_out``: (input frame, reason) of the frames not in the shot."""

    shot: Shot
    inputs: list
    crops: list
    left_out: list = field(default_factory=list)


def projected_vertices(model, identity, frame_fit):
    """[478, 2] the fitted head's landmark vertices (face + iris) in the photo's pixels."""
    pose = {bone: angles[0] for bone, angles in gaze_pose(np.asarray(frame_fit.gaze)[None]).items()}
    local = model.landmarks(identity, frame_fit.expression, pose)
    camera = local @ frame_fit.rotation_matrix().T + frame_fit.translation
    return (camera @ frame_fit.intrinsics().T)[:, :2] / camera[:, 2:3]


def crop_box(points, size=512, scale=1.6):
    """The :class:`CropBox` around ``points`` [N, 2] (photo pixels): centred on their box,
    ``scale`` times its longer side."""
    low, high = np.min(points, axis=0), np.max(points, axis=0)
    side = max(int(round(scale * float(np.max(high - low)))), 8)
    centre = (low + high) / 2.0
    x0, y0 = (int(np.floor(c - side / 2.0 + 0.5)) for c in centre)
    return CropBox(x0, y0, side, int(size))


def joints(gaze):
    """{joint: [3, 3]} of one frame's gaze [4] (eye.L X, Z, eye.R X, Z radians)."""
    gaze = np.asarray(gaze, dtype=np.float64)
    return {"eye.L": rotations.euler_xyz([gaze[0], 0.0, gaze[1]]),
            "eye.R": rotations.euler_xyz([gaze[2], 0.0, gaze[3]]),
            "jaw": np.eye(3), "neck": np.eye(3)}


def frame_record(number, model, identity, frame_fit, box):
    """The shot's :class:`FrameRecord` of one fitted frame seen through ``box``."""
    rotation = frame_fit.rotation_matrix()
    head_camera = np.eye(4)
    head_camera[:3, :3], head_camera[:3, 3] = rotation, frame_fit.translation
    head_world = np.linalg.inv(WORLD_TO_CAMERA) @ head_camera
    points = box.to_crop(projected_vertices(model, identity, frame_fit)[:NUM_FACE])
    return FrameRecord(
        frame=number,
        coefficients=np.concatenate([np.asarray(identity, dtype=np.float64), np.asarray(frame_fit.expression, dtype=np.float64)]),
        head_world=Transform(head_world[:3, :3], head_world[:3, 3]),
        head_camera=Transform(rotation, np.asarray(frame_fit.translation, dtype=np.float64)),
        joints=joints(frame_fit.gaze), K=box.matrix() @ frame_fit.intrinsics(), world_to_camera=WORLD_TO_CAMERA.copy(),
        landmarks=points)


def make_fit_shot(fit, model, *, crop_size=512, crop_scale=1.6, fps=PHOTO_FPS, source=None, labels=None):
    """The :class:`FitShot` of ``fit`` (an :class:`~.fit.ActorFit`).

    ``source``: free-form provenance for the shot (per-frame entries are added under
    ``source["frames"]``); ``labels``: per input frame a dict naming it (file, index), copied
    into those entries.
    """
    if tuple(model.identity_names) != tuple(fit.identity_names or model.identity_names):
        raise ValueError("the fit's identity keys differ from the head model's")
    if tuple(model.expression_names) != tuple(ARKIT_52):
        raise ValueError("the head model's expression keys are not the 52 ARKit keys in ARKit order")
    labels = labels or [{} for _ in fit.frames]
    records, inputs, crops, left_out, provenance = [], [], [], [], []
    for index, frame_fit in enumerate(fit.frames):
        if frame_fit is None:
            left_out.append((index, "no usable face"))
            continue
        if not frame_fit.converged:
            left_out.append((index, f"fit did not converge (median residual {frame_fit.residual:.2f}% IOD)"))
            continue
        box = crop_box(projected_vertices(model, fit.identity, frame_fit)[:NUM_FACE], crop_size, crop_scale)
        number = len(records) + 1
        records.append(frame_record(number, model, fit.identity, frame_fit, box))
        inputs.append(index)
        crops.append(box)
        provenance.append({"frame": number, "input": index, **labels[index], "residual": round(float(frame_fit.residual), 4),
                           "crop": [box.x0, box.y0, box.side]})
    shot = Shot(fps=float(fps), resolution=(int(crop_size), int(crop_size)), pixel_aspect=1.0, rig_profile="arkit52",
                coefficient_names=list(model.identity_names) + list(ARKIT_52), frames=records, passes={},
                source={**(source or {}), "frames": provenance})
    return FitShot(shot, inputs, crops, left_out)


def crop_image(image, box):
    """RGB uint8 [H, W, 3] -> the crop [size, size, 3] (Lanczos; black past the photo's edge)."""
    from PIL import Image

    picture = Image.fromarray(np.ascontiguousarray(image), "RGB")
    region = picture.crop((box.x0, box.y0, box.x0 + box.side, box.y0 + box.side))  # zero outside the photo
    if box.side != box.size:
        region = region.resize((box.size, box.size), Image.LANCZOS)
    return np.asarray(region, dtype=np.uint8)


def write_crop(path, image, box):
    """Write the crop of ``image`` as an 8-bit RGB PNG, atomically."""
    from PIL import Image

    crop = Image.fromarray(crop_image(image, box), "RGB")

    def write(temporary):
        with open(temporary, "wb") as handle:
            crop.save(handle, format="PNG")

    return write_atomically(path, write)


def write_fit_shot(folder, fit_shot):
    """Validate and write ``folder/shot.json`` (the contract's writer)."""
    return write_shot(folder, fit_shot.shot)
