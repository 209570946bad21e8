"""MediaPipe's canonical face mesh, read from ``data/canonical_face_model.obj``.

Vertex *i* of the mesh is MediaPipe Face Mesh landmark *i* (0..467). The OBJ is in
centimetres with +Y up and +Z towards the viewer; everything this module returns is in
the head's own frame: metres, +Z up, the face looking down -Y (Blender's front view),
the head's own left on +X, and the origin at the base of the neck (``NECK_BASE_CM``
below the canonical origin). Pure numpy: no bpy.
"""

from dataclasses import dataclass
from pathlib import Path

import numpy as np

OBJ_PATH = Path(__file__).resolve().parent / "data" / "canonical_face_model.obj"
NUM_LANDMARKS = 468
CM = 0.01  # metres per canonical unit
NECK_BASE_CM = 20.0  # the neck base (head origin) lies this far below the canonical origin

# Landmark index groups (MediaPipe Face Mesh numbering). Each closed contour is listed in
# order around the loop; tests check every consecutive pair is an edge of the mesh.
# "LEFT" is the head's own left (+X), which MediaPipe also calls left.
EYE_LEFT_UPPER = (263, 466, 388, 387, 386, 385, 384, 398, 362)  # outer -> inner corner
EYE_LEFT_LOWER = (263, 249, 390, 373, 374, 380, 381, 382, 362)
EYE_RIGHT_UPPER = (33, 246, 161, 160, 159, 158, 157, 173, 133)
EYE_RIGHT_LOWER = (33, 7, 163, 144, 145, 153, 154, 155, 133)
LIPS_OUTER_UPPER = (61, 185, 40, 39, 37, 0, 267, 269, 270, 409, 291)  # right -> left corner
LIPS_OUTER_LOWER = (61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291)
LIPS_INNER_UPPER = (78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308)
LIPS_INNER_LOWER = (78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308)
BROW_LEFT_UPPER = (300, 293, 334, 296, 336)  # outer -> inner
BROW_LEFT_LOWER = (276, 283, 282, 295, 285)
BROW_RIGHT_UPPER = (70, 63, 105, 66, 107)
BROW_RIGHT_LOWER = (46, 53, 52, 65, 55)
FACE_OVAL = (10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378,
             400, 377, 152, 148, 176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21,
             54, 103, 67, 109)
NOSE_TIP = 1
NOSE_BRIDGE = 6  # between the eyes, on the bridge
NOSE_ALA_LEFT, NOSE_ALA_RIGHT = 327, 98  # outer nostril wings
CHIN = 152
CHIN_FRONT = 199
FOREHEAD = 10  # top of the face oval, mid-line
FOREHEAD_MID = 151
CHEEK_LEFT, CHEEK_RIGHT = 280, 50
JAW_ANGLE_LEFT, JAW_ANGLE_RIGHT = 397, 172
TEMPLE_LEFT, TEMPLE_RIGHT = 356, 127
MOUTH_CORNER_LEFT, MOUTH_CORNER_RIGHT = 291, 61
UPPER_LIP_TOP, LOWER_LIP_BOTTOM = 0, 17
UPPER_LIP_INNER, LOWER_LIP_INNER = 13, 14


def closed_loop(upper, lower):
    """One closed contour from two open ones sharing both end points (corner indices)."""
    return tuple(upper) + tuple(reversed(lower[1:-1]))


EYE_LEFT_LOOP = closed_loop(EYE_LEFT_UPPER, EYE_LEFT_LOWER)
EYE_RIGHT_LOOP = closed_loop(EYE_RIGHT_UPPER, EYE_RIGHT_LOWER)
LIPS_INNER_LOOP = closed_loop(LIPS_INNER_UPPER, LIPS_INNER_LOWER)
LIPS_OUTER_LOOP = closed_loop(LIPS_OUTER_UPPER, LIPS_OUTER_LOWER)


@dataclass(frozen=True)
class CanonicalFace:
    """The canonical mesh in the head frame.

    vertices: [468, 3] float64, metres. uvs: [468, 2] float64 (Blender convention, v up).
    triangles: [898, 3] int64 vertex indices, counter-clockwise seen from outside.
    """

    vertices: np.ndarray
    uvs: np.ndarray
    triangles: np.ndarray


def to_head_frame(points_cm):
    """[N, 3] canonical centimetres (+Y up, +Z front) -> [N, 3] head-frame metres."""
    p = np.asarray(points_cm, dtype=np.float64)
    return np.stack([p[:, 0], -p[:, 2], p[:, 1] + NECK_BASE_CM], axis=1) * CM


def read_obj(path=OBJ_PATH):
    """Raw OBJ contents: positions [N, 3] cm, uvs [N, 2] (image v down), faces [F, 3]."""
    positions, uvs, faces = [], [], []
    with open(path, encoding="ascii") as handle:
        for line in handle:
            parts = line.split()
            if not parts:
                continue
            if parts[0] == "v":
                positions.append([float(x) for x in parts[1:4]])
            elif parts[0] == "vt":
                uvs.append([float(x) for x in parts[1:3]])
            elif parts[0] == "f":
                corners = [p.split("/") for p in parts[1:]]
                if len(corners) != 3 or any(c[0] != c[1] for c in corners):
                    raise ValueError(f"{path}: expected triangles with shared v/vt indices")
                faces.append([int(c[0]) - 1 for c in corners])
    return np.array(positions), np.array(uvs), np.array(faces, dtype=np.int64)


def load_canonical_face(path=OBJ_PATH):
    """The canonical face in the head frame (see ``CanonicalFace``)."""
    positions, uvs, faces = read_obj(path)
    if len(positions) != NUM_LANDMARKS or len(uvs) != NUM_LANDMARKS:
        raise ValueError(f"{path}: expected {NUM_LANDMARKS} vertices and UVs")
    uvs = np.stack([uvs[:, 0], 1.0 - uvs[:, 1]], axis=1)
    vertices = to_head_frame(positions)
    # Make winding counter-clockwise seen from the front (-Y): normals must point to -Y
    a, b, c = (vertices[faces[:, k]] for k in range(3))
    if np.cross(b - a, c - a)[:, 1].sum() > 0:
        faces = faces[:, ::-1].copy()
    return CanonicalFace(vertices=vertices, uvs=uvs, triangles=faces)
