"""The bundled head's 478 MediaPipe landmarks as a function of its keys and pose (numpy).

The data (``data/head_model.npz``, see ``data/README.md``) is measured in Blender from
the bundled head by ``blender_addon/head/landmark_model.py`` (``tools/export_head_model.py``
writes it); evaluating it here needs no Blender and reproduces Blender's evaluated
landmark positions to float precision (``tests/blender/test_head_model.py``).

Frames and units: metres. The *head frame* is the head mesh object's local frame (its
armature's): origin at the base of the neck, +Z up, the face looks down -Y, +X is the
head's own left. ``landmarks`` returns ``R @ p + t`` for head-frame points ``p``, with
``R`` = ``rotations.axis_angle(rotation)`` and ``t`` = ``translation`` (zero: head frame).

The model, per frame (k: identity [I] and expression [E] key values, any real numbers;
Blender's sliders allow identity -1..1 and expression 0..1):

- face landmarks 0..467: ``p = mean + sum_k k_i B_i`` (rest positions), then linear blend
  skinning with per-landmark weights on the bones ``neck``, ``head``, ``jaw``;
- iris landmarks 468..477 (468: centre of the subject's right iris, our ``eye.R`` at -X,
  469..472 its ring; 473: left centre, ``eye.L``, 474..477 its ring; each ring runs
  +X, +Z, -X, -Z in the head frame): points ``q`` of an eyeball,
  ``centre(k) + scale(k) * Rrest Euler(eye) Rrest^T q`` (centre and scale linear in the
  identity keys), carried by the eye bone's parent (``head``).

How the head is rigged (what the model copies): every ARKit key is a plain shape key,
``jawOpen`` included (it swings the jaw region by 0.35 rad in the shape itself; no driver
turns the jaw bone), and ``eyeLook*`` only move the lids: the jaw bone and the eye bones
are extra pose on top. The eye bones' location and scale follow the identity keys
through drivers (the eyeball moves and grows with the socket).

Pose: Euler XYZ angles (radians) of the pose bones ``neck``, ``head``, ``jaw``,
``eye.L``, ``eye.R`` about their own rest axes, exactly Blender's ``rotation_euler`` of
those bones. Conventions (checked in ``tests/core/test_head_model.py``): jaw +X opens
the mouth; head +X nods the face down, head +Y turns it towards the head's left (+X);
eye +X looks up, eye +Z looks towards the head's left (+X).
"""

from pathlib import Path

import numpy as np

from ..contract.errors import CheckpointError
from ..contract.rig.arkit import ARKIT_52
from . import rotations

DEFAULT_PATH = Path(__file__).resolve().parent / "data" / "head_model.npz"
FORMAT = "neural_face.head_landmarks"
VERSION = 1
NUM_LANDMARKS = 478
NUM_FACE = 468
BONES = ("neck", "head", "jaw", "eye.L", "eye.R")
SKIN_BONES = ("neck", "head", "jaw")
EYE_SIDES = ("L", "R")
IRIS_LANDMARKS = ((473, 474, 475, 476, 477), (468, 469, 470, 471, 472))  # eye.L, eye.R

# field -> (dtype kind, shape); "I" / "E" are the identity / expression key counts
FIELDS = {
    "format": ("U", ()),
    "version": ("i", ()),
    "blender_version": ("U", ()),
    "identity_names": ("U", ("I",)),
    "expression_names": ("U", ("E",)),
    "bone_names": ("U", (5,)),
    "bone_parents": ("i", (5,)),
    "bone_heads": ("f", (5, 3)),
    "bone_rest": ("f", (5, 3, 3)),
    "skin_bones": ("U", (3,)),
    "face_vertices": ("i", (NUM_FACE,)),
    "face_mean": ("f", (NUM_FACE, 3)),
    "face_identity": ("f", ("I", NUM_FACE, 3)),
    "face_expression": ("f", ("E", NUM_FACE, 3)),
    "face_weights": ("f", (NUM_FACE, 3)),
    "eye_sides": ("U", (2,)),
    "eye_centre_mean": ("f", (2, 3)),
    "eye_centre_identity": ("f", ("I", 2, 3)),
    "eye_scale_identity": ("f", ("I",)),
    "eye_points": ("f", (5, 3)),
    "eye_vertices": ("i", (5,)),
    "iris_landmarks": ("i", (2, 5)),
}


class HeadModelError(CheckpointError):
    """A head model (or landmark calibration) file is missing, unreadable or wrong; names
    the file and field. ``kind`` starts the message ("head model", "landmark calibration")."""

    def __init__(self, message, *, file, field=None, kind="head model"):
        self.file, self.field, self.reason = str(file), field, message
        where = self.file + (f": field '{field}'" if field else "")
        super().__init__(f"{kind} {where}: {message}")


def read_npz(path, kind="head model"):
    """{name: array} of an .npz file, never unpickling (``allow_pickle=False``); a missing
    or unreadable file raises :class:`HeadModelError` naming it."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            return {name: archive[name] for name in archive.files}
    except FileNotFoundError:
        raise HeadModelError("no such file", file=path, kind=kind) from None
    except Exception as error:  # zip, npy header or pickle refusal: all "not readable"
        raise HeadModelError(f"not a readable .npz file ({error})", file=path, kind=kind) from None


def load_head_model(path=None):
    """Read and validate a head model file (default: the bundled ``DEFAULT_PATH``).

    Never runs code from the file (``allow_pickle=False``). Raises ``HeadModelError``.
    """
    path = Path(path) if path is not None else DEFAULT_PATH
    return HeadModel(_validated(read_npz(path), path), path)


def _validated(arrays, path):
    def fail(field, message):
        raise HeadModelError(message, file=path, field=field)

    if "format" not in arrays or arrays["format"].shape != () or str(arrays["format"]) != FORMAT:
        fail("format", f"missing or not '{FORMAT}': not a Neural Face head model")
    if "version" not in arrays or arrays["version"].dtype.kind not in "iu" or arrays["version"].shape != ():
        fail("version", "missing or not an integer")
    if int(arrays["version"]) != VERSION:
        fail("version", f"is {int(arrays['version'])}; this Neural Face reads version {VERSION}")
    dims = {}
    for field, (kind, shape) in FIELDS.items():
        if field not in arrays:
            fail(field, "missing")
        value = arrays[field]
        if value.dtype.kind != kind and not (kind == "i" and value.dtype.kind == "u"):
            fail(field, f"has dtype {value.dtype}, expected kind '{kind}'")
        expected = tuple(dims.setdefault(d, value.shape[i]) if isinstance(d, str) and i < value.ndim
                         else d for i, d in enumerate(shape))
        if value.shape != expected:
            fail(field, f"has shape {value.shape}, expected {expected}")
        if kind == "f" and not np.all(np.isfinite(value)):
            fail(field, "has values that are not finite")
    names = {f: tuple(str(s) for s in arrays[f]) for f in
             ("identity_names", "expression_names", "bone_names", "skin_bones", "eye_sides")}
    if len(set(names["identity_names"])) != len(names["identity_names"]):
        fail("identity_names", "has duplicates")
    if names["expression_names"] != tuple(ARKIT_52):
        fail("expression_names", "are not the 52 ARKit names in ARKit order")
    for field, expected in (("bone_names", BONES), ("skin_bones", SKIN_BONES), ("eye_sides", EYE_SIDES)):
        if names[field] != expected:
            fail(field, f"is {names[field]}, expected {expected}")
    if arrays["iris_landmarks"].tolist() != [list(r) for r in IRIS_LANDMARKS]:
        fail("iris_landmarks", f"is not the MediaPipe iris order {IRIS_LANDMARKS}")
    parents = arrays["bone_parents"]
    if any(not -1 <= int(p) < i for i, p in enumerate(parents)) or parents[3] < 0 or parents[4] < 0:
        fail("bone_parents", "must list each parent before its child (root: -1), eyes parented")
    rest = arrays["bone_rest"].astype(np.float64)
    if np.abs(rest @ np.swapaxes(rest, 1, 2) - np.eye(3)).max() > 1e-4:
        fail("bone_rest", "are not rotation matrices")
    weights = arrays["face_weights"]
    if weights.min() < 0 or np.abs(weights.sum(1) - 1).max() > 1e-4:
        fail("face_weights", "must be non-negative and sum to 1 per landmark")
    return arrays


class HeadModel:
    """A validated head model; see the module docstring for what it computes.

    identity_names [I], expression_names [E] (ARKit-52), bone_names (``BONES``): the key
    and bone names of the bundled head, in the order the arrays take them.
    """

    def __init__(self, arrays, path=None):
        self.path = path
        self.format_version = int(arrays["version"])
        self.blender_version = str(arrays["blender_version"])
        self.identity_names = tuple(str(s) for s in arrays["identity_names"])
        self.expression_names = tuple(str(s) for s in arrays["expression_names"])
        self.bone_names = BONES
        f64 = {k: v.astype(np.float64) for k, v in arrays.items() if v.dtype.kind == "f"}
        self.bone_parents = tuple(int(p) for p in arrays["bone_parents"])
        self.bone_heads, self.bone_rest = f64["bone_heads"], f64["bone_rest"]
        self.face_mean = f64["face_mean"]
        # renormalised in float64: the placement folds into the bones only if they sum to 1
        self.face_weights = f64["face_weights"] / f64["face_weights"].sum(1, keepdims=True)
        self.face_identity, self.face_expression = f64["face_identity"], f64["face_expression"]
        self.eye_centre_mean = f64["eye_centre_mean"]
        self.eye_centre_identity = f64["eye_centre_identity"]
        self.eye_scale_identity = f64["eye_scale_identity"]
        self.eye_points = f64["eye_points"]
        self.iris_landmarks = np.asarray(arrays["iris_landmarks"], dtype=np.int64)
        # bases as [468, 3, K] for batched matrix products in the Jacobians
        self._identity_t = np.ascontiguousarray(self.face_identity.transpose(1, 2, 0))
        self._expression_t = np.ascontiguousarray(self.face_expression.transpose(1, 2, 0))

    @property
    def num_identity(self):
        return len(self.identity_names)

    @property
    def num_expression(self):
        return len(self.expression_names)

    def landmarks(self, identity=None, expression=None, pose=None, rotation=None, translation=None):
        """Landmark positions [478, 3] (or [F, 478, 3] if any argument has a frame axis).

        identity [I] or [F, I]; expression [E] or [F, E] (key values; None: all 0).
        pose: Euler XYZ radians per bone, [5, 3] or [F, 5, 3] in ``BONES`` order, or a
        dict {bone name: [3] or [F, 3]} (missing bones at rest); None: rest pose.
        rotation: rotation vector [3] or [F, 3] (radians); translation [3] or [F, 3],
        metres. Both None: the head frame.
        """
        return self._evaluate(identity, expression, pose, rotation, translation, False)[0]

    def landmarks_and_jacobian(self, identity=None, expression=None, pose=None,
                               rotation=None, translation=None):
        """(landmarks, d landmarks / d identity, d landmarks / d expression).

        Shapes [F, 478, 3], [F, 478, 3, I], [F, 478, 3, E] (no F axis for unbatched
        arguments). Exact: landmarks are affine in the keys for a fixed pose. The
        Jacobian w.r.t. ``translation`` is the identity matrix for every landmark.
        Memory: about 0.9 MB per frame for both (float64); about 1 ms per frame.
        """
        return self._evaluate(identity, expression, pose, rotation, translation, True)

    # -- evaluation ------------------------------------------------------------------
    def _inputs(self, identity, expression, pose, rotation, translation):
        """{name: [F, ...] float64 array}, and whether any argument had a frame axis."""
        if isinstance(pose, dict):
            unknown = set(pose) - set(BONES)
            if unknown:
                raise ValueError(f"pose: unknown bones {sorted(unknown)}; expected some of {BONES}")
            values = {name: np.asarray(v, dtype=np.float64) for name, v in pose.items()}
            lead = np.broadcast_shapes(*[v.shape[:-1] for v in values.values()]) if values else ()
            pose = np.zeros(lead + (len(BONES), 3))
            for name, value in values.items():
                pose[..., BONES.index(name), :] = value
        given = [("identity", identity, (self.num_identity,)),
                 ("expression", expression, (self.num_expression,)),
                 ("pose", pose, (len(BONES), 3)), ("rotation", rotation, (3,)),
                 ("translation", translation, (3,))]
        arrays, frames = {}, set()
        for name, value, tail in given:
            value = np.zeros(tail) if value is None else np.asarray(value, dtype=np.float64)
            if value.shape[value.ndim - len(tail):] != tail or value.ndim > len(tail) + 1:
                raise ValueError(f"{name}: shape {value.shape}, expected {tail} or (F,) + {tail}")
            if value.ndim > len(tail):
                frames.add(value.shape[0])
            arrays[name] = value
        if len(frames) > 1:
            raise ValueError(f"arguments have different frame counts {sorted(frames)}")
        count = next(iter(frames), 1)
        for name, _, tail in given:
            arrays[name] = np.broadcast_to(arrays[name], (count,) + tail)
        return arrays, bool(frames)

    def bone_transforms(self, pose):
        """Skinning transforms (R [F, 5, 3, 3], t [F, 5, 3]): rest -> posed, head frame.

        Bone b maps a rest point p to R_b p + t_b; a child's transform is its parent's
        composed with its own rotation about its head, in its rest axes (Blender's pose).
        """
        count = pose.shape[0]
        local = self.bone_rest @ rotations.euler_xyz(pose) @ np.swapaxes(self.bone_rest, -1, -2)
        shift = self.bone_heads - np.einsum("fbij,bj->fbi", local, self.bone_heads)
        rot, trans = np.empty((count, len(BONES), 3, 3)), np.empty((count, len(BONES), 3))
        for b, parent in enumerate(self.bone_parents):
            if parent < 0:
                rot[:, b], trans[:, b] = local[:, b], shift[:, b]
            else:
                rot[:, b] = rot[:, parent] @ local[:, b]
                trans[:, b] = np.einsum("fij,fj->fi", rot[:, parent], shift[:, b]) + trans[:, parent]
        return rot, trans

    def _evaluate(self, identity, expression, pose, rotation, translation, jacobian):
        a, batched = self._inputs(identity, expression, pose, rotation, translation)
        ident, expr = a["identity"], a["expression"]
        count = ident.shape[0]
        rot, trans = self.bone_transforms(a["pose"])
        # the head's rigid placement, folded into every bone's transform (all affine)
        turn = rotations.axis_angle(a["rotation"])[:, None]  # [F, 1, 3, 3]
        rot = turn @ rot
        trans = (turn @ trans[..., None])[..., 0] + a["translation"][:, None]
        skin = len(SKIN_BONES)
        out = np.empty((count, NUM_LANDMARKS, 3))
        j_id = np.zeros((count, NUM_LANDMARKS, 3, self.num_identity)) if jacobian else None
        j_ex = np.zeros((count, NUM_LANDMARKS, 3, self.num_expression)) if jacobian else None

        # face: shape keys, then linear blend skinning
        rest = (self.face_mean[None]
                + (ident @ self.face_identity.reshape(self.num_identity, -1)).reshape(count, NUM_FACE, 3)
                + (expr @ self.face_expression.reshape(self.num_expression, -1)).reshape(count, NUM_FACE, 3))
        blend_r = np.einsum("vs,fsij->fvij", self.face_weights, rot[:, :skin])
        blend_t = np.einsum("vs,fsi->fvi", self.face_weights, trans[:, :skin])
        out[:, :NUM_FACE] = (blend_r @ rest[..., None])[..., 0] + blend_t
        if jacobian:
            j_id[:, :NUM_FACE] = blend_r @ self._identity_t
            j_ex[:, :NUM_FACE] = blend_r @ self._expression_t

        # eyes: centre and scale follow the identity keys; gaze turns about the centre
        for e, side in enumerate(EYE_SIDES):
            bone = BONES.index(f"eye.{side}")
            carrier = self.bone_parents[bone]
            rest_rot = self.bone_rest[bone]
            gaze = rest_rot @ rotations.euler_xyz(a["pose"][:, bone]) @ rest_rot.T  # [F, 3, 3]
            turned = np.einsum("fij,pj->fpi", gaze, self.eye_points)  # [F, 5, 3]
            centre = self.eye_centre_mean[e] + ident @ self.eye_centre_identity[:, e]
            scale = 1.0 + ident @ self.eye_scale_identity
            points = centre[:, None] + scale[:, None, None] * turned
            rows = self.iris_landmarks[e]
            out[:, rows] = np.einsum("fij,fpj->fpi", rot[:, carrier], points) + trans[:, None, carrier]
            if jacobian:
                d = (self.eye_centre_identity[:, e].T[None, None]
                     + turned[..., None] * self.eye_scale_identity)  # [F, 5, 3, I]
                j_id[:, rows] = rot[:, None, carrier] @ d

        if not batched:
            out = out[0]
            j_id, j_ex = (None, None) if not jacobian else (j_id[0], j_ex[0])
        return out, j_id, j_ex

