"""Measures the bundled head's landmark model in Blender, for ``neural_core.actor``.

The model gives the 478 MediaPipe face-mesh landmarks (468 face points + 10 iris points)
of the bundled head for any identity / ARKit key values and any pose, and is evaluated
without Blender by ``neural_core/actor/head_model.py``. Everything is *measured* from
Blender's depsgraph-evaluated geometry (shape keys, drivers, Armature modifier, bone
parenting) of a head that ``build.build_head`` builds at the origin (then removes):

- face landmarks (0..467, head-mesh vertices ``obj["neural_face_landmarks"]``): rest
  position with all keys 0, displacement per unit of every identity and ARKit key
  (Blender mixes relative shape keys linearly), and their normalised skin weights on
  the deform bones ``neck``, ``head``, ``jaw`` (linear blend skinning, applied exactly);
- iris landmarks (468..477): points of the eyeball meshes, which hang from the eye bones.
  The eyeball centre and scale follow the identity keys through drivers (both linear in
  the keys: measured per key); gaze is the eye bone's rotation, applied exactly.
  Caveat, Blender 5.0: its driver F-curves snap results in [0, 1e-4) to 0 (see
  ``LEVER``), so there an eye centre can sit up to 0.1 mm per axis off this linear model
  when a location driver's result is that small. The model follows the linear drivers
  the rig means (and Blender 4.x evaluates); both versions export the same file.

Head frame (the frame of the whole model): the head mesh object's local frame, which is
also its armature's (the mesh is parented to the armature with no offset): metres,
origin at the base of the neck, +Z up, the face looks down -Y, +X is the head's own left.

MediaPipe's iris landmarks (see ``IRIS_LANDMARKS``): 468 is the centre of the subject's
*right* iris (the eye whose corners are landmarks 33/133; our ``eye.R``, at -X) and
469..472 its ring; 473 is the left iris centre (``eye.L``, +X) and 474..477 its ring.
Each ring runs +X, +Z, -X, -Z (image right, up, image left, down in an un-mirrored photo
of a face looking at the camera; checked on MediaPipe's own 478-landmark test data,
``mediapipe/tasks/testdata/vision/face_blendshapes_in_landmarks.prototxt``). On our
eyeball the centre is the front pole (the pupil's centre on the surface) and the ring
points are the eyeball vertices at the iris edge (``eyes.IRIS_ANGLE`` from the pole,
``EYE_RADIUS * sin(IRIS_ANGLE)`` = 5.7 mm from the gaze axis) in those four directions.
"""

import bpy
import numpy as np

from ..export.rig import evaluated_vertices
from . import build, eyes, identity

FORMAT = "neural_face.head_landmarks"
VERSION = 1
BONES = ("neck", "head", "jaw", "eye.L", "eye.R")
SKIN_BONES = ("neck", "head", "jaw")  # the deform bones, columns of ``face_weights``
EYE_SIDES = ("L", "R")
NUM_FACE = 468
NUM_LANDMARKS = 478
# Identity keys are measured at +LEVER and -LEVER (the sliders' hard limit). The eye
# drivers are linear in Blender 4.x, but Blender 5.0's ``driver_add`` gives a driver
# F-curve Bezier keyframes at (0, 0) and (1, 1) (4.x: a Generator modifier), and a
# result in [0, 1e-4) then evaluates to exactly 0 (and one within 1e-4 below 1, to 1).
# ``head/build.py`` now clears those keyframes; heads built before still snap, and negative
# results never do, so each eye-driver channel is read from the side where it comes out
# larger (see ``_driver_response``).
LEVER = 10.0


def _iris_vertices():
    """Eyeball vertex indices [5]: front pole, then the iris-edge ring at +X, +Z, -X, -Z."""
    ring = 1 + eyes.RING_ANGLES.index(eyes.IRIS_ANGLE) * eyes.SEGMENTS
    quarter = eyes.SEGMENTS // 4  # ring vertex j sits at azimuth 2 pi j / SEGMENTS from +X
    return np.array([0] + [ring + k * quarter for k in range(4)], dtype=np.int64)


IRIS_VERTICES = _iris_vertices()
IRIS_LANDMARKS = {"R": np.arange(468, 473), "L": np.arange(473, 478)}  # per eye, in IRIS_VERTICES order


def _matrix(m):
    return np.array(m, dtype=np.float64)


def _to_head(head_eval):
    """4x4 world -> head frame of the evaluated head mesh."""
    return np.linalg.inv(_matrix(head_eval.matrix_world))


def evaluated_landmarks(head, depsgraph):
    """The 478 landmarks [478, 3] (head frame, metres) of Blender's evaluated geometry.

    head: ``build.HeadObjects``; depsgraph: an evaluated depsgraph of the head's scene.
    Face points come from the evaluated head mesh, iris points from the evaluated eyeballs.
    """
    head_eval = head.mesh.evaluated_get(depsgraph)
    out = np.empty((NUM_LANDMARKS, 3))
    out[:NUM_FACE] = evaluated_vertices(head_eval)[np.asarray(head.mesh["neural_face_landmarks"])]
    to_head = _to_head(head_eval)
    for eye, side in zip(head.eyes, EYE_SIDES):
        eye_eval = eye.evaluated_get(depsgraph)
        local = np.array([tuple(eye_eval.data.vertices[int(i)].co) for i in IRIS_VERTICES])
        m = to_head @ _matrix(eye_eval.matrix_world)
        out[IRIS_LANDMARKS[side]] = local @ m[:3, :3].T + m[:3, 3]
    return out


def _eye_frames(head, depsgraph):
    """Eyeball centres [2, 3] and scales [2] (head frame; order ``EYE_SIDES``)."""
    to_head = _to_head(head.mesh.evaluated_get(depsgraph))
    centres, scales = [], []
    for eye in head.eyes:
        m = to_head @ _matrix(eye.evaluated_get(depsgraph).matrix_world)
        centres.append(m[:3, 3])
        scales.append(np.cbrt(np.linalg.det(m[:3, :3])))
    return np.array(centres), np.array(scales)


def _skin_weights(obj, vertices):
    """Normalised weights [len(vertices), 3] on ``SKIN_BONES`` (as the Armature modifier)."""
    weights = np.zeros((len(vertices), len(SKIN_BONES)))
    column = {obj.vertex_groups[name].index: k for k, name in enumerate(SKIN_BONES)}
    for row, index in enumerate(vertices):
        for element in obj.data.vertices[int(index)].groups:
            if element.group in column:
                weights[row, column[element.group]] = element.weight
    total = weights.sum(1, keepdims=True)
    if np.any(total <= 1e-4):
        raise RuntimeError("a face landmark has no weight on the deform bones")
    return weights / total


def _bone_rest(armature):
    """Bone heads [5, 3], rest rotations [5, 3, 3] (columns: bone axes), parents [5]."""
    bones = armature.data.bones
    heads = np.array([tuple(bones[b].head_local) for b in BONES])
    rest = np.array([_matrix(bones[b].matrix_local.to_3x3()) for b in BONES])
    parents = np.array([BONES.index(bones[b].parent.name) if bones[b].parent else -1
                        for b in BONES], dtype=np.int64)
    return heads, rest, parents


def _check_rest_pose(head):
    """The measurement needs the rig at rest: armature at the origin, no bone turned."""
    arm = head.armature
    placed = arm.parent is not None or np.abs(_matrix(arm.matrix_basis) - np.eye(4)).max() > 0
    posed = [p.name for p in arm.pose.bones if p.rotation_mode != "XYZ" or any(p.rotation_euler)
             or (not p.name.startswith("eye.")  # eye location and scale follow drivers
                 and (any(p.location) or tuple(p.scale) != (1.0, 1.0, 1.0)))]
    if placed or posed:
        raise RuntimeError(f"landmark model: the head must be measured at rest, at the origin "
                           f"(armature moved: {placed}, bones posed: {posed})")


def measure(head, depsgraph):
    """The model's arrays (see ``neural_core.actor.head_model``) for an unposed head.

    head: ``build.HeadObjects`` at the world origin, every key 0, bones at rest.
    Sets each key in turn (ARKit keys to 1, identity keys to +-``LEVER``) and back to
    0: 109 depsgraph evaluations.
    """
    blocks = head.mesh.data.shape_keys.key_blocks
    id_names = identity.identity_names()
    ex_names = tuple(build.ARKIT_52)
    if any(blocks[n].value != 0.0 for n in id_names + ex_names):
        raise RuntimeError("landmark model: every shape key must be 0 to measure")
    _check_rest_pose(head)

    def state():
        depsgraph.update()
        return evaluated_landmarks(head, depsgraph)[:NUM_FACE], *_eye_frames(head, depsgraph)

    face0, centre0, scale0 = state()
    if np.abs(scale0 - 1.0).max() > 1e-6:
        raise RuntimeError(f"landmark model: eyeball scale {scale0} at rest, expected 1")
    heads, rest, parents = _bone_rest(head.armature)
    eye_rest = rest[[BONES.index(f"eye.{side}") for side in EYE_SIDES]]  # [2, 3, 3]
    face, centre, scale = {}, {}, {}
    for name in ex_names:
        f, c, s = _with_value(blocks[name], 1.0, state)
        face[name] = f - face0
        if np.abs(c - centre0).max() > 1e-7 or np.abs(s - scale0).max() > 1e-7:
            raise RuntimeError(f"landmark model: expression key {name} moves the eyeballs")
    for name in id_names:
        f_up, c_up, s_up = _with_value(blocks[name], LEVER, state)
        f_down, c_down, s_down = _with_value(blocks[name], -LEVER, state)
        face[name] = (f_up - f_down) / (2 * LEVER)
        scale[name] = (s_up - s_down) / (2 * LEVER)
        centre[name] = _driver_response(c_up - centre0, c_down - centre0, eye_rest) / LEVER
    depsgraph.update()
    eye_scale = np.array([scale[n] for n in id_names])  # [28, 2]
    if np.abs(eye_scale[:, 0] - eye_scale[:, 1]).max() > 1e-6:
        raise RuntimeError("landmark model: the two eyeballs scale differently")

    eye_local = np.array([tuple(head.eyes[0].data.vertices[int(i)].co) for i in IRIS_VERTICES])
    landmarks = np.asarray(head.mesh["neural_face_landmarks"], dtype=np.int64)
    f32 = np.float32
    return {
        "format": np.array(FORMAT),
        "version": np.array(VERSION, dtype=np.int64),
        "blender_version": np.array(bpy.app.version_string),
        "identity_names": np.array(id_names),
        "expression_names": np.array(ex_names),
        "bone_names": np.array(BONES),
        "bone_parents": parents,
        "bone_heads": heads.astype(f32),
        "bone_rest": rest.astype(f32),
        "skin_bones": np.array(SKIN_BONES),
        "face_vertices": landmarks,
        "face_mean": face0.astype(f32),
        "face_identity": _quantise(np.array([face[n] for n in id_names])),
        "face_expression": _quantise(np.array([face[n] for n in ex_names])),
        "face_weights": _skin_weights(head.mesh, landmarks).astype(f32),
        "eye_sides": np.array(EYE_SIDES),
        "eye_centre_mean": centre0.astype(f32),
        "eye_centre_identity": _quantise(np.array([centre[n] for n in id_names])),
        "eye_scale_identity": eye_scale[:, 0].astype(f32),
        "eye_points": eye_local.astype(f32),
        "eye_vertices": IRIS_VERTICES,
        "iris_landmarks": np.array([IRIS_LANDMARKS[s] for s in EYE_SIDES], dtype=np.int64),
    }


def _with_value(block, value, state):
    """``state()`` with one shape key at ``value`` (its slider range widened meanwhile)."""
    limits = block.slider_min, block.slider_max
    block.slider_min, block.slider_max = min(limits[0], value), max(limits[1], value)
    block.value = value
    try:
        return state()
    finally:
        block.value = 0.0
        block.slider_min, block.slider_max = limits


def _driver_response(up, down, eye_rest):
    """Eye-centre shift [2, 3] (head frame) at key +LEVER, from the shifts at +-LEVER.

    Per eye-bone location channel (the drivers' outputs, in the bone's rest axes) the
    larger of the two readings wins: a small positive driver result reads 0 on Blender
    5.0 (see ``LEVER``), its negative twin never does.
    """
    up_local = np.einsum("eji,ej->ei", eye_rest, up)  # rest^T @ shift
    down_local = np.einsum("eji,ej->ei", eye_rest, down)
    local = np.where(np.abs(up_local) >= np.abs(down_local), up_local, -down_local)
    return np.einsum("eij,ej->ei", eye_rest, local)


def _quantise(values, step=1e-8):
    """float32 copy on a 0.01 micrometre grid: drops float32 noise (compresses better)."""
    return (np.round(np.asarray(values) / step) * step).astype(np.float32)


def build_and_measure(scene=None):
    """Build the head at the origin of ``scene`` (default: the context scene; the
    exporter resets Blender to an empty factory scene first), measure it, then remove
    every data-block the build made. Returns the model's arrays (``measure``); about
    0.3 s on a 2-core CPU.
    """
    scene = scene or bpy.context.scene
    kinds = (bpy.data.objects, bpy.data.meshes, bpy.data.armatures, bpy.data.materials)
    before = [set(kind) for kind in kinds]  # shape keys go with their mesh
    try:
        head = build.build_head(scene=scene)
        return measure(head, scene.view_layers[0].depsgraph)
    finally:
        for kind, old in zip(kinds, before):
            for block in set(kind) - old:
                kind.remove(block)


def differences(fresh, stored, atol=1e-6):
    """Fields [str] where two model dicts disagree (floats beyond ``atol`` metres).

    ``blender_version`` is provenance, not data: it is not compared.
    """
    out = [f"{name}: missing" for name in sorted(set(fresh) ^ set(stored))]
    for name in sorted(set(fresh) & set(stored) - {"blender_version"}):
        a, b = np.asarray(fresh[name]), np.asarray(stored[name])
        if a.shape != b.shape:
            out.append(f"{name}: shape {a.shape} != {b.shape}")
        elif a.dtype.kind == "f" or b.dtype.kind == "f":
            worst = float(np.abs(a.astype(np.float64) - b.astype(np.float64)).max(initial=0.0))
            if not worst <= atol:
                out.append(f"{name}: differs by up to {worst:.3g}")
        elif not np.array_equal(a, b):
            out.append(f"{name}: differs")
    return out
