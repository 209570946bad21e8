"""tools/render_shot.py as a real headless process (bpy module), with the fake worker."""

import os
import subprocess
import sys

import pytest

import bpy
from tests.blender.render_helpers import make_fake_python
from tests.conftest import ROOT

pytestmark = pytest.mark.timeout(300)
SCRIPT = ROOT / "tools" / "render_shot.py"


def run_script(tmp_path, *args, mode="ok"):
    env = dict(os.environ, FAKE_WORKER_MODE=mode, BLENDER_USER_RESOURCES=str(tmp_path / "user"))
    return subprocess.run([sys.executable, str(SCRIPT), *map(str, args)], capture_output=True, text=True,
                          timeout=240, env=env, cwd=tmp_path)


def save_simple_scene(path):
    """A scene with a camera and a grey world, frames 2-3, 16 px, Cycles 1 sample."""
    scene = bpy.context.scene
    scene.frame_start, scene.frame_end = 2, 3
    scene.render.resolution_x = scene.render.resolution_y = 16
    scene.render.engine = "CYCLES"
    scene.cycles.samples = 1
    camera = bpy.data.objects.new("Camera", bpy.data.cameras.new("Camera"))
    scene.collection.objects.link(camera)
    scene.camera = camera
    scene.neural_face.appearance_seed = 11
    bpy.ops.wm.save_as_mainfile(filepath=str(path))
    return path


def stub_shot(folder):
    folder.mkdir(parents=True)
    (folder / "shot.json").write_text("{}")
    return folder


def test_renders_and_composites_an_existing_shot(addon, tmp_path):
    blend = save_simple_scene(tmp_path / "scene.blend")
    out = tmp_path / "out"
    result = run_script(tmp_path, blend, "--", "--out", out, "--shot", stub_shot(tmp_path / "shot"),
                        "--worker-python", make_fake_python(tmp_path / "bin"), "--composite")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "Neural Face: 1/2 frames" in result.stdout and "Neural Face: 2/2 frames" in result.stdout
    assert sorted(p.name for p in (out / "frames").glob("neural_*.png")) == ["neural_0002.png", "neural_0003.png"]
    assert sorted(p.name for p in (out / "composite").glob("*.png")) == ["0002.png", "0003.png"]
    argv = (out / "frames" / "argv.json").read_text()
    assert '"--appearance", "11"' in argv and '"--frames", "2-3"' in argv  # the .blend's settings


def test_frames_option_overrides_the_scene_range(addon, tmp_path):
    blend = save_simple_scene(tmp_path / "scene.blend")
    out = tmp_path / "out"
    result = run_script(tmp_path, blend, "--", "--frames", "3-3", "--out", out, "--appearance", "4",
                        "--shot", stub_shot(tmp_path / "shot"), "--worker-python", make_fake_python(tmp_path / "bin"))
    assert result.returncode == 0, result.stderr[-3000:]
    assert sorted(p.name for p in (out / "frames").glob("neural_*.png")) == ["neural_0003.png"]
    assert '"--appearance", "4"' in (out / "frames" / "argv.json").read_text()
    assert not (out / "composite").exists()


@pytest.mark.parametrize("mode, code, words", [("bad-input", 2, "coefficient is NaN"), ("crash", 1, "fake worker crashed")])
def test_worker_failure_is_a_nonzero_exit(addon, tmp_path, mode, code, words):
    blend = save_simple_scene(tmp_path / "scene.blend")
    result = run_script(tmp_path, blend, "--", "--out", tmp_path / "out", "--shot", stub_shot(tmp_path / "shot"),
                        "--worker-python", make_fake_python(tmp_path / "bin"), mode=mode)
    assert result.returncode == code, result.stderr[-3000:]
    assert words in result.stderr


def test_missing_blend_file_is_a_nonzero_exit(tmp_path):
    result = run_script(tmp_path, tmp_path / "nope.blend", "--", "--out", tmp_path / "out")
    assert result.returncode == 2
    assert "nope.blend" in result.stderr


def test_bad_option_is_a_nonzero_exit(addon, tmp_path):
    blend = save_simple_scene(tmp_path / "scene.blend")
    result = run_script(tmp_path, blend, "--", "--frames", "9-2")
    assert result.returncode == 2
    assert "frame range 9-2 is empty" in result.stderr


def test_exports_the_bundled_head_then_renders(addon, tmp_path):
    """The whole headless path: the real exporter (passes with Cycles) then the worker."""
    demo_scene = pytest.importorskip("blender_addon.demo_scene")
    pytest.importorskip("blender_addon.export.exporter")
    scene = bpy.context.scene
    demo_scene.build_demo_scene(scene, resolution=32, frames=2)
    scene.cycles.samples = 1
    blend = tmp_path / "head.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(blend))
    out = tmp_path / "out"
    result = run_script(tmp_path, blend, "--", "--frames", "1-2", "--out", out, "--samples", "1",
                        "--worker-python", make_fake_python(tmp_path / "bin"))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert (out / "shot" / "shot.json").is_file()
    assert sorted(p.name for p in (out / "shot" / "passes").glob("*.exr")) == ["0001.exr", "0002.exr"]
    assert sorted(p.name for p in (out / "frames").glob("neural_*.png")) == ["neural_0001.png", "neural_0002.png"]
    assert "Neural Face: exported 2/2" in result.stdout


def test_blender_command_line_is_split_like_blender_does():
    sys.path.insert(0, str(SCRIPT.parent))
    import render_shot

    blender_argv = ["blender", "-b", "scene.blend", "--python-exit-code", "1", "-P", "tools/render_shot.py",
                    "--", "--frames", "1-3", "--out", "DIR"]
    assert render_shot.split_argv(blender_argv, running_in_blender=True) == (None, ["--frames", "1-3", "--out", "DIR"])
    module_argv = ["tools/render_shot.py", "scene.blend", "--", "--frames", "1-3"]
    assert render_shot.split_argv(module_argv, running_in_blender=False) == ("scene.blend", ["--frames", "1-3"])


BLENDER_MODE = """
import sys
import bpy
sys.path.insert(0, {tools!r})
import render_shot
bpy.ops.wm.open_mainfile(filepath={blend!r}, load_ui=False)  # what `blender -b scene.blend` has done
sys.argv = ["blender", "-b", {blend!r}, "--python-exit-code", "1", "-P", "render_shot.py", "--", *{ours!r}]
code = render_shot.run(sys.argv, running_in_blender=True)
render_shot._leave(code)
"""


def test_blender_mode_uses_the_open_file_and_the_arguments_after_the_separator(addon, tmp_path):
    """The path `blender -b scene.blend -P tools/render_shot.py -- ...` takes, run in the bpy
    module (there is no blender executable here): the file is already open."""
    blend = save_simple_scene(tmp_path / "scene.blend")
    out = tmp_path / "out"
    ours = ["--out", str(out), "--shot", str(stub_shot(tmp_path / "shot")),
            "--worker-python", str(make_fake_python(tmp_path / "bin"))]
    script = BLENDER_MODE.format(tools=str(SCRIPT.parent), blend=str(blend), ours=ours)
    env = dict(os.environ, FAKE_WORKER_MODE="ok", BLENDER_USER_RESOURCES=str(tmp_path / "user"))
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=240, env=env,
                            cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert sorted(p.name for p in (out / "frames").glob("neural_*.png")) == ["neural_0002.png", "neural_0003.png"]


CLI_COMMAND = """
import sys
sys.path.insert(0, {root!r})
import bpy
import blender_addon
blender_addon.register()
from blender_addon.jobs import cli_command
assert cli_command._handle is not None, "blender -c neural_face is not registered"
code = cli_command.execute(["render", {blend!r}, *{ours!r}])
bad = cli_command.execute(["render", {blend!r} + ".missing"])
blender_addon.unregister()
assert cli_command._handle is None
print("CODES", code, bad, flush=True)
import os; os._exit(0)
"""


def test_blender_c_neural_face_render_runs_a_job(addon, tmp_path):
    """``blender -c neural_face render scene.blend ...``: the registered command's entry point."""
    blend = save_simple_scene(tmp_path / "scene.blend")
    out = tmp_path / "out"
    ours = ["--out", str(out), "--shot", str(stub_shot(tmp_path / "shot")),
            "--worker-python", str(make_fake_python(tmp_path / "bin"))]
    script = CLI_COMMAND.format(root=str(ROOT), blend=str(blend), ours=ours)
    env = dict(os.environ, FAKE_WORKER_MODE="ok", BLENDER_USER_RESOURCES=str(tmp_path / "user"))
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=240, env=env,
                            cwd=tmp_path)
    assert "CODES 0 2" in result.stdout, result.stdout[-3000:] + result.stderr[-3000:]
    assert sorted(p.name for p in (out / "frames").glob("neural_*.png")) == ["neural_0002.png", "neural_0003.png"]
    assert "no such .blend file" in result.stderr


@pytest.mark.parametrize("content", [None, b"not a checkpoint\n"], ids=["missing", "corrupt"])
def test_bad_model_fails_in_one_line_before_the_export(addon, tmp_path, content):
    """A missing or unreadable --model is found before any pass is rendered: exit 2, one
    line naming the file, no traceback, no shot folder."""
    worker_python = ROOT / ".venv" / "bin" / "python"
    if not worker_python.is_file():
        pytest.skip("the project's .venv (made by ./tools/test) reads the checkpoint")
    demo_scene = pytest.importorskip("blender_addon.demo_scene")
    demo_scene.build_demo_scene(bpy.context.scene, resolution=32, frames=2)
    blend = tmp_path / "head.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(blend))
    model = tmp_path / "model.safetensors"
    if content is not None:
        model.write_bytes(content)
    out = tmp_path / "out"
    result = run_script(tmp_path, blend, "--", "--out", out, "--model", model, "--worker-python", worker_python)
    assert result.returncode == 2, result.stdout[-3000:] + result.stderr[-3000:]
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"render_shot: error: --model {model}: "), result.stderr
    assert "Traceback" not in result.stderr
    assert not (out / "shot").exists()
