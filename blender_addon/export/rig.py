"""Per-frame rig state read from the evaluated depsgraph: coefficients, pose, landmarks.

Call :meth:`RigReader.read` after ``scene.frame_set(frame)``; everything is read from
the evaluated copies, so keyframes, drivers (including bone-driven shape keys), NLA
strips and constraints all count.
"""

from dataclasses import dataclass

import numpy as np

from ..core_link import NeuralFaceError, profiles

HEAD_MARK = "neural_face_head"          # custom property on the bundled head object
LANDMARKS_PROP = "neural_face_landmarks"  # 468 vertex indices of the evaluated mesh


def evaluated_vertices(obj_eval):
    """Vertex positions [V, 3] (object space, float32) of the evaluated mesh object
    ``obj_eval`` (``obj.evaluated_get(depsgraph)``): shape keys, modifiers and armature
    deformation applied. The temporary mesh is freed again."""
    mesh = obj_eval.to_mesh()
    try:
        co = np.empty(len(mesh.vertices) * 3, dtype=np.float32)
        mesh.vertices.foreach_get("co", co)
    finally:
        obj_eval.to_mesh_clear()
    return co.reshape(-1, 3)


def find_head(scene, name=None):
    """The head mesh object: ``name`` if given, else the object marked ``neural_face_head``,
    else the only mesh in the scene with shape keys. NeuralFaceError otherwise."""
    if name:
        obj = scene.objects.get(name)
        if obj is None:
            raise NeuralFaceError(f"head object '{name}' is not in scene '{scene.name}'")
    else:
        marked = [o for o in scene.objects if o.get(HEAD_MARK)]
        keyed = [o for o in scene.objects if o.type == "MESH" and _has_keys(o)]
        candidates = marked or keyed
        if len(candidates) != 1:
            found = ", ".join(repr(o.name) for o in candidates) or "none"
            raise NeuralFaceError(
                f"cannot tell which object is the head in scene '{scene.name}' (meshes with "
                f"shape keys: {found}): name the head object in the export settings")
        obj = candidates[0]
    if obj.type != "MESH":
        raise NeuralFaceError(f"head object '{obj.name}' is a {obj.type.lower()}, not a mesh")
    if not _has_keys(obj):
        raise NeuralFaceError(
            f"head object '{obj.name}' has no shape keys (besides a basis): the exporter "
            "reads expression coefficients from shape keys")
    return obj


def _has_keys(obj):
    keys = obj.type == "MESH" and obj.data.shape_keys
    return bool(keys) and len(keys.key_blocks) > 1


def shape_key_names(obj):
    """Shape key names of a mesh object, the reference (basis) key excluded."""
    key = obj.data.shape_keys
    return [kb.name for kb in key.key_blocks if kb != key.reference_key]


def find_armature(obj):
    """The armature deforming ``obj`` (armature modifier, else armature parent) or None."""
    for modifier in obj.modifiers:
        if modifier.type == "ARMATURE" and modifier.object is not None:
            return modifier.object
    parent = obj.parent
    return parent if parent is not None and parent.type == "ARMATURE" else None


def head_parts(head):
    """Meshes that belong to the head: children of the head or of its armature (eyes...)."""
    armature = find_armature(head)
    owners = {head} | ({armature} if armature is not None else set())
    return [o for o in head.users_scene[0].objects
            if o != head and o.type == "MESH" and o.parent in owners] if head.users_scene else []


def _rotation(matrix):
    """Closest rotation [3, 3] to the upper-left 3x3 of ``matrix`` (scale removed)."""
    u, _, vt = np.linalg.svd(np.asarray(matrix, dtype=np.float64)[:3, :3])
    r = u @ vt
    if np.linalg.det(r) < 0:
        u[:, -1] *= -1
        r = u @ vt
    return r


def _mat(matrix):
    return np.array(matrix, dtype=np.float64)  # float64 on 4.5 and 5.0 alike


def bone_delta(pose_bone):
    """Pose of a bone relative to its rest pose, in the bone's own local axes [4, 4].

    Equals ``pose_bone.matrix_basis`` when no constraint acts on the bone. Computed with
    mathutils (numpy's 4x4 inverse costs far more per call than the whole frame budget).
    """
    pose = pose_bone.matrix
    rest = pose_bone.bone.matrix_local
    parent = pose_bone.parent
    if parent is None:
        return _mat(rest.inverted() @ pose)
    rest_rel = parent.bone.matrix_local.inverted() @ rest
    pose_rel = parent.matrix.inverted() @ pose
    return _mat(rest_rel.inverted() @ pose_rel)


@dataclass
class RigFrame:
    """One frame of rig state (shapes and units as in the shot format's FrameRecord)."""

    coefficients: np.ndarray      # [n_coefficients] float64
    head_world: np.ndarray        # [4, 4] head object -> world, scale removed
    joints: dict                  # canonical joint -> [3, 3] rotation relative to rest
    landmark_points: np.ndarray | None  # [468, 3] world positions, or None


class RigReader:
    """Reads one head object with one rig profile, frame after frame.

    ``head``: the original (not evaluated) head mesh object. ``match``: a
    ``profiles.ProfileMatch`` for its shape keys and its armature's bones.
    """

    def __init__(self, head, match):
        self.head = head
        self.match = match
        self.armature = find_armature(head)
        names = [kb.name for kb in head.data.shape_keys.key_blocks]
        self._n_blocks = len(names)
        position = {name: i for i, name in enumerate(names)}
        self._block_index = np.array([position[m.shape_key] for m in match.mappings], dtype=np.int64)
        order = {name: i for i, name in enumerate(match.coefficient_names)}
        self._coef_index = np.array([order[m.coefficient] for m in match.mappings], dtype=np.int64)
        self._scale = np.array([m.scale for m in match.mappings], dtype=np.float64)
        self._values = np.zeros(self._n_blocks, dtype=np.float32)
        self._mute = np.zeros(self._n_blocks, dtype=bool)
        landmarks = head.get(LANDMARKS_PROP)
        self.landmark_indices = np.array(landmarks, dtype=np.int64) if landmarks is not None else None

    def coefficients(self, depsgraph):
        """Coefficient vector [n] float64: evaluated key values x scale; muted keys read 0."""
        key = self.head.data.shape_keys.evaluated_get(depsgraph)
        blocks = key.key_blocks
        blocks.foreach_get("value", self._values)
        blocks.foreach_get("mute", self._mute)
        values = np.where(self._mute, 0.0, self._values.astype(np.float64))
        out = np.zeros(len(self.match.coefficient_names), dtype=np.float64)
        out[self._coef_index] = values[self._block_index] * self._scale
        return out

    def read(self, depsgraph, with_landmarks=True):
        """The rig state of the frame the depsgraph was last evaluated at."""
        head = self.head.evaluated_get(depsgraph)
        object_world = _mat(head.matrix_world)
        joints = {}
        head_world = object_world
        if self.armature is not None:
            arm = self.armature.evaluated_get(depsgraph)
            for joint, bone_name in self.match.joints.items():
                pose_bone = arm.pose.bones.get(bone_name)
                if pose_bone is None:
                    continue
                if joint == "head":
                    world = arm.matrix_world
                    motion = pose_bone.matrix @ pose_bone.bone.matrix_local.inverted()
                    head_world = _mat(world @ motion @ world.inverted() @ head.matrix_world)
                else:
                    joints[joint] = _rotation(bone_delta(pose_bone))
        rigid = np.eye(4)
        rigid[:3, :3] = _rotation(head_world)
        rigid[:3, 3] = head_world[:3, 3]
        points = self._landmarks(head) if with_landmarks else None
        return RigFrame(self.coefficients(depsgraph), rigid, joints, points)

    def _landmarks(self, head_eval):
        if self.landmark_indices is None:
            return None
        co = evaluated_vertices(head_eval).astype(np.float64)
        if self.landmark_indices.max(initial=-1) >= len(co):
            raise NeuralFaceError(
                f"head object '{self.head.name}': landmark vertex index "
                f"{int(self.landmark_indices.max())} is beyond the evaluated mesh "
                f"({len(co)} vertices)")
        world = _mat(head_eval.matrix_world)
        points = co[self.landmark_indices]
        return points @ world[:3, :3].T + world[:3, 3]


def match_rig(head, profile="auto", custom_map=None):
    """A ProfileMatch for the head's shape keys and its armature's bones."""
    armature = find_armature(head)
    bones = [b.name for b in armature.data.bones] if armature is not None else []
    return profiles.match_profile(profile, shape_key_names(head), bones, custom_map)
