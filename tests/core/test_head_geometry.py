"""The bundled head's geometry and shape-key fields, pure numpy (no Blender)."""

import numpy as np
import pytest
from scipy.spatial import cKDTree

from blender_addon.head import canonical, expressions, fields, identity, mesh
from neural_core.contract.rig.arkit import ARKIT_52


def edge_use_counts(faces):
    """{sorted edge: number of faces using it}; 2 everywhere on a closed manifold."""
    counts = {}
    for f in faces:
        for i in range(len(f)):
            key = (min(f[i], f[i - 1]), max(f[i], f[i - 1]))
            counts[key] = counts.get(key, 0) + 1
    return counts


MIRROR = np.array([-1.0, 1.0, 1.0])


@pytest.fixture(scope="module")
def head():
    return mesh.build_head_mesh()


@pytest.fixture(scope="module")
def mirror_index(head):
    """Vertex index of each vertex's mirror twin (x -> -x)."""
    dist, index = cKDTree(head.vertices).query(head.vertices * MIRROR)
    assert dist.max() < 1e-9, "the head mesh is not mirror-symmetric"
    return index


@pytest.fixture(scope="module")
def deltas(head):
    part = np.zeros(len(head.vertices))
    part[head.parts["mouth"]] = 1
    out = identity.identity_deltas(head.vertices)
    out.update(expressions.expression_deltas(head.vertices, ARKIT_52, part))
    return out


def _edges(triangles):
    return {frozenset((int(t[k]), int(t[(k + 1) % 3]))) for t in triangles for k in range(3)}


def test_landmark_contours_are_edges_of_the_canonical_mesh():
    face = canonical.load_canonical_face()
    edges = _edges(face.triangles)
    for loop in (canonical.EYE_LEFT_LOOP, canonical.EYE_RIGHT_LOOP, canonical.LIPS_INNER_LOOP,
                 canonical.LIPS_OUTER_LOOP, canonical.FACE_OVAL):
        assert all(frozenset((loop[i], loop[(i + 1) % len(loop)])) in edges for i in range(len(loop)))
    for line in (canonical.BROW_LEFT_UPPER, canonical.BROW_LEFT_LOWER,
                 canonical.BROW_RIGHT_UPPER, canonical.BROW_RIGHT_LOWER):
        assert all(frozenset(pair) in edges for pair in zip(line, line[1:]))


def test_landmark_indices_match_the_geometry():
    v = canonical.load_canonical_face().vertices
    assert len(v) == 468
    assert v[canonical.NOSE_TIP, 1] == pytest.approx(v[:, 1].min(), abs=0.003)  # most forward
    assert v[canonical.CHIN, 2] == pytest.approx(v[:, 2].min())  # lowest point
    assert v[canonical.FOREHEAD, 2] == pytest.approx(v[:, 2].max())
    # head's own left is +X; upper lids above lower lids; upper lip above lower lip
    assert v[list(canonical.EYE_LEFT_LOOP), 0].min() > 0 > v[list(canonical.EYE_RIGHT_LOOP), 0].max()
    assert v[386, 2] > v[374, 2] and v[159, 2] > v[145, 2]
    assert v[canonical.UPPER_LIP_INNER, 2] > v[canonical.LOWER_LIP_INNER, 2]
    assert v[canonical.MOUTH_CORNER_LEFT, 0] > 0 > v[canonical.MOUTH_CORNER_RIGHT, 0]
    height = v[canonical.FOREHEAD, 2] - v[canonical.CHIN, 2]
    assert 0.15 < height < 0.2  # metres


def test_head_is_closed_and_oriented_outwards(head):
    counts = edge_use_counts(head.faces)
    bad = sum(1 for c in counts.values() if c != 2)
    print(f"head mesh: {len(head.vertices)} vertices, {len(head.faces)} faces, "
          f"{bad} non-manifold edges")
    assert bad == 0
    v = head.vertices
    volume = sum(np.dot(v[f[0]], np.cross(v[f[i]], v[f[i + 1]])) / 6
                 for f in head.faces for i in range(1, len(f) - 1))
    assert 0.003 < volume < 0.008  # cubic metres: a head with a neck
    assert 3000 <= len(v) <= 15000
    assert v[:, 2].min() == pytest.approx(0.0, abs=1e-4)  # origin = base of the neck


def test_landmarks_keep_canonical_positions(head):
    positions, _, _ = canonical.read_obj()
    expected = canonical.to_head_frame(positions)
    np.testing.assert_allclose(head.vertices[head.landmarks], expected, atol=1e-12)
    assert len(set(head.landmarks.tolist())) == 468


def test_uvs_and_regions(head):
    uvs = np.concatenate(head.face_uvs)
    assert uvs.min() >= 0 and uvs.max() <= 1
    assert sum(len(f) for f in head.faces) == len(uvs)
    present = set(head.face_regions.tolist())
    for region in ("skin", "lips", "brows", "mouth_interior"):
        assert mesh.REGION[region] in present


def test_identity_keys_smooth_and_mostly_symmetric(head, deltas, mirror_index):
    names = identity.identity_names()
    assert len(names) >= 24 and names[0] == "id_00"
    neighbours = [set() for _ in head.vertices]
    for f in head.faces:
        for i in range(len(f)):
            neighbours[f[i]].update((f[i - 1], f[(i + 1) % len(f)]))
    neighbours = [list(n) for n in neighbours]
    for i, name in enumerate(names):
        d = deltas[name]
        size = np.linalg.norm(d, axis=1)
        assert size.max() > 5e-4, name
        # no spikes: a vertex never sticks out far from the mean of its neighbours
        lap = np.array([np.linalg.norm(d[k] - d[n].mean(0)) for k, n in enumerate(neighbours)])
        assert lap.max() / size.max() < 0.3, name
        mirror_error = np.abs(d[mirror_index] * MIRROR - d).max() / size.max()
        if i < identity.SYMMETRIC_COUNT:
            assert mirror_error < 1e-9, name
        else:
            assert mirror_error > 0.5, name


def test_all_arkit_keys_present_and_right_mirrors_left(deltas, mirror_index):
    for name in ARKIT_52:
        assert np.abs(deltas[name]).max() > 5e-4, name
        if name.endswith("Left"):
            twin = deltas[name[:-4] + "Right"]
            np.testing.assert_allclose(twin, deltas[name][mirror_index] * MIRROR, atol=1e-12)


def test_blink_closes_the_left_lid_only(head, deltas):
    v = head.vertices
    moved = v + deltas["eyeBlinkLeft"]
    up, low = list(canonical.EYE_LEFT_UPPER[1:-1]), list(canonical.EYE_LEFT_LOWER[1:-1])
    gap_before = np.linalg.norm(v[up] - v[low], axis=1)
    gap_after = np.linalg.norm(moved[up] - moved[low], axis=1)
    assert gap_after.max() < 0.1 * gap_before.min()
    right = list(canonical.EYE_RIGHT_LOOP)
    assert np.abs(deltas["eyeBlinkLeft"][right]).max() < 1e-9


def test_jaw_open_rotates_about_the_pivot(head, deltas):
    v = head.vertices
    d = deltas["jawOpen"]
    moved = v + d
    gap = lambda p: p[canonical.UPPER_LIP_INNER, 2] - p[canonical.LOWER_LIP_INNER, 2]
    assert gap(moved) > gap(v) + 0.02
    chin = canonical.CHIN_FRONT  # jaw weight 1 there
    radius = lambda p: np.linalg.norm((p[chin] - fields.JAW_PIVOT)[1:])
    assert radius(moved) == pytest.approx(radius(v), rel=1e-6)  # a rotation, not a stretch
    assert abs(d[canonical.FOREHEAD]).max() < 1e-9 and abs(d[canonical.NOSE_TIP]).max() < 1e-6


def test_smile_lifts_and_widens_the_left_corner(head, deltas):
    d = deltas["mouthSmileLeft"]
    left, right = canonical.MOUTH_CORNER_LEFT, canonical.MOUTH_CORNER_RIGHT
    assert d[left, 2] > 0.004 and d[left, 0] > 0.003  # up and outwards (+X)
    assert np.abs(d[right]).max() < 0.1 * np.abs(d[left]).max()
