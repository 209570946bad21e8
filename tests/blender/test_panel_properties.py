"""scene.neural_face settings, the Neural Face panel, registration and unregistration."""

from pathlib import Path
from types import SimpleNamespace

import pytest

import bpy
from blender_addon import properties
from blender_addon.jobs import render_job
from blender_addon.ui.panel import NEURALFACE_PT_render
from tests.blender.render_helpers import ADDON

OPERATORS = ("render_animation", "render_frame", "setup_compositor")


class RecordingLayout:
    """Stands in for ``UILayout`` and records what the panel draws."""

    def __init__(self, log=None):
        self.log = [] if log is None else log
        self.enabled = self.active = True
        self.use_property_split = self.use_property_decorate = False

    def _child(self, *args, **kwargs):
        return RecordingLayout(self.log)

    row = column = box = split = _child

    def prop(self, data, name, **kwargs):
        assert hasattr(data, name), name
        self.log.append(("prop", name))

    def operator(self, idname, **kwargs):
        self.log.append(("operator", idname))

    def progress(self, factor=0.0, type="BAR", text=""):
        self.log.append(("progress", factor, text))

    def label(self, text="", **kwargs):
        self.log.append(("label", text))

    def separator(self, **kwargs):
        pass


def draw_panel(scene):
    layout = RecordingLayout()
    NEURALFACE_PT_render.draw(SimpleNamespace(layout=layout), SimpleNamespace(scene=scene))
    return layout.log


def test_settings_have_the_documented_defaults(addon):
    props = bpy.context.scene.neural_face
    assert props.head_object is None and props.model_path == ""
    assert props.device == "AUTO" and props.output_folder == "//neural_face/"
    assert props.file_format == "PNG" and props.png_depth == "8"
    assert props.appearance_seed == 0 and props.smoothing == 0.0 and props.stabilise_colour is False
    assert props.stabilise_brightness is False
    assert props.passes_engine == "CYCLES" and props.passes_samples >= 1
    assert not props.is_running and props.progress == 0.0


def test_head_must_be_a_mesh(addon):
    scene = bpy.context.scene
    mesh = bpy.data.objects.new("Head", bpy.data.meshes.new("Head"))
    empty = bpy.data.objects.new("Empty", None)
    scene.collection.objects.link(mesh)
    scene.collection.objects.link(empty)
    scene.neural_face.head_object = mesh
    assert scene.neural_face.head_object == mesh
    poll = type(scene.neural_face).bl_rna.properties["head_object"]
    assert poll.fixed_type.identifier == "Object"
    assert properties._is_mesh(scene.neural_face, mesh) and not properties._is_mesh(scene.neural_face, empty)


def test_settings_snapshot_resolves_blend_relative_output(addon, tmp_path):
    scene = bpy.context.scene
    props = scene.neural_face
    props.file_format, props.png_depth, props.device = "EXR", "16", "CPU"
    props.appearance_seed, props.smoothing, props.passes_samples = 7, 0.25, 3
    props.stabilise_colour = True
    scene.frame_start, scene.frame_end = 5, 9
    blend = tmp_path / "shots" / "scene.blend"
    blend.parent.mkdir()
    bpy.ops.wm.save_as_mainfile(filepath=str(blend))
    settings = render_job.settings_from_scene(scene, "/usr/bin/python3")
    assert Path(settings.output_folder) == (tmp_path / "shots" / "neural_face").resolve()
    assert settings.shot_folder == Path(settings.output_folder) / "shot"
    assert settings.frame_path(5).name == "neural_0005.exr"
    assert (settings.frame_start, settings.frame_end) == (5, 9)
    assert (settings.file_format, settings.png_depth, settings.device) == ("exr", 16, "cpu")
    assert (settings.appearance, settings.smoothing, settings.passes_samples) == (7, 0.25, 3)
    assert settings.stabilise_colour is True and settings.stabilise_brightness is False
    assert settings.worker_python == "/usr/bin/python3"
    props.stabilise_colour, props.stabilise_brightness = False, True  # brightness implies the colour stabiliser
    settings = render_job.settings_from_scene(scene, "/usr/bin/python3")
    assert settings.stabilise_colour is True and settings.stabilise_brightness is True


def test_the_look_setting_names_a_seed_the_typical_photo_or_a_training_frame(addon, tmp_path):
    scene = bpy.context.scene
    props = scene.neural_face
    props.output_folder = str(tmp_path)
    props.appearance_seed, props.appearance_frame = 7, 12
    assert props.appearance_look == "SEED"
    looks = {"SEED": 7, "TYPICAL": "typical", "FRAME": "frame:12"}
    for look, expected in looks.items():
        props.appearance_look = look
        assert render_job.settings_from_scene(scene).appearance == expected
        drawn = {name for kind, name, *rest in draw_panel(scene) if kind == "prop"}
        assert ("appearance_seed" in drawn, "appearance_frame" in drawn) == (look == "SEED", look == "FRAME")
        request = render_job.worker_client.RenderRequest(shot="s", out="o", frame_start=1, frame_end=2,
                                                         appearance=render_job.settings_from_scene(scene).appearance)
        argv = render_job.worker_client.render_command("python", request)
        assert argv[argv.index("--appearance") + 1] == str(expected)


def test_relative_output_of_an_unsaved_file_is_refused(addon):
    with pytest.raises(render_job.NeuralFaceError, match="not saved"):
        render_job.settings_from_scene(bpy.context.scene)


def test_settings_are_saved_with_the_file_but_not_the_running_flag(addon, tmp_path):
    import addon_utils

    scene = bpy.context.scene
    scene.neural_face.appearance_seed = 42
    render_job.mark_running(scene, True)
    path = tmp_path / "saved.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(path))
    render_job.mark_running(scene, False)
    bpy.ops.wm.open_mainfile(filepath=str(path), load_ui=False)
    addon_utils.enable(ADDON, default_set=True)
    props = bpy.context.scene.neural_face
    assert props.appearance_seed == 42
    assert not props.is_running


def test_panel_draws_settings_and_buttons(addon):
    log = draw_panel(bpy.context.scene)
    drawn = {name for kind, name, *rest in log if kind == "prop"}
    assert {"head_object", "model_path", "device", "output_folder", "file_format", "png_depth",
            "appearance_look", "appearance_seed", "smoothing", "stabilise_colour", "stabilise_brightness", "passes_engine",
            "passes_samples"} <= drawn
    buttons = {name for kind, name, *rest in log if kind == "operator"}
    assert {f"neural_face.{op}" for op in OPERATORS} <= buttons
    assert not any(kind == "progress" for kind, *rest in log)
    for op in OPERATORS:
        assert hasattr(bpy.types, f"NEURAL_FACE_OT_{op}")


def test_panel_shows_progress_while_a_job_runs(addon):
    scene = bpy.context.scene
    props = scene.neural_face
    props.frames_done, props.frames_total, props.progress, props.eta_text = 12, 48, 0.25, "1:30"
    render_job.mark_running(scene, True)
    try:
        assert props.is_running
        log = draw_panel(scene)
    finally:
        render_job.mark_running(scene, False)
    bars = [entry for entry in log if entry[0] == "progress"]
    assert bars == [("progress", pytest.approx(0.25), "12/48 frames, 1:30 left")]


def test_panel_offers_add_head_when_registered(addon):
    has_add_head = hasattr(bpy.types, "NEURAL_FACE_OT_add_head")
    buttons = {name for kind, name, *rest in draw_panel(bpy.context.scene) if kind == "operator"}
    assert ("neural_face.add_head" in buttons) == has_add_head


def test_panel_lives_in_render_properties(addon):
    panel = bpy.types.NEURALFACE_PT_render
    assert (panel.bl_space_type, panel.bl_region_type, panel.bl_context) == ("PROPERTIES", "WINDOW", "render")


def test_disable_leaves_nothing_behind(addon):
    import addon_utils

    handlers_before = {name: len(getattr(bpy.app.handlers, name)) for name in dir(bpy.app.handlers)
                       if isinstance(getattr(bpy.app.handlers, name), list)}
    addon_utils.disable(ADDON, default_set=True)
    assert not hasattr(bpy.types.Scene, "neural_face")
    for op in OPERATORS:
        assert not hasattr(bpy.types, f"NEURAL_FACE_OT_{op}")
    assert not hasattr(bpy.types, "NEURALFACE_PT_render")
    for name, count in handlers_before.items():
        assert len(getattr(bpy.app.handlers, name)) <= count
        assert not any("blender_addon" in getattr(h, "__module__", "") for h in getattr(bpy.app.handlers, name))
    addon_utils.enable(ADDON, default_set=True)  # the fixture disables it again


def test_path_settings_accept_blend_relative_paths_without_warning(addon):
    import warnings

    props = bpy.context.scene.neural_face
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # Blender warns when '//' is set on a path without the flag
        props.output_folder = "//renders/"
        props.model_path = "//models/face.safetensors"
    assert props.output_folder == "//renders/"
