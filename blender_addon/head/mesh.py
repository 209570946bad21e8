"""Builds the closed head mesh (pure numpy) around MediaPipe's canonical face.

Steps: the canonical face loses the triangles that close the eyes and the mouth; it is
subdivided once (new points on curved edges, the 468 landmark vertices stay where they
are, and keep indices 0..467); rings of quads then run from the face oval over the skull
and neck to a pole at the back of the head (``shape.py``); each eye opening becomes a
socket that hugs its eyeball, and the inner lip contour becomes a closed mouth bag.

Head frame: metres, +Z up, the face looks down -Y, origin at the base of the neck.
"""

from dataclasses import dataclass, field

import numpy as np

from . import canonical, shape

REGIONS = ("skin", "lips", "sclera", "iris", "brows", "mouth_interior", "pupil")
REGION = {name: index for index, name in enumerate(REGIONS)}

SKULL_RINGS = 28  # rings of quads from the face oval to the back pole
SOCKET_RINGS = 4  # rings inside each eye socket
EYE_RADIUS = 0.0118  # eyeball radius, metres (a human eyeball is about 12 mm)
EYE_GAP = 0.0008  # gap between eyeball and socket wall, metres
MOUTH_BAG = (  # (half width, half height, depth behind the lips) of each ring, metres
    (0.018, 0.0045, 0.003),
    (0.021, 0.011, 0.011),
    (0.022, 0.015, 0.022),
    (0.019, 0.015, 0.034),
    (0.012, 0.010, 0.043),
)
UV_FACE_SCALE = 0.5  # the canonical UV square shrinks to the centre half of the atlas
UV_CORNERS = {"socket_L": (0.94, 0.94), "socket_R": (0.06, 0.94), "mouth": (0.08, 0.08)}
UV_CORNER_RADIUS = {"socket_L": 0.055, "socket_R": 0.055, "mouth": 0.07}


@dataclass
class HeadMesh:
    """The head geometry, ready for ``bpy`` (``mesh.from_pydata``).

    vertices: [V, 3] float64 metres. faces: list of vertex-index tuples (triangles and
    quads), outward normals. face_uvs: one [n, 2] array per face (per face corner).
    face_regions: [F] int, index into ``REGIONS`` (= material slot). landmarks: [468]
    vertex index of each MediaPipe landmark. parts: named vertex-index arrays ("face",
    "skull", "socket_L", "socket_R", "mouth"). eye_centres: {"L", "R"} -> [3].
    """

    vertices: np.ndarray
    faces: list
    face_uvs: list
    face_regions: np.ndarray
    landmarks: np.ndarray
    parts: dict = field(default_factory=dict)
    eye_centres: dict = field(default_factory=dict)


def vertex_normals(vertices, triangles):
    """Area-weighted unit normals [V, 3] of a triangle mesh."""
    a, b, c = (vertices[triangles[:, k]] for k in range(3))
    face_n = np.cross(b - a, c - a)
    normals = np.zeros_like(vertices)
    for k in range(3):
        np.add.at(normals, triangles[:, k], face_n)
    length = np.linalg.norm(normals, axis=1, keepdims=True)
    return normals / np.maximum(length, 1e-12)


def subdivide(vertices, uvs, triangles):
    """One 1-to-4 split; edge points lie on a cubic through the edge's end normals.

    Returns (vertices [V', 3], uvs [V', 2], triangles [4F, 3], parent [4F] original
    triangle of each new one, edge_point dict (i, j) sorted -> new vertex). The first
    V vertices are unchanged.
    """
    normals = vertex_normals(vertices, triangles)
    edge_point = {}
    new_v, new_uv = [vertices], [uvs]
    count = len(vertices)
    for tri in triangles:
        for a, b in ((tri[0], tri[1]), (tri[1], tri[2]), (tri[2], tri[0])):
            key = (min(a, b), max(a, b))
            if key in edge_point:
                continue
            pa, pb = vertices[key[0]], vertices[key[1]]
            e = pb - pa
            ta = e - (e @ normals[key[0]]) * normals[key[0]]
            tb = e - (e @ normals[key[1]]) * normals[key[1]]
            new_v.append(((pa + pb) / 2 + (ta - tb) / 8)[None])
            new_uv.append(((uvs[key[0]] + uvs[key[1]]) / 2)[None])
            edge_point[key] = count
            count += 1

    def mid(a, b):
        return edge_point[(min(a, b), max(a, b))]

    out, parent = [], []
    for index, (a, b, c) in enumerate(triangles):
        ab, bc, ca = mid(a, b), mid(b, c), mid(c, a)
        out += [(a, ab, ca), (ab, b, bc), (ca, bc, c), (ab, bc, ca)]
        parent += [index] * 4
    return (np.concatenate(new_v), np.concatenate(new_uv), np.array(out, dtype=np.int64),
            np.array(parent), edge_point)


def refine_loop(loop, edge_point):
    """A closed vertex loop after ``subdivide``: the edge points inserted between."""
    out = []
    for i, a in enumerate(loop):
        b = loop[(i + 1) % len(loop)]
        out += [a, edge_point[(min(a, b), max(a, b))]]
    return out


def orient_loop(loop, triangles):
    """The loop ordered so the existing triangles run along it (loop[i] -> loop[i+1])."""
    directed = {(int(t[k]), int(t[(k + 1) % 3])) for t in triangles for k in range(3)}
    return list(loop) if (loop[0], loop[1]) in directed else list(loop[::-1])


def _region_of_face_triangles(face):
    """Region id [898] of each canonical triangle left after opening eyes and mouth."""
    tris = face.triangles
    regions = np.full(len(tris), REGION["skin"])
    # brows: triangles spanned by the brow contours only
    for upper, lower in ((canonical.BROW_LEFT_UPPER, canonical.BROW_LEFT_LOWER),
                         (canonical.BROW_RIGHT_UPPER, canonical.BROW_RIGHT_LOWER)):
        brow = set(upper) | set(lower)
        regions[[set(t) <= brow for t in tris]] = REGION["brows"]
    # lips: flood fill from the mouth opening up to the outer lip contour
    outer = canonical.LIPS_OUTER_LOOP
    wall = {frozenset((outer[i], outer[(i + 1) % len(outer)])) for i in range(len(outer))}
    inner = set(canonical.LIPS_INNER_LOOP)
    edge_faces = {}
    for index, t in enumerate(tris):
        for k in range(3):
            edge_faces.setdefault(frozenset((t[k], t[(k + 1) % 3])), []).append(index)
    todo = [i for i, t in enumerate(tris) if len(inner & set(t)) >= 2]
    lips = set()
    while todo:
        index = todo.pop()
        if index in lips:
            continue
        lips.add(index)
        t = tris[index]
        for k in range(3):
            edge = frozenset((t[k], t[(k + 1) % 3]))
            if edge not in wall:
                todo += [f for f in edge_faces[edge] if f not in lips]
    regions[sorted(lips)] = REGION["lips"]
    return regions


def open_face():
    """The canonical face without the triangles across the eyes and the mouth."""
    face = canonical.load_canonical_face()
    holes = [set(loop) for loop in (canonical.EYE_LEFT_LOOP, canonical.EYE_RIGHT_LOOP,
                                    canonical.LIPS_INNER_LOOP)]
    keep = np.array([not any(set(t) <= h for h in holes) for t in face.triangles])
    return canonical.CanonicalFace(face.vertices, face.uvs, face.triangles[keep])


def eye_centre(vertices, loop):
    """Eyeball centre [3]: behind the eye opening, as far forward as the lids allow.

    The centre sits behind the middle of the opening, at the depth where the nearest
    lid-contour vertex is exactly ``EYE_RADIUS + EYE_GAP`` away (found by bisection).
    """
    contour = vertices[list(loop)]
    centre = contour.mean(0)
    low, high = contour[:, 1].min(), contour[:, 1].min() + 3 * EYE_RADIUS
    for _ in range(60):
        centre[1] = (low + high) / 2
        if np.linalg.norm(contour - centre, axis=1).min() < EYE_RADIUS + EYE_GAP:
            low = centre[1]
        else:
            high = centre[1]
    centre[1] = high
    return centre


class _Builder:
    def __init__(self, vertices):
        self.vertices = [np.asarray(vertices)]
        self.count = len(vertices)
        self.faces, self.uvs, self.regions = [], [], []

    def add_vertices(self, points):
        start = self.count
        self.vertices.append(np.asarray(points))
        self.count += len(points)
        return np.arange(start, self.count)

    def add(self, face, uvs, region):
        self.faces.append(tuple(int(v) for v in face))
        self.uvs.append(np.asarray(uvs, dtype=np.float64))
        self.regions.append(region)

    def tube(self, rings, ring_uvs, pole, pole_uv, region):
        """Quads between consecutive loops, then a fan to the pole.

        rings: list of index arrays [n] (rings[0] already runs along existing faces);
        ring_uvs: matching [n, 2] arrays; pole: vertex index; pole_uv: [n, 2] per slice.
        """
        n = len(rings[0])
        for (a, ua), (b, ub) in zip(zip(rings, ring_uvs), zip(rings[1:], ring_uvs[1:])):
            for j in range(n):
                k = (j + 1) % n
                self.add((a[k], a[j], b[j], b[k]), (ua[k], ua[j], ub[j], ub[k]), region)
        last, ul = rings[-1], ring_uvs[-1]
        for j in range(n):
            k = (j + 1) % n
            self.add((last[k], last[j], pole), (ul[k], ul[j], pole_uv[j]), region)


def _frame_angles(points, centre, forward, right, up):
    """Angle from ``forward`` and azimuth around it of points seen from ``centre``."""
    d = points - centre
    d = d / np.linalg.norm(d, axis=1, keepdims=True)
    alpha = np.arccos(np.clip(d @ forward, -1, 1))
    phi = np.arctan2(d @ up, d @ right)
    return alpha, phi


def _directions(alpha, phi, forward, right, up):
    return (np.cos(alpha)[:, None] * forward
            + np.sin(alpha)[:, None] * (np.cos(phi)[:, None] * right + np.sin(phi)[:, None] * up))


def _smoothstep(x):
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3 - 2 * x)


def _corner_uv(name, angles, fraction):
    centre = np.array(UV_CORNERS[name])
    r = UV_CORNER_RADIUS[name] * fraction
    return centre + r * np.stack([np.cos(angles), np.sin(angles)], axis=1)


def build_head_mesh():
    """The whole closed head (see ``HeadMesh``)."""
    face = open_face()
    base_regions = _region_of_face_triangles(face)
    verts, uvs, tris, parent, edge_point = subdivide(face.vertices, face.uvs, face.triangles)
    uvs = 0.5 + (uvs - 0.5) * UV_FACE_SCALE
    builder = _Builder(verts)
    for t, p in zip(tris, parent):
        builder.add(t, uvs[list(t)], base_regions[p])
    parts = {"face": np.arange(len(verts))}
    forward, right, up = np.array([0.0, -1, 0]), np.array([1.0, 0, 0]), np.array([0.0, 0, 1])

    # skull and neck: rings from the face oval to a pole at the back
    oval = orient_loop(refine_loop(canonical.FACE_OVAL, edge_point), tris)
    oval_pts = verts[oval]
    alpha0, phi = _frame_angles(oval_pts, shape.RAY_CENTRE, forward, right, up)
    offset = np.linalg.norm(oval_pts - shape.RAY_CENTRE, axis=1) - shape.radius(
        _directions(alpha0, phi, forward, right, up))
    rings, ring_uvs = [np.array(oval)], [uvs[oval]]
    uv_dir = uvs[oval] - 0.5
    for k in range(1, SKULL_RINGS):
        s = k / SKULL_RINGS
        d = _directions(alpha0 + (np.pi - alpha0) * s, phi, forward, right, up)
        r = shape.radius(d) + offset * (1 - _smoothstep(s / 0.2))
        rings.append(builder.add_vertices(shape.RAY_CENTRE + d * r[:, None]))
        ring_uvs.append(0.5 + uv_dir * (1 + s))
    pole = builder.add_vertices(shape.surface_points(-forward))[0]
    pole_uv = 0.5 + (uv_dir + np.roll(uv_dir, -1, axis=0)) * 0.5 * 2.0
    start = builder.count
    builder.tube(rings, ring_uvs, pole, pole_uv, REGION["skin"])
    parts["skull"] = np.concatenate(rings[1:] + [np.array([pole])])

    # eye sockets: rings hugging the eyeball, closed by a pole behind it
    eye_centres = {}
    for side, loop in (("L", canonical.EYE_LEFT_LOOP), ("R", canonical.EYE_RIGHT_LOOP)):
        contour = orient_loop(refine_loop(loop, edge_point), tris)
        centre = eye_centre(verts, loop)
        eye_centres[side] = centre
        pts = verts[contour]
        a0, ph = _frame_angles(pts, centre, forward, right, up)
        dist = np.linalg.norm(pts - centre, axis=1)
        rings, ring_uvs = [np.array(contour)], [_corner_uv(f"socket_{side}", ph, 1.0)]
        first = builder.count
        for k in range(1, SOCKET_RINGS + 1):
            s = k / (SOCKET_RINGS + 1)
            d = _directions(a0 + (np.pi - a0) * s, ph, forward, right, up)
            r = EYE_RADIUS + EYE_GAP + (dist - EYE_RADIUS - EYE_GAP) * (1 - s) ** 3
            rings.append(builder.add_vertices(centre + d * r[:, None]))
            ring_uvs.append(_corner_uv(f"socket_{side}", ph, 1 - s))
        pole = builder.add_vertices((centre - forward * (EYE_RADIUS + EYE_GAP))[None])[0]
        builder.tube(rings, ring_uvs, pole, _corner_uv(f"socket_{side}", ph, 0.0),
                     REGION["skin"])
        parts[f"socket_{side}"] = np.arange(first, builder.count)

    # mouth bag: elliptic rings behind the inner lip contour
    contour = orient_loop(refine_loop(canonical.LIPS_INNER_LOOP, edge_point), tris)
    pts = verts[contour]
    opening = pts.mean(0)
    half_w = np.abs(pts[:, 0] - opening[0]).max()
    theta = np.arctan2((pts[:, 2] - opening[2]) / 0.004, (pts[:, 0] - opening[0]) / half_w)
    rings, ring_uvs = [np.array(contour)], [_corner_uv("mouth", theta, 1.0)]
    first = builder.count
    front = pts[:, 1].max()
    for k, (w, h, depth) in enumerate(MOUTH_BAG):
        ring = np.stack([opening[0] + w * np.cos(theta), np.full_like(theta, front + depth),
                         opening[2] + h * np.sin(theta)], axis=1)
        rings.append(builder.add_vertices(ring))
        ring_uvs.append(_corner_uv("mouth", theta, 1 - (k + 1) / (len(MOUTH_BAG) + 1)))
    back = np.array([[opening[0], front + MOUTH_BAG[-1][2] + 0.004, opening[2]]])
    pole = builder.add_vertices(back)[0]
    builder.tube(rings, ring_uvs, pole, _corner_uv("mouth", theta, 0.0),
                 REGION["mouth_interior"])
    parts["mouth"] = np.arange(first, builder.count)
    del start

    return HeadMesh(
        vertices=np.concatenate(builder.vertices),
        faces=builder.faces,
        face_uvs=builder.uvs,
        face_regions=np.array(builder.regions),
        landmarks=np.arange(canonical.NUM_LANDMARKS),
        parts=parts,
        eye_centres=eye_centres,
    )
