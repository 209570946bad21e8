"""Camera K / world-to-camera against Blender's own projection, and rig reading per frame."""

import math

import bpy
import numpy as np
import pytest
from bpy_extras.object_utils import world_to_camera_view

from blender_addon.export import camera, rig
from neural_core.contract.errors import NeuralFaceError
from neural_core.contract.rig.profiles import match_profile
from tests.blender import export_rigs


def _blender_pixels(scene, cam_eval, points, width, height):
    """world_to_camera_view's normalised coordinates converted to pixels (y down)."""
    out = []
    for p in points:
        ndc = world_to_camera_view(scene, cam_eval, __import__("mathutils").Vector(p))
        out.append((ndc.x * width, (1.0 - ndc.y) * height))
    return np.array(out)


@pytest.mark.parametrize("fit", ["AUTO", "HORIZONTAL", "VERTICAL"])
@pytest.mark.parametrize("size, percent, aspect", [
    ((320, 200), 100, (1.0, 1.0)),
    ((200, 320), 50, (1.0, 1.0)),
    ((300, 300), 75, (2.0, 1.0)),
    ((240, 260), 100, (1.0, 1.7)),
])
def test_intrinsics_match_world_to_camera_view(fit, size, percent, aspect):
    scene = bpy.context.scene
    scene.render.resolution_x, scene.render.resolution_y = size
    scene.render.resolution_percentage = percent
    scene.render.pixel_aspect_x, scene.render.pixel_aspect_y = aspect
    cam = export_rigs.add_camera(lens=42.0)
    cam.scale = (1.0, 2.0, 0.5)  # camera scale must not matter
    cam.data.sensor_fit = fit
    cam.data.sensor_height = 18.0
    cam.data.shift_x, cam.data.shift_y = 0.07, -0.11
    dg = bpy.context.evaluated_depsgraph_get()
    rng = np.random.default_rng(0)
    points = rng.uniform(-1.5, 1.5, size=(50, 3))
    K, w2c = camera.camera_frame(scene, dg)
    width, height = camera.output_size(scene.render)
    assert (width, height) == (size[0] * percent // 100, size[1] * percent // 100)
    ours, z = camera.project(points, K, w2c)
    theirs = _blender_pixels(scene, cam.evaluated_get(dg), points, width, height)
    assert np.all(z > 0)
    np.testing.assert_allclose(ours, theirs, atol=0.01)


def test_world_to_camera_uses_opencv_axes():
    cam = export_rigs.add_camera(location=(0, 0, 5), rotation_deg=(0, 0, 0))
    bpy.context.view_layer.update()
    w2c = camera.world_to_camera(cam.matrix_world)
    # A point in front of a camera looking down world -Z, above its centre in the image.
    p = w2c @ np.array([0.0, 1.0, 0.0, 1.0])
    np.testing.assert_allclose(p[:3], [0.0, -1.0, 5.0], atol=1e-6)


def test_orthographic_and_missing_cameras_are_refused():
    scene = bpy.context.scene
    dg = bpy.context.evaluated_depsgraph_get()
    with pytest.raises(NeuralFaceError, match="no active camera"):
        camera.camera_frame(scene, dg)
    cam = export_rigs.add_camera()
    cam.data.type = "ORTHO"
    dg = bpy.context.evaluated_depsgraph_get()
    with pytest.raises(NeuralFaceError, match="orthographic"):
        camera.camera_frame(scene, dg)


def test_rig_reader_follows_keys_drivers_and_bones_frame_by_frame():
    head, arm, cam = export_rigs.keyed_sphere_scene(frames=48)
    scene = bpy.context.scene
    match = rig.match_rig(head)
    assert match.profile == "arkit52"
    assert set(match.joints) == {"head", "neck", "jaw", "eye.L", "eye.R"}
    reader = rig.RigReader(head, match)
    names = match.coefficient_names
    jaw_fcurve = arm.animation_data.action  # keyed; compare by the pose itself below
    seen = set()
    for frame in range(1, 49):
        scene.frame_set(frame)
        dg = bpy.context.evaluated_depsgraph_get()
        state = reader.read(dg)
        key_eval = head.data.shape_keys.evaluated_get(dg).key_blocks
        pose = arm.evaluated_get(dg).pose.bones
        # Keyed keys: exactly Blender's evaluated values (float32 values, exported as float64).
        for coefficient, key_name in (("eyeBlinkLeft", "eyeBlink_L"), ("id_00", "id_00"),
                                      ("mouthSmileLeft", "mouthSmileLeft")):
            assert state.coefficients[names.index(coefficient)] == key_eval[key_name].value
        # The driven key: 2 x the jaw's local X rotation, clamped to the slider range.
        jaw_x = pose["jaw"].rotation_euler.x
        assert state.coefficients[names.index("jawOpen")] == key_eval["jawOpen"].value
        expected = min(max(2 * jaw_x, key_eval["jawOpen"].slider_min), key_eval["jawOpen"].slider_max)
        assert state.coefficients[names.index("jawOpen")] == pytest.approx(expected, abs=1e-6)
        # Missing ARKit names read zero.
        assert state.coefficients[names.index("tongueOut")] == 0.0
        # Joint rotations relative to rest equal the keyed local rotations.
        for joint in ("jaw", "eye.L", "eye.R", "neck"):
            expected = np.array(pose[joint].matrix_basis.to_3x3(), dtype=np.float64)
            np.testing.assert_allclose(state.joints[joint], expected, atol=1e-5)
        seen.add(round(float(state.coefficients[names.index("jawOpen")]), 4))
    assert len(seen) > 10  # the driver really varied over the shot
    assert jaw_fcurve is not None


def test_head_pose_moves_the_rigidly_attached_vertices():
    head, arm, cam = export_rigs.keyed_sphere_scene(frames=12)
    scene = bpy.context.scene
    reader = rig.RigReader(head, rig.match_rig(head))
    scene.frame_set(12)
    dg = bpy.context.evaluated_depsgraph_get()
    state = reader.read(dg)
    # A vertex weighted to the head bone only, with all shape keys at rest, moves by head_world.
    index = max(range(len(head.data.vertices)), key=lambda i: head.data.vertices[i].co.z)
    for kb in head.data.shape_keys.key_blocks:
        kb.mute = True
    dg = bpy.context.evaluated_depsgraph_get()
    dg.update()
    mesh = head.evaluated_get(dg).to_mesh()
    posed = np.array(head.matrix_world, dtype=np.float64) @ np.array([*mesh.vertices[index].co, 1.0])
    head.evaluated_get(dg).to_mesh_clear()
    rest = np.array([*head.data.vertices[index].co, 1.0])
    np.testing.assert_allclose(state.head_world @ rest, posed, atol=1e-5)
    assert not np.allclose(state.head_world[:3, :3], np.eye(3), atol=1e-3)
    assert reader.coefficients(dg).max() == 0.0  # muted keys read zero


def test_find_head_errors():
    scene = bpy.context.scene
    with pytest.raises(NeuralFaceError, match="cannot tell which object is the head"):
        rig.find_head(scene)
    with pytest.raises(NeuralFaceError, match="'Nope' is not in scene"):
        rig.find_head(scene, "Nope")
    bpy.ops.mesh.primitive_cube_add()
    bpy.context.object.name = "Cube"
    with pytest.raises(NeuralFaceError, match="no shape keys"):
        rig.find_head(scene, "Cube")


def test_flame_rig_reads_with_the_flame_profile():
    bones = (("root", (0, 0, -2), (0, 0, -1.6), None),
             ("neck", (0, 0, -1.6), (0, 0, -0.8), "root"),
             ("jaw", (0, -0.1, -0.3), (0, -0.9, -0.7), "neck"),
             ("left_eye", (0.35, -0.8, 0.25), (0.35, -1.1, 0.25), "neck"),
             ("right_eye", (-0.35, -0.8, 0.25), (-0.35, -1.1, 0.25), "neck"))
    arm = export_rigs.add_armature(bones, name="FLAME")
    names = [f"Shape{i:03d}" for i in range(300)] + [f"Exp{i:03d}" for i in range(100)]
    head = export_rigs.add_sphere_head(names, segments=8, rings=6, armature=arm,
                                       head_bone="neck")
    blocks = head.data.shape_keys.key_blocks
    blocks["Shape007"].value = 0.25
    blocks["Exp042"].value = -0.5  # slider_min is 0 by default
    blocks["Exp042"].slider_min = -1.0
    blocks["Exp042"].value = -0.5
    arm.pose.bones["jaw"].rotation_mode = "XYZ"
    arm.pose.bones["jaw"].rotation_euler = (0.3, 0, 0)
    match = rig.match_rig(head)
    assert match.profile == "flame" and len(match.coefficient_names) == 400
    assert match.joints == {"head": "root", "neck": "neck", "jaw": "jaw",
                            "eye.L": "left_eye", "eye.R": "right_eye"}
    dg = bpy.context.evaluated_depsgraph_get()
    state = rig.RigReader(head, match).read(dg)
    assert state.coefficients[7] == 0.25 and state.coefficients[342] == -0.5
    assert np.count_nonzero(state.coefficients) == 2
    np.testing.assert_allclose(state.joints["jaw"][1:, 1:],
                               [[math.cos(0.3), -math.sin(0.3)], [math.sin(0.3), math.cos(0.3)]],
                               atol=1e-6)


def test_profile_error_lists_the_rig_keys():
    head = export_rigs.add_sphere_head(["smile", "frown"], segments=8, rings=6)
    with pytest.raises(NeuralFaceError) as info:
        rig.match_rig(head)
    assert "'smile'" in str(info.value) and "custom map" in str(info.value)
    match = match_profile("custom", rig.shape_key_names(head), custom_map={"frown": {"name": "sad", "scale": 2}})
    head.data.shape_keys.key_blocks["frown"].value = 0.25
    dg = bpy.context.evaluated_depsgraph_get()
    assert rig.RigReader(head, match).coefficients(dg).tolist() == [0.5]
