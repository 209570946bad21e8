"""The bundled head built in real Blender: structure, rig, shape keys, operator."""

import time

import bmesh
import bpy
import numpy as np
import pytest
from mathutils import Vector

from blender_addon.head import build, canonical, identity, mesh
from blender_addon.operators import add_head
from neural_core.contract.rig.arkit import ARKIT_52

LOCATION = (0.3, -0.2, 1.0)


@pytest.fixture
def head():
    start = time.perf_counter()
    objects = build.build_head(location=LOCATION)
    print(f"build_head on Blender {bpy.app.version_string}: {time.perf_counter() - start:.2f} s")
    return objects


def _evaluated_world(obj):
    """World positions [N, 3] of the evaluated (deformed) mesh."""
    depsgraph = bpy.context.evaluated_depsgraph_get()
    evaluated = obj.evaluated_get(depsgraph)
    data = evaluated.to_mesh()
    co = np.empty(len(data.vertices) * 3)
    data.vertices.foreach_get("co", co)
    evaluated.to_mesh_clear()
    m = np.array(obj.matrix_world, dtype=np.float64)
    co = co.reshape(-1, 3)
    return co @ m[:3, :3].T + m[:3, 3]


def _landmarks(head):
    return _evaluated_world(head.mesh)[list(head.mesh["neural_face_landmarks"])]


def test_structure(head):
    arm = head.armature
    bones = {b.name: (b.parent.name if b.parent else None) for b in arm.data.bones}
    assert bones == {"neck": None, "head": "neck", "jaw": "head", "eye.L": "head", "eye.R": "head"}
    slots = [s.material.name.split("_", 1)[1] for s in head.mesh.material_slots]
    assert tuple(slots) == mesh.REGIONS
    for region in ("skin", "lips", "sclera", "iris", "brows", "mouth_interior"):
        assert region in slots
    names = [k.name for k in head.mesh.data.shape_keys.key_blocks]
    assert names[0] == "Basis"
    ids = [n for n in names if n.startswith("id_")]
    assert len(ids) >= 24 and ids == [f"id_{i:02d}" for i in range(len(ids))]
    assert set(ARKIT_52) <= set(names) and len(names) == 1 + len(ids) + 52
    assert all(k.value == 0.0 for k in head.mesh.data.shape_keys.key_blocks[1:])
    assert head.mesh["neural_face_head"] == 1 and head.mesh.pass_index == 1
    assert head.mesh.parent == arm and arm.matrix_world.translation == Vector(LOCATION)
    assert {g.name for g in head.mesh.vertex_groups} == {"neck", "head", "jaw"}
    for eye, side in zip(head.eyes, "LR"):
        assert eye.parent_bone == f"eye.{side}"
        assert {s.material.name.split("_", 1)[1] for s in eye.material_slots} >= {"sclera", "iris"}
    # every face's material index is its region id
    regions = np.empty(len(head.mesh.data.polygons), dtype=np.int32)
    head.mesh.data.polygons.foreach_get("material_index", regions)
    assert set(regions.tolist()) >= {mesh.REGION[r] for r in ("skin", "lips", "brows", "mouth_interior")}


def test_landmark_map_points_at_canonical_positions(head):
    landmarks = list(head.mesh["neural_face_landmarks"])
    assert len(landmarks) == 468 and len(set(landmarks)) == 468
    assert max(landmarks) < len(head.mesh.data.vertices)
    positions, _, _ = canonical.read_obj()
    expected = canonical.to_head_frame(positions) + np.array(LOCATION)
    np.testing.assert_allclose(_landmarks(head), expected, atol=1e-6)


def test_closed_manifold(head):
    bm = bmesh.new()
    bm.from_mesh(head.mesh.data)
    non_manifold = sum(1 for e in bm.edges if not e.is_manifold)
    boundary = sum(1 for e in bm.edges if e.is_boundary)
    print(f"head: {len(bm.verts)} vertices, {len(bm.faces)} faces, "
          f"{non_manifold} non-manifold edges, {boundary} boundary edges")
    bm.free()
    assert non_manifold == 0 and boundary == 0
    uv = head.mesh.data.uv_layers.active
    co = np.empty(len(uv.data) * 2)
    uv.data.foreach_get("uv", co)
    assert co.min() >= 0 and co.max() <= 1


def _with_key(head, name, value=1.0):
    head.mesh.data.shape_keys.key_blocks[name].value = value
    return _landmarks(head)


def test_blink_closes_the_left_eye(head):
    rest = _landmarks(head)
    closed = _with_key(head, "eyeBlinkLeft")
    up, low = list(canonical.EYE_LEFT_UPPER[1:-1]), list(canonical.EYE_LEFT_LOWER[1:-1])
    before = np.linalg.norm(rest[up] - rest[low], axis=1)
    after = np.linalg.norm(closed[up] - closed[low], axis=1)
    assert after.max() < 0.1 * before.min()
    right = list(canonical.EYE_RIGHT_UPPER)
    np.testing.assert_allclose(closed[right], rest[right], atol=1e-7)


def test_jaw_open_key_and_jaw_bone_open_the_mouth(head):
    rest = _landmarks(head)
    gap = lambda p: p[canonical.UPPER_LIP_INNER, 2] - p[canonical.LOWER_LIP_INNER, 2]
    opened = _with_key(head, "jawOpen")
    assert gap(opened) > gap(rest) + 0.02
    head.mesh.data.shape_keys.key_blocks["jawOpen"].value = 0.0
    head.armature.pose.bones["jaw"].rotation_euler = (0.3, 0.0, 0.0)
    turned = _landmarks(head)
    assert gap(turned) > gap(rest) + 0.015
    np.testing.assert_allclose(turned[canonical.FOREHEAD], rest[canonical.FOREHEAD], atol=1e-7)


def test_smile_lifts_and_widens_the_left_corner(head):
    rest = _landmarks(head)
    smile = _with_key(head, "mouthSmileLeft")
    left, right = canonical.MOUTH_CORNER_LEFT, canonical.MOUTH_CORNER_RIGHT
    assert smile[left, 2] - rest[left, 2] > 0.004
    assert smile[left, 0] - rest[left, 0] > 0.003
    assert np.abs(smile[right] - rest[right]).max() < 5e-4


def test_eye_bones_turn_the_eyeballs(head):
    eye = head.eyes[0]
    front = Vector((0.0, -mesh.EYE_RADIUS, 0.0))
    bpy.context.view_layer.update()
    centre = eye.matrix_world.translation.copy()
    before = eye.matrix_world @ front
    assert (centre - before).length == pytest.approx(mesh.EYE_RADIUS, rel=1e-4)
    head.armature.pose.bones["eye.L"].rotation_euler = (0.3, 0.0, 0.0)
    bpy.context.view_layer.update()
    after = eye.matrix_world @ front
    assert (eye.matrix_world.translation - centre).length < 1e-6  # turns in place
    assert (after - before).length == pytest.approx(2 * mesh.EYE_RADIUS * np.sin(0.15), rel=1e-3)
    right_front = head.eyes[1].matrix_world @ front
    assert right_front.y == pytest.approx(LOCATION[1] + head.eyes[1].matrix_world.translation.y
                                          - LOCATION[1] - mesh.EYE_RADIUS, abs=1e-6)


def test_eyeballs_follow_identity_keys(head):
    bpy.context.view_layer.update()
    before = head.eyes[0].matrix_world.translation.copy()
    head.mesh.data.shape_keys.key_blocks["id_13"].value = 1.0  # eye spacing
    bpy.context.view_layer.update()
    moved = head.eyes[0].matrix_world.translation - before
    field = dict(zip(identity.identity_names(), identity.IDENTITY))["id_13"][1]
    local_centre = np.array(before) - np.array(LOCATION)
    expected = field(local_centre[None])[0]
    np.testing.assert_allclose(np.array(moved), expected, atol=1e-6)
    assert moved.x > 0.001  # the left eye moves to the left


def test_eye_drivers_pass_small_values_through(head):
    """Bug (Blender 5.0): driver F-curves came with keyframes at (0, 0), (1, 1) and a result in [0, 1e-4) read 0."""
    drivers = head.armature.animation_data.drivers
    assert len(drivers) > 0 and all(len(fcurve.keyframe_points) == 0 for fcurve in drivers)
    fcurve = next(f for f in drivers if f.data_path.endswith("location"))
    fcurve.driver.expression = "0.00005"  # 0.05 mm: a small identity offset
    bpy.context.view_layer.update()
    bone = head.armature.pose.bones[fcurve.data_path.split('"')[1]]
    assert bone.location[fcurve.array_index] == pytest.approx(0.00005, rel=1e-3)


def test_add_head_operator_builds_at_the_cursor():
    bpy.utils.register_class(add_head.NEURALFACE_OT_add_head)
    try:
        bpy.context.scene.cursor.location = (1.0, 2.0, 0.5)
        assert bpy.ops.neural_face.add_head(name="OpHead") == {"FINISHED"}
        obj = bpy.data.objects["OpHead"]
        assert obj["neural_face_head"] == 1
        assert bpy.data.objects["OpHead_rig"].location == Vector((1.0, 2.0, 0.5))
        assert bpy.context.view_layer.objects.active == obj
    finally:
        bpy.utils.unregister_class(add_head.NEURALFACE_OT_add_head)
