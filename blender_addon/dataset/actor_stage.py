"""The bundled head posed as a fitted frame says, seen through the fitted camera (issue 14.2).

One :class:`ActorStage` per build: an empty scene with the bundled head (``head.build``)
and a camera. :meth:`ActorStage.pose` sets one frame of a shot record: the head's
identity and ARKit keys from the coefficients, the ``neck``/``jaw``/``eye.L``/``eye.R``
bones from the joints, the head by ``head_world``, the camera by ``world_to_camera`` and
its lens, sensor fit and shift by ``K``, so the head sits in the image exactly where the
fit put it. :meth:`ActorStage.read` reads the posed frame back with the exporter's own
code (``export.exporter.read_frame``), which the build compares with what it asked for.

Conventions are the shot format's (docs/shot-format.md): metres, Blender world (+Z up),
OpenCV camera axes, pixels with (0, 0) at the top-left corner of the top-left pixel.
"""

import bpy
import numpy as np

from ..core_link import NeuralFaceError
from ..core_link import shot as shot_format
from ..export import camera as camera_model
from ..export import exporter, rig

JOINTS = ("neck", "jaw", "eye.L", "eye.R")  # the bones a fit drives (the head bone stays at rest)
SENSOR_WIDTH_MM = 36.0  # any width works: the lens is derived from it and K
CLIP_START, CLIP_END = 0.01, 1000.0  # metres


def camera_settings(K, width, height):
    """(lens mm, shift_x, shift_y) of a HORIZONTAL-fit camera with a ``SENSOR_WIDTH_MM``
    sensor whose intrinsics at ``width`` x ``height`` pixels are ``K`` [3, 3] (the inverse
    of ``export.camera.intrinsics``). NeuralFaceError for skew or fx != fy, which a
    Blender camera with square pixels cannot make."""
    K = np.asarray(K, dtype=np.float64)
    fx, fy, skew = K[0, 0], K[1, 1], K[0, 1]
    if abs(fx - fy) > 1e-6 * fx or abs(skew) > 1e-9 * fx:
        raise NeuralFaceError(f"camera.K has fx={fx:g}, fy={fy:g}, skew={skew:g}: the build needs square pixels "
                              "(fx = fy) and no skew")
    lens = fx * SENSOR_WIDTH_MM / width
    shift_x = (width / 2.0 - K[0, 2]) / width
    shift_y = (K[1, 2] - height / 2.0) / width
    return lens, shift_x, shift_y


def camera_world(world_to_camera):
    """Blender ``matrix_world`` [4, 4] of a camera whose OpenCV world_to_camera is given."""
    return np.linalg.inv(np.asarray(world_to_camera, dtype=np.float64)) @ camera_model.BLENDER_TO_OPENCV


class ActorStage:
    """A fresh scene (the open file is replaced by an empty factory scene) with the
    bundled head and a camera, rendering ``width`` x ``height`` pixels."""

    def __init__(self, width, height):
        from .chunk import head_scene

        self.scene, self.head, self.camera, _ = head_scene(width)
        self.scene.render.resolution_x, self.scene.render.resolution_y = width, height
        self.scene.render.pixel_aspect_x = self.scene.render.pixel_aspect_y = 1.0
        data = self.camera.data
        data.sensor_fit = "HORIZONTAL"
        data.sensor_width = SENSOR_WIDTH_MM
        data.clip_start, data.clip_end = CLIP_START, CLIP_END
        self.width, self.height = width, height
        self.match = rig.match_rig(self.head.mesh, "arkit52")
        self.reader = rig.RigReader(self.head.mesh, self.match)
        self.blocks = self.head.mesh.data.shape_keys.key_blocks
        self.bones = self.head.armature.pose.bones
        for bone in self.bones:
            bone.rotation_mode = "QUATERNION"

    @property
    def coefficient_names(self):
        """The head's coefficients in the exporter's order: id_00..id_27, then the ARKit 52."""
        return list(self.match.coefficient_names)

    def key_ranges(self):
        """{coefficient: (slider_min, slider_max)}: Blender clamps a key's value to its range."""
        ranges = {}
        for mapping in self.match.mappings:
            block = self.blocks[mapping.shape_key]
            ranges[mapping.coefficient] = (block.slider_min * mapping.scale, block.slider_max * mapping.scale)
        return ranges

    def _head_motion(self, neck):
        """[4, 4] armature-space motion of the head bone for a neck rotation [3, 3] (the
        head bone itself at rest): rest @ rotation @ rest^-1 of the neck bone."""
        rest = np.array(self.head.armature.data.bones["neck"].matrix_local, dtype=np.float64)
        delta = np.eye(4)
        delta[:3, :3] = neck
        return rest @ delta @ np.linalg.inv(rest)

    def pose(self, record):
        """Set the scene to ``record`` (a shot FrameRecord in this stage's coefficient names)."""
        from mathutils import Matrix

        position = {name: i for i, name in enumerate(self.match.coefficient_names)}
        for mapping in self.match.mappings:
            value = float(record.coefficients[position[mapping.coefficient]])
            self.blocks[mapping.shape_key].value = value / mapping.scale
        for joint in JOINTS:
            rotation = np.asarray(record.joints.get(joint, np.eye(3)), dtype=np.float64)
            bone = self.bones[self.match.joints[joint]]
            bone.rotation_quaternion = Matrix(rotation.tolist()).to_quaternion()
        self.bones[self.match.joints["head"]].rotation_quaternion = (1.0, 0.0, 0.0, 0.0)
        # The mesh's world matrix with the armature at the origin, then the head bone's motion
        # (the exporter's head_world is armature @ motion @ armature^-1 @ mesh): solve for the armature.
        mesh = self.head.mesh
        at_origin = np.array(mesh.matrix_parent_inverse, dtype=np.float64) @ np.array(mesh.matrix_basis, dtype=np.float64)
        neck = np.asarray(record.joints.get("neck", np.eye(3)), dtype=np.float64)
        reference = self._head_motion(neck) @ at_origin
        armature = record.head_world.matrix() @ np.linalg.inv(reference)
        self.head.armature.matrix_world = Matrix(armature.tolist())
        lens, shift_x, shift_y = camera_settings(record.K, self.width, self.height)
        data = self.camera.data
        data.lens, data.shift_x, data.shift_y = lens, shift_x, shift_y
        self.camera.matrix_world = Matrix(camera_world(record.world_to_camera).tolist())
        self.scene.frame_current = int(record.frame)
        bpy.context.view_layer.update()

    def read(self, frame):
        """The posed frame as the exporter reads it: a FrameRecord with Blender's landmarks."""
        depsgraph = bpy.context.evaluated_depsgraph_get()
        return exporter.read_frame(self.scene, frame, self.reader, depsgraph, with_landmarks=True)


def difference(expected, found):
    """The first field where two FrameRecords differ beyond what float32 keys and matrix
    round-offs explain, as ``(field, size)``, or None."""
    checks = (
        ("coefficients", expected.coefficients, found.coefficients, 1e-5),
        ("camera.K", expected.K, found.K, 1e-6 * max(1.0, abs(expected.K[0, 0]))),
        ("camera.world_to_camera", expected.world_to_camera, found.world_to_camera, 1e-5),
        ("head_camera", expected.head_camera.matrix(), found.head_camera.matrix(), 1e-5),
        *((f"joints.{j}", expected.joints[j], found.joints.get(j, np.eye(3)), 1e-5) for j in expected.joints),
    )
    for field, a, b, tolerance in checks:
        size = float(np.abs(np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)).max())
        if not size <= tolerance:
            return field, size
    return None


def nearest_rotation(matrix):
    """The rotation [3, 3] closest to ``matrix`` (the shot format accepts rotations within
    1e-4; Blender would keep such a round-off as scale and shear)."""
    u, _, vt = np.linalg.svd(np.asarray(matrix, dtype=np.float64)[:3, :3])
    if np.linalg.det(u @ vt) < 0:
        u[:, -1] *= -1
    return u @ vt


def build_record(fit_record, fit_names, names, ranges, scale):
    """The FrameRecord a build renders for the fit's ``fit_record`` (its coefficients in
    ``fit_names`` order): coefficients in ``names`` order (missing ones 0, each clamped to
    its key's ``ranges``), the four joints (rest where the fit has none; every rotation made
    exactly orthonormal), K and landmarks
    scaled by ``scale`` (output pixels per crop pixel), head_camera recomputed from
    head_world and world_to_camera."""
    fmt = shot_format
    values = dict(zip(fit_names, (float(v) for v in fit_record.coefficients)))
    coefficients = np.array([min(max(values.get(n, 0.0), ranges[n][0]), ranges[n][1]) for n in names])
    joints = {j: nearest_rotation(fit_record.joints.get(j, np.eye(3))) for j in JOINTS}
    K = np.diag([scale, scale, 1.0]) @ np.asarray(fit_record.K, dtype=np.float64)
    w2c = np.asarray(fit_record.world_to_camera, dtype=np.float64).copy()
    w2c[:3, :3] = nearest_rotation(w2c[:3, :3])
    head_world = fmt.Transform(rotation=nearest_rotation(fit_record.head_world.rotation),
                               translation=np.asarray(fit_record.head_world.translation, dtype=np.float64))
    landmarks = None if fit_record.landmarks is None else np.asarray(fit_record.landmarks, dtype=np.float64) * scale
    return fmt.FrameRecord(frame=int(fit_record.frame), coefficients=coefficients, head_world=head_world,
                           head_camera=fmt.Transform.from_matrix(w2c @ head_world.matrix()), joints=joints,
                           K=K, world_to_camera=w2c, landmarks=landmarks)
