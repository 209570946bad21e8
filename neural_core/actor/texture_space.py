"""The face mesh's texture space: where each texel lies on the 468 face landmarks.

MediaPipe's canonical face mesh gives every landmark a UV; its 898 triangles cover the
face from brow to chin (the eyes and the mouth are holes). :class:`TexelMap` rasterises
the triangles in UV space once: each texel inside one is a fixed barycentric blend of its
three corner landmarks, so wherever the fitted head puts the landmarks (3D or projected
to pixels), ``weights @ points`` puts every texel there too. The photometric refinement
(:mod:`.photometric`) samples the photos at those places.

``face_mesh.npz`` (format ``neural_face.face_mesh``, version 1; written by
``tools/export_face_mesh.py`` from ``blender_addon/head/data/canonical_face_model.obj``):
``triangles`` [898, 3] int (landmark indices, counter-clockwise seen from the front),
``uvs`` [468, 2] float (u right, v up, in [0, 1]).
"""

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .head_model import NUM_FACE, HeadModelError, read_npz

FORMAT = "neural_face.face_mesh"
VERSION = 1
DEFAULT_PATH = Path(__file__).resolve().parent / "data" / "face_mesh.npz"


@dataclass(frozen=True)
class FaceMesh:
    """triangles [T, 3] landmark indices; uvs [468, 2] in [0, 1] (v up)."""

    triangles: np.ndarray
    uvs: np.ndarray


def load_face_mesh(path=None):
    """Read and check ``face_mesh.npz`` (default: the bundled one); never unpickles.
    Raises :class:`~.head_model.HeadModelError` naming the file and field."""
    path = Path(path) if path is not None else DEFAULT_PATH
    arrays = read_npz(path, kind="face mesh")

    def fail(field, message):
        raise HeadModelError(message, file=path, field=field, kind="face mesh")

    if "format" not in arrays or arrays["format"].shape != () or str(arrays["format"]) != FORMAT:
        fail("format", f"missing or not '{FORMAT}'")
    if "version" not in arrays or arrays["version"].shape != () or arrays["version"].dtype.kind not in "iu":
        fail("version", "missing or not an integer")
    if int(arrays["version"]) != VERSION:
        fail("version", f"is {int(arrays['version'])}; this Neural Face reads version {VERSION}")
    triangles, uvs = arrays.get("triangles"), arrays.get("uvs")
    if triangles is None or triangles.dtype.kind not in "iu" or triangles.ndim != 2 or triangles.shape[1] != 3:
        fail("triangles", "missing or not an integer array [T, 3]")
    if len(triangles) == 0 or triangles.min() < 0 or triangles.max() >= NUM_FACE:
        fail("triangles", f"must index the {NUM_FACE} face landmarks")
    if uvs is None or uvs.dtype.kind != "f" or uvs.shape != (NUM_FACE, 2):
        fail("uvs", f"missing or not a float array [{NUM_FACE}, 2]")
    if not np.all(np.isfinite(uvs)) or uvs.min() < 0 or uvs.max() > 1:
        fail("uvs", "must lie in [0, 1]")
    return FaceMesh(triangles.astype(np.int64), uvs.astype(np.float64))


class TexelMap:
    """The texels of a ``size`` x ``size`` texture that fall inside the mesh's triangles.

    ``triangle`` [N] (row of ``mesh.triangles``), ``barycentric`` [N, 3], ``rows``/``columns``
    [N] (texel position, row 0 at v = 1), ``weights``: sparse [N, 468] with
    ``weights @ points`` = the texels' positions for landmark positions ``points`` [468, D].
    """

    def __init__(self, mesh, size):
        from scipy import sparse

        self.mesh, self.size = mesh, int(size)
        owner = np.full((self.size, self.size), -1, dtype=np.int64)
        blend = np.zeros((self.size, self.size, 3))
        corners = np.stack([mesh.uvs[:, 0], 1.0 - mesh.uvs[:, 1]], 1) * self.size  # texel units, row down
        for t, (a, b, c) in enumerate(mesh.triangles):
            A, B, C = corners[a], corners[b], corners[c]
            edges = np.array([[B[0] - A[0], C[0] - A[0]], [B[1] - A[1], C[1] - A[1]]])
            if abs(np.linalg.det(edges)) < 1e-9:
                continue  # a degenerate triangle covers no texel
            low = np.maximum(np.floor(np.minimum(np.minimum(A, B), C)).astype(int), 0)
            high = np.minimum(np.ceil(np.maximum(np.maximum(A, B), C)).astype(int), self.size)
            ys, xs = np.mgrid[low[1]:high[1], low[0]:high[0]]
            centres = np.stack([xs + 0.5, ys + 0.5], -1) - A
            st = centres @ np.linalg.inv(edges).T
            w = np.stack([1.0 - st[..., 0] - st[..., 1], st[..., 0], st[..., 1]], -1)
            inside = (w >= -1e-9).all(-1)
            owner[ys[inside], xs[inside]] = t
            blend[ys[inside], xs[inside]] = w[inside]
        self.rows, self.columns = np.nonzero(owner >= 0)
        self.triangle = owner[self.rows, self.columns]
        self.barycentric = blend[self.rows, self.columns]
        corner_index = mesh.triangles[self.triangle]  # [N, 3]
        count = len(self.triangle)
        self.weights = sparse.csr_matrix((self.barycentric.ravel(), (np.repeat(np.arange(count), 3), corner_index.ravel())),
                                         shape=(count, NUM_FACE))

    def __len__(self):
        return len(self.triangle)

    def facing(self, points):
        """[N] cosine between each texel's triangle normal and the direction to the camera,
        for camera-space landmark positions ``points`` [468, 3] (camera at the origin,
        looking down +Z); > 0: the triangle faces the camera."""
        a, b, c = (points[self.mesh.triangles[:, k]] for k in range(3))
        normal = np.cross(b - a, c - a)
        normal /= np.linalg.norm(normal, axis=1, keepdims=True) + 1e-12
        centre = (a + b + c) / 3.0
        cosine = -(normal * centre).sum(1) / (np.linalg.norm(centre, axis=1) + 1e-12)
        return cosine[self.triangle]
