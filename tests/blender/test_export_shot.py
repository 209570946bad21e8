"""export_shot end to end: the bundled head over 48 frames, errors, atomic replacement."""

import json

import bpy
import mathutils
import numpy as np
import pytest
from bpy_extras.object_utils import world_to_camera_view

from blender_addon.export import camera
from blender_addon.export.exporter import ExportSettings, export_shot
from neural_core.contract.errors import CancelledError, NeuralFaceError
from neural_core.contract.shot import read_shot, validate_shot
from tests.blender import export_rigs

FRAMES = 48


def _evaluated_points(obj, depsgraph):
    """World positions [N, 3] of the evaluated mesh of ``obj``."""
    obj_eval = obj.evaluated_get(depsgraph)
    mesh = obj_eval.to_mesh()
    co = np.empty(len(mesh.vertices) * 3)
    mesh.vertices.foreach_get("co", co)
    obj_eval.to_mesh_clear()
    world = np.array(obj_eval.matrix_world, dtype=np.float64)
    return co.reshape(-1, 3) @ world[:3, :3].T + world[:3, 3]


def _blender_pixels(scene, cam_eval, points):
    width, height = camera.output_size(scene.render)
    ndc = np.array([world_to_camera_view(scene, cam_eval, mathutils.Vector(p)) for p in points])
    return np.stack([ndc[:, 0] * width, (1.0 - ndc[:, 1]) * height], axis=1)


def test_bundled_head_48_frames_coefficients_and_projection(tmp_path):
    head, arm, cam, driven = export_rigs.bundled_head_scene(FRAMES)
    scene = bpy.context.scene
    scene.render.resolution_x, scene.render.resolution_y = 320, 240
    scene.render.resolution_percentage = 50
    scene.render.pixel_aspect_x = 1.25
    folder = export_shot(scene, ExportSettings(output=str(tmp_path / "shot"), passes=False))
    shot = read_shot(folder)
    assert shot.rig_profile == "arkit52" and shot.passes == {}
    assert [r.frame for r in shot.frames] == list(range(1, FRAMES + 1))
    assert shot.resolution == (160, 120)
    names = shot.coefficient_names
    assert len([n for n in names if n.startswith("id_")]) >= 24 and "tongueOut" in names
    assert scene.frame_current == 1  # the scene's frame is put back
    fits, lenses, driven_values = set(), set(), []
    sample = np.random.default_rng(0).choice(len(head.data.vertices), 150, replace=False)
    landmarks = np.array(head["neural_face_landmarks"])
    for record in shot.frames:
        scene.frame_set(record.frame)
        dg = bpy.context.evaluated_depsgraph_get()
        key_eval = head.data.shape_keys.evaluated_get(dg).key_blocks
        # Exactly the evaluated values (keyed, driven, bone-driven alike).
        expected = np.array([key_eval[n].value if n in key_eval else 0.0 for n in names])
        np.testing.assert_array_equal(record.coefficients, expected)
        frame_value = 0.5 + 0.4 * np.sin(record.frame / 5)
        assert record.coefficients[names.index(driven)] == pytest.approx(frame_value, abs=1e-6)
        driven_values.append(record.coefficients[names.index(driven)])
        # Projection with the exported K / world_to_camera == Blender's own, within 0.01 px.
        cam_eval = cam.evaluated_get(dg)
        points = _evaluated_points(head, dg)
        ours, z = camera.project(points[sample], record.K, record.world_to_camera)
        np.testing.assert_allclose(ours, _blender_pixels(scene, cam_eval, points[sample]), atol=0.01)
        np.testing.assert_allclose(record.landmarks, _blender_pixels(scene, cam_eval, points[landmarks]),
                                   atol=0.01)
        assert np.all(z > 0)
        # Joints relative to rest = the keyed local rotations.
        pose = arm.evaluated_get(dg).pose.bones
        np.testing.assert_allclose(record.joints["jaw"], np.array(pose["jaw"].matrix_basis.to_3x3()),
                                   atol=1e-5)
        fits.add(cam_eval.data.sensor_fit)
        lenses.add(round(cam_eval.data.lens, 3))
    assert fits == {"AUTO", "VERTICAL", "HORIZONTAL"} and len(lenses) > 10
    assert np.ptp(driven_values) > 0.5
    # The rest of each frame record agrees with itself.
    record = shot.frames[-1]
    np.testing.assert_allclose(record.head_camera.matrix(),
                               record.world_to_camera @ record.head_world.matrix(), atol=1e-9)


def test_flame_rig_exports_with_the_flame_profile(tmp_path):
    bones = (("root", (0, 0, -2), (0, 0, -1.6), None),
             ("neck", (0, 0, -1.6), (0, 0, -0.8), "root"),
             ("jaw", (0, -0.1, -0.3), (0, -0.9, -0.7), "neck"),
             ("left_eye", (0.35, -0.8, 0.25), (0.35, -1.1, 0.25), "neck"),
             ("right_eye", (-0.35, -0.8, 0.25), (-0.35, -1.1, 0.25), "neck"))
    arm = export_rigs.add_armature(bones, name="FLAME")
    names = [f"Shape{i:03d}" for i in range(300)] + [f"Exp{i:03d}" for i in range(100)]
    head = export_rigs.add_sphere_head(names, segments=8, rings=6, armature=arm, head_bone="neck")
    head.data.shape_keys.key_blocks["Exp003"].value = 0.75
    export_rigs.add_camera()
    scene = bpy.context.scene
    scene.frame_start, scene.frame_end = 1, 3
    shot = read_shot(export_shot(scene, ExportSettings(output=str(tmp_path / "flame"), passes=False)))
    assert shot.rig_profile == "flame" and len(shot.coefficient_names) == 400
    assert shot.frames[0].coefficients[303] == 0.75
    assert set(shot.frames[0].joints) == {"neck", "jaw", "eye.L", "eye.R"}


def _simple_scene(frames=4):
    head, arm, cam = export_rigs.keyed_sphere_scene(frames=frames)
    scene = bpy.context.scene
    scene.render.resolution_x, scene.render.resolution_y = 32, 24
    return head, arm, cam, scene


def test_errors_are_clear_and_write_nothing(tmp_path):
    head, arm, cam, scene = _simple_scene()
    out = tmp_path / "shot"

    def fails(match, **kwargs):
        with pytest.raises(NeuralFaceError, match=match):
            export_shot(scene, ExportSettings(output=str(out), passes=False, **kwargs))
        assert not out.exists() and list(tmp_path.iterdir()) == []

    fails("frame range 5..4 is empty", frame_start=5, frame_end=4)
    fails("head object 'Nobody' is not in scene", head_object="Nobody")
    bpy.ops.mesh.primitive_cube_add()
    bpy.context.object.name = "Plain"
    fails("'Plain' has no shape keys", head_object="Plain")
    cam.data.type = "ORTHO"
    fails("orthographic")
    cam.data.type = "PERSP"
    scene.camera = None
    fails("no active camera")
    scene.camera = cam
    with pytest.raises(NeuralFaceError, match="WORKBENCH cannot give the pass\\(es\\) mask"):
        export_shot(scene, ExportSettings(output=str(out), engine="WORKBENCH", pass_names=("mask",)))
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    with pytest.raises(NeuralFaceError, match="not writable"):
        export_shot(scene, ExportSettings(output=str(blocker / "shot"), passes=False))
    stranger = tmp_path / "photos"
    stranger.mkdir()
    (stranger / "holiday.jpg").write_text("x")
    with pytest.raises(NeuralFaceError, match="refusing to replace"):
        export_shot(scene, ExportSettings(output=str(stranger), passes=False))
    assert (stranger / "holiday.jpg").exists()


@pytest.mark.parametrize("how", ["interrupt", "cancel", "render-error"])
def test_interrupted_export_keeps_the_previous_shot(tmp_path, how):
    head, arm, cam, scene = _simple_scene()
    out = tmp_path / "shot"
    export_shot(scene, ExportSettings(output=str(out), passes=False))
    before = (out / "shot.json").read_text()
    engine, fmt_before = scene.render.engine, scene.render.image_settings.file_format
    scene.frame_set(3)

    def progress(done, total):
        if done == 2:
            if how == "interrupt":
                raise KeyboardInterrupt
            if how == "cancel":
                return False
            bpy.data.objects.remove(scene.camera)  # the next frame cannot be read
        return True

    expected = {"interrupt": KeyboardInterrupt, "cancel": CancelledError,
                "render-error": NeuralFaceError}[how]
    with pytest.raises(expected):
        export_shot(scene, ExportSettings(output=str(out), frame_end=4, samples=2), progress=progress)
    assert (out / "shot.json").read_text() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["shot"]  # no partial folder left
    assert not (out / "passes").exists()
    # Render settings and the current frame are back.
    assert scene.render.engine == engine and scene.render.image_settings.file_format == fmt_before
    assert not scene.view_layers[0].use_pass_z and scene.frame_current == 3


def test_a_second_export_replaces_the_first(tmp_path):
    head, arm, cam, scene = _simple_scene()
    out = tmp_path / "shot"
    export_shot(scene, ExportSettings(output=str(out), passes=True, frame_end=2))
    assert (out / "passes" / "0002.exr").is_file()
    export_shot(scene, ExportSettings(output=str(out), passes=False, frame_end=3))
    shot = validate_shot(out)
    assert len(shot.frames) == 3 and shot.passes == {} and not (out / "passes").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["shot"]


def test_render_settings_are_restored_after_a_pass_export(tmp_path):
    head, arm, cam, scene = _simple_scene()
    scene.render.engine = "BLENDER_WORKBENCH"
    scene.render.filepath = "//user/out_"
    scene.cycles.samples = 77
    scene.render.image_settings.file_format = "JPEG"
    layer = scene.view_layers[0]
    layer.use_pass_normal = True
    head.pass_index = 0
    before = (scene.render.engine, scene.render.filepath, scene.cycles.samples,
              scene.render.image_settings.file_format, layer.use_pass_normal, layer.use_pass_z,
              scene.cycles.filter_width, head.pass_index, scene.render.use_compositing)
    folder = export_shot(scene, ExportSettings(output=str(tmp_path / "s"), frame_end=2, samples=1))
    shot = validate_shot(folder)
    assert shot.render["engine"] == "CYCLES" and shot.render["mask_pass_index"] == 1
    after = (scene.render.engine, scene.render.filepath, scene.cycles.samples,
             scene.render.image_settings.file_format, layer.use_pass_normal, layer.use_pass_z,
             scene.cycles.filter_width, head.pass_index, scene.render.use_compositing)
    assert after == before
    if hasattr(scene.render.image_settings, "media_type"):
        assert scene.render.image_settings.media_type == "IMAGE"


def test_operator_exports_and_reports_errors(tmp_path):
    from blender_addon.operators.export_shot import NEURALFACE_OT_export_shot

    head, arm, cam, scene = _simple_scene()
    bpy.utils.register_class(NEURALFACE_OT_export_shot)
    try:
        result = bpy.ops.neural_face.export_shot(directory=str(tmp_path / "op"), use_passes=False,
                                                 use_scene_range=False, frame_start=2, frame_end=3)
        assert result == {"FINISHED"}
        shot = read_shot(tmp_path / "op")
        assert [r.frame for r in shot.frames] == [2, 3]
        scene.camera = None
        with pytest.raises(RuntimeError, match="no active camera"):
            bpy.ops.neural_face.export_shot(directory=str(tmp_path / "op2"), use_passes=False)
        assert not (tmp_path / "op2").exists()
    finally:
        bpy.utils.unregister_class(NEURALFACE_OT_export_shot)


def test_every_frame_has_every_coefficient_as_float64(tmp_path):
    head, arm, cam, scene = _simple_scene()
    shot = read_shot(export_shot(scene, ExportSettings(output=str(tmp_path / "s"), passes=False)))
    matrix = np.stack([record.coefficients for record in shot.frames])
    assert matrix.shape == (4, len(shot.coefficient_names)) and matrix.dtype == np.float64
    assert json.loads((tmp_path / "s" / "shot.json").read_text())["format"] == "neural-face-shot"
