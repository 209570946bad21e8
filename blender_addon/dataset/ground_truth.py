"""Ground truth of one posed frame of the bundled head, read from Blender's evaluated scene.

Conventions are the shot format's (``docs/shot-format.md``), computed by the exporter's own
code (``export.camera``, ``export.rig``): OpenCV camera axes (+X right, +Y down, +Z
forward), pixels with (0, 0) at the top-left corner of the top-left pixel (pixel centres
at i + 0.5), metres.

Landmarks are MediaPipe's 478 (refined face mesh): 0..467 the face (head-mesh vertices of
``obj["neural_face_landmarks"]``), 468..472 the subject's right iris (our ``eye.R``, at -X:
centre, then the iris edge at +X, +Z, -X, -Z of the eyeball), 473..477 the left iris
(``eye.L``). The iris centre is the eyeball's front pole (the pupil's centre on the
surface), the ring the eyeball vertices at ``eyes.IRIS_ANGLE`` from it.
"""

import numpy as np

from ..export import camera as camera_model
from ..export import rig
from ..head import eyes

NUM_LANDMARKS = 478
OCCLUSION_TOLERANCE = 5e-4  # metres: a hit closer than this to the landmark does not hide it


def _iris_vertices():
    """Eyeball vertex indices [5]: the front pole, then the iris-edge ring at +X, +Z, -X, -Z."""
    ring = 1 + eyes.RING_ANGLES.index(eyes.IRIS_ANGLE) * eyes.SEGMENTS
    quarter = eyes.SEGMENTS // 4  # ring vertex j sits at azimuth 2 pi j / SEGMENTS from +X
    return np.array([0] + [ring + k * quarter for k in range(4)], dtype=np.int64)


IRIS_VERTICES = _iris_vertices()


def iris_points(head, depsgraph):
    """World positions [10, 3]: right iris (468..472), then left (473..477)."""
    by_side = {eye.name.rsplit(".", 1)[-1]: eye for eye in head.eyes}  # "<name>_eye.L" -> "L"
    points = []
    for side in ("R", "L"):
        eye = by_side[side].evaluated_get(depsgraph)
        local = np.array([tuple(eye.data.vertices[int(i)].co) for i in IRIS_VERTICES], dtype=np.float64)
        world = np.array(eye.matrix_world, dtype=np.float64)
        points.append(local @ world[:3, :3].T + world[:3, 3])
    return np.concatenate(points)


def visible(scene, depsgraph, origin, points, tolerance=OCCLUSION_TOLERANCE):
    """bool [N]: nothing in the scene lies on the straight line from ``origin`` [3] (the
    camera) to each point [N, 3] (world), up to ``tolerance`` before the point."""
    from mathutils import Vector

    out = np.zeros(len(points), dtype=bool)
    start = Vector(tuple(float(v) for v in origin))
    for i, point in enumerate(points):
        ray = Vector(tuple(float(v) for v in point)) - start
        hit = scene.ray_cast(depsgraph, start, ray.normalized(), distance=max(ray.length - tolerance, 0.0))
        out[i] = not hit[0]
    return out


class TruthReader:
    """Reads the truth of the head's current pose; make one per scene (after ``build_head``)."""

    def __init__(self, scene, head):
        self.scene = scene
        self.head = head
        self.reader = rig.RigReader(head.mesh, rig.match_rig(head.mesh))

    def read(self, depsgraph):
        """{"K" [3, 3], "world_to_camera" [4, 4], "head_to_camera" [4, 4] (the head frame
        carried by the neck and head bones, as the shot's ``head_camera``),
        "head_frame_to_camera" [4, 4] (the head object's frame, bones at rest),
        "landmarks" [478, 2] pixels, "landmark_depth" [478] camera z in metres,
        "landmark_visible" [478] bool} as numpy arrays."""
        K, w2c = camera_model.camera_frame(self.scene, depsgraph)
        state = self.reader.read(depsgraph, with_landmarks=True)
        points = np.concatenate([state.landmark_points, iris_points(self.head, depsgraph)])
        uv, depth = camera_model.project(points, K, w2c)
        camera_location = np.array(self.scene.camera.evaluated_get(depsgraph).matrix_world, dtype=np.float64)[:3, 3]
        head_object = np.array(self.head.mesh.evaluated_get(depsgraph).matrix_world, dtype=np.float64)
        return {
            "K": K,
            "world_to_camera": w2c,
            "head_to_camera": w2c @ state.head_world,
            "head_frame_to_camera": w2c @ head_object,
            "landmarks": uv,
            "landmark_depth": depth,
            "landmark_visible": visible(self.scene, depsgraph, camera_location, points),
        }
