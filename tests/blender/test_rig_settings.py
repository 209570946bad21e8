"""The scene's rig profile and rig map (issue 13.1, 13.2): every path uses them, the
panel shows them and the worker's warnings, and a FLAME-named rig run through the real
worker is refused (nothing drives the model) or rendered with a warning (a partial map).
"""

import argparse
import json
import math
import os
import subprocess
import sys

import pytest

import bpy
from blender_addon.jobs import headless, render_job
from blender_addon.jobs.events import JobProgress
from neural_core.contract.errors import NeuralFaceError
from neural_core.contract.shot import read_shot
from tests.blender import export_rigs
from tests.blender.test_panel_properties import draw_panel
from tests.conftest import ROOT

pytestmark = pytest.mark.timeout(300)

WORKER_PYTHON = ROOT / ".venv" / "bin" / "python"
MAP = {"Exp000": "jawOpen", "Exp001": {"name": "eyeBlinkLeft", "scale": 0.5}}  # retarget two FLAME keys


def map_text(name="rig_map", data=MAP):
    text = bpy.data.texts.new(name)
    text.write(data if isinstance(data, str) else json.dumps(data))
    return text


def headless_args(*argv):
    return headless.add_job_arguments(argparse.ArgumentParser()).parse_args(list(argv))


# -- settings ------------------------------------------------------------------------

def test_rig_settings_default_to_auto_and_reach_the_exporters_settings(addon, tmp_path):
    scene = bpy.context.scene
    props = scene.neural_face
    assert props.rig_profile == "auto" and props.rig_map_file == "" and props.rig_map_text is None
    props.output_folder = str(tmp_path)
    settings = render_job.settings_from_scene(scene)
    assert (settings.rig_profile, settings.custom_map) == ("auto", "")
    props.rig_profile = "flame"
    export = render_job._export_settings(render_job.settings_from_scene(scene))
    assert (export.rig_profile, export.custom_map) == ("flame", "")


def test_a_map_file_or_text_block_is_used_for_the_custom_profile_only(addon, tmp_path):
    scene = bpy.context.scene
    props = scene.neural_face
    props.output_folder = str(tmp_path)
    path = tmp_path / "map.json"
    path.write_text(json.dumps(MAP))
    props.rig_map_file = str(path)
    assert render_job.settings_from_scene(scene).custom_map == ""  # profile auto: the map is not read
    props.rig_profile = "custom"
    settings = render_job.settings_from_scene(scene)
    assert (settings.rig_profile, settings.custom_map) == ("custom", str(path))
    export = render_job._export_settings(settings)
    assert (export.rig_profile, export.custom_map) == ("custom", str(path))
    props.rig_map_file = ""
    props.rig_map_text = map_text()
    assert render_job.settings_from_scene(scene).custom_map == MAP


@pytest.mark.parametrize("problem, needle", [
    ("none", "needs a Rig Map"),
    ("both", "not both"),
    ("bad json", "text block 'rig_map': the rig map is not valid JSON"),
    ("bad entry", "text block 'rig_map': entry 'Exp000'"),
])
def test_bad_rig_map_settings_are_refused_before_the_export(addon, tmp_path, problem, needle):
    scene = bpy.context.scene
    props = scene.neural_face
    props.output_folder = str(tmp_path)
    props.rig_profile = "custom"
    if problem == "both":
        props.rig_map_file = str(tmp_path / "map.json")
        props.rig_map_text = map_text()
    elif problem == "bad json":
        props.rig_map_text = map_text(data="{'Exp000': jawOpen}")
    elif problem == "bad entry":
        props.rig_map_text = map_text(data={"Exp000": 3})
    with pytest.raises(NeuralFaceError, match=needle):
        render_job.settings_from_scene(scene)


def test_a_missing_map_file_is_refused_before_the_export(addon, tmp_path):
    scene = bpy.context.scene
    scene.neural_face.output_folder = str(tmp_path)
    scene.neural_face.rig_profile = "custom"
    scene.neural_face.rig_map_file = str(tmp_path / "absent.json")
    settings = render_job.settings_from_scene(scene, frame_start=1, frame_end=1)
    with pytest.raises(NeuralFaceError, match="absent.json: cannot read the custom rig map"):
        render_job.check_settings(settings)


def test_headless_profile_and_map_arguments_override_the_scene(addon, tmp_path):
    scene = bpy.context.scene
    path = tmp_path / "map.json"
    path.write_text(json.dumps(MAP))
    out = ["--out", str(tmp_path / "out")]
    settings = headless.settings_for(scene, headless_args(*out, "--map", str(path)))
    assert (settings.rig_profile, settings.custom_map) == ("custom", str(path))  # --map implies custom
    settings = headless.settings_for(scene, headless_args(*out, "--profile", "flame"))
    assert (settings.rig_profile, settings.custom_map) == ("flame", "")
    scene.neural_face.rig_profile = "custom"  # the scene's map, text block included, with --profile custom
    scene.neural_face.rig_map_text = map_text()
    settings = headless.settings_for(scene, headless_args(*out, "--profile", "custom"))
    assert settings.custom_map == MAP
    with pytest.raises(NeuralFaceError, match="needs rig profile 'custom', not 'arkit52'"):
        headless.settings_for(scene, headless_args(*out, "--profile", "arkit52", "--map", str(path)))
    with pytest.raises(SystemExit):
        headless_args("--profile", "mocap")


def test_export_shot_operator_takes_the_scenes_rig_settings(addon, tmp_path):
    export_rigs.flame_head_scene(frames=1, shape=2, expression=3)
    scene = bpy.context.scene
    scene.neural_face.rig_profile = "custom"
    scene.neural_face.rig_map_text = map_text()
    result = bpy.ops.neural_face.export_shot(directory=str(tmp_path / "shot"), use_passes=False)
    assert result == {"FINISHED"}
    shot = read_shot(tmp_path / "shot")
    assert shot.rig_profile == "custom" and shot.coefficient_names == ["jawOpen", "eyeBlinkLeft"]
    result = bpy.ops.neural_face.export_shot(directory=str(tmp_path / "flame"), use_passes=False, rig_profile="flame")
    assert result == {"FINISHED"} and read_shot(tmp_path / "flame").rig_profile == "flame"


# -- panel ---------------------------------------------------------------------------

def test_panel_shows_the_rig_settings(addon):
    drawn = {name for kind, name, *rest in draw_panel(bpy.context.scene) if kind == "prop"}
    assert {"rig_profile", "rig_map_file", "rig_map_text"} <= drawn


def test_panel_shows_the_last_jobs_warnings_until_the_next_job(addon):
    scene = bpy.context.scene
    progress = JobProgress()
    for event in ({"event": "start", "total": 2},
                  {"event": "warning", "message": "first warning"},
                  {"event": "warning", "message": "the shot (rig profile 'custom') has no values for 50 of the "
                                                  "model's 52 expression coefficients: eyeLookDownLeft, ..."}):
        progress.add(event)
    render_job.show_progress(scene, progress)
    labels = [entry[1] for entry in draw_panel(scene) if entry[0] == "label"]
    assert "first warning" in labels
    assert any(label.startswith("the shot (rig profile 'custom')") for label in labels)
    assert any("eyeLookDownLeft" in label for label in labels)  # wrapped onto a further line
    assert all(len(label) <= 60 for label in labels if "warning" in label or "shot" in label)
    render_job.mark_running(scene, True)  # a new job starts
    render_job.mark_running(scene, False)
    assert not any("first warning" == entry[1] for entry in draw_panel(scene) if entry[0] == "label")


# -- a FLAME rig through the real worker ---------------------------------------------

TINY_MODEL = """
import sys, torch
from neural_core.face_model.checkpoint import save_conditional
from neural_core.face_model.config import tiny_config
from neural_core.face_model.model import ConditionalModel
from neural_core.contract.rig.arkit import ARKIT_52
torch.manual_seed(0)
save_conditional(ConditionalModel(tiny_config(coefficient_names=ARKIT_52, resolution=32)), sys.argv[1])
"""


@pytest.fixture
def arkit_model(tmp_path):
    """A tiny conditional model that reads the 52 ARKit coefficients, as the default model does."""
    if not WORKER_PYTHON.is_file():
        pytest.skip("the project's .venv (made by ./tools/test) runs the worker")
    path = tmp_path / "arkit_tiny.safetensors"
    subprocess.run([str(WORKER_PYTHON), "-c", TINY_MODEL, str(path)], check=True, timeout=120, cwd=ROOT)
    return path


def flame_job(tmp_path, model, frames=2):
    export_rigs.flame_head_scene(frames=frames, shape=20, expression=20)
    scene = bpy.context.scene
    scene.neural_face.output_folder = str(tmp_path / "job")
    scene.neural_face.model_path = str(model)
    scene.neural_face.device = "CPU"
    scene.neural_face.passes_samples = 1
    return scene


def test_a_flame_rig_the_model_cannot_read_is_refused_by_the_worker(addon, arkit_model, tmp_path):
    scene = flame_job(tmp_path, arkit_model)
    settings = render_job.settings_from_scene(scene)
    with pytest.raises(render_job.worker_client.WorkerError) as info:
        render_job.run_blocking(scene, settings, log=lambda text: None, timeout=240)
    message = str(info.value)
    assert info.value.exit_code == 2 and "bad input" in message
    assert "reads none of the shot's coefficients" in message and "rig profile 'flame'" in message
    assert "eyeBlinkLeft" in message and "Exp000" in message
    assert not list(settings.frames_folder.glob("*.png"))


def test_a_partly_mapped_flame_rig_renders_with_one_warning_shown_in_the_panel(addon, arkit_model, tmp_path):
    scene = flame_job(tmp_path, arkit_model)
    scene.neural_face.rig_profile = "custom"
    scene.neural_face.rig_map_text = map_text()
    settings = render_job.settings_from_scene(scene)
    lines = []
    progress = render_job.run_blocking(scene, settings, log=lines.append, timeout=240)
    assert progress.finished_frames == [1, 2]
    assert len(progress.warnings) == 1
    warning = progress.warnings[0]
    assert "50 of the model's 52 expression coefficients" in warning and "eyeLookDownLeft" in warning
    assert any(line.startswith("Neural Face: warning: the shot (rig profile 'custom')") for line in lines)
    assert scene.neural_face.warning_text == warning
    labels = [entry[1] for entry in draw_panel(scene) if entry[0] == "label"]
    assert any(label.startswith("the shot (rig profile 'custom')") for label in labels)
    shot = read_shot(settings.shot_folder)
    assert shot.coefficient_names == ["jawOpen", "eyeBlinkLeft"]
    for record in shot.frames:  # Exp000 as is, Exp001 scaled by 0.5 (flame_head_scene's keyed values)
        assert record.coefficients[0] == pytest.approx(0.5 + 0.4 * math.sin(record.frame), abs=1e-6)
        assert record.coefficients[1] == pytest.approx(0.5 * (0.5 + 0.4 * math.sin(record.frame + 1)), abs=1e-6)


# -- the same through tools/render_shot.py (a separate bpy process) -----------------

def run_render_shot(tmp_path, blend, *args):
    env = dict(os.environ, BLENDER_USER_RESOURCES=str(tmp_path / "user"))
    return subprocess.run([sys.executable, str(ROOT / "tools" / "render_shot.py"), str(blend), "--", *map(str, args)],
                          capture_output=True, text=True, timeout=280, env=env, cwd=tmp_path)


def test_render_shot_script_with_a_flame_rig_fails_then_renders_with_map(addon, arkit_model, tmp_path):
    flame_job(tmp_path, arkit_model, frames=1)
    blend = tmp_path / "flame.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(blend))
    common = ("--out", tmp_path / "out", "--worker-python", WORKER_PYTHON)
    result = run_render_shot(tmp_path, blend, *common)
    assert result.returncode == 2, result.stdout[-2000:] + result.stderr[-2000:]
    assert "reads none of the shot's coefficients" in result.stderr and "eyeBlinkLeft" in result.stderr
    path = tmp_path / "map.json"
    path.write_text(json.dumps(MAP))
    result = run_render_shot(tmp_path, blend, *common, "--map", path)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "Neural Face: warning: the shot (rig profile 'custom') has no values for 50" in result.stdout
    assert (tmp_path / "out" / "frames" / "neural_0001.png").is_file()


def test_headless_appearance_takes_every_look_and_refuses_a_bad_one(addon, tmp_path):
    scene = bpy.context.scene
    for text, value in (("4", 4), ("typical", "typical"), ("frame:9", "frame:9")):
        settings = headless.settings_for(scene, headless_args("--out", str(tmp_path), "--appearance", text))
        assert settings.appearance == value
    with pytest.raises(SystemExit):
        headless_args("--appearance", "brightest")
