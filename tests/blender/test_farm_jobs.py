"""The farm job definitions run for real on a 4-frame demo shot in chunks of 2 (issue 15):
farm/openjd/neural_face.yaml through ``openjd run`` (openjd-cli, the engine Deadline Cloud
uses), and the tasks farm/flamenco/neural_face.js compiles, executed in order the way a
Flamenco Worker runs them. ``blender`` is a shim that runs tools/render_shot.py with this
bpy module; the synthesis runs in the project's .venv. Each run's frames equal a plain
one-process render of the shot it exported."""

import json
import os
import shlex
import shutil
import stat
import subprocess
import sys

import pytest

import bpy
from tests.conftest import ROOT

pytestmark = pytest.mark.timeout(900)
WORKER_PYTHON = ROOT / ".venv" / "bin" / "python"  # torch and openjd-cli live there
OPENJD = ROOT / ".venv" / "bin" / "openjd"
NODE = shutil.which("node")
FRAMES = 4
MAKE_TINY_MODEL = """
import sys, torch
from neural_core.face_model.checkpoint import save_conditional
from neural_core.face_model.config import tiny_config
from neural_core.face_model.model import ConditionalModel
from neural_core.contract.rig.arkit import ARKIT_52
torch.manual_seed(0)
save_conditional(ConditionalModel(tiny_config(coefficient_names=ARKIT_52, resolution=32)), sys.argv[1])
"""
BLENDER_SHIM = """#!{python}
# 'blender [-b] [-y] FILE --python-exit-code 1 --python SCRIPT -- ARGS' -> 'python SCRIPT FILE -- ARGS' (bpy module)
import os, sys
args = sys.argv[1:]
script = args[args.index("--python") + 1]
blend = next(a for a in args[: args.index("--python")] if a.endswith(".blend"))
ours = args[args.index("--") + 1:]
os.execv(sys.executable, [sys.executable, script, blend, "--", *ours])
"""


@pytest.fixture
def farm(addon, tmp_path):
    """A saved 4-frame demo scene, a tiny model for its ARKit rig, a ``blender`` shim."""
    if not WORKER_PYTHON.is_file():
        pytest.skip("the project's .venv (made by ./tools/test) runs the worker")
    from blender_addon.demo_scene import build_demo_scene

    demo = build_demo_scene(bpy.context.scene, resolution=32, frames=FRAMES)
    demo.scene.neural_face.passes_samples = 1
    demo.scene.cycles.samples = 1
    bpy.ops.wm.save_as_mainfile(filepath=str(tmp_path / "scene.blend"))
    subprocess.run([str(WORKER_PYTHON), "-c", MAKE_TINY_MODEL, str(tmp_path / "tiny.safetensors")], check=True,
                   timeout=300, cwd=ROOT)
    shim = tmp_path / "bin" / "blender"
    shim.parent.mkdir()
    shim.write_text(BLENDER_SHIM.format(python=sys.executable))
    shim.chmod(shim.stat().st_mode | stat.S_IXUSR)
    return {"blend": tmp_path / "scene.blend", "model": tmp_path / "tiny.safetensors", "blender": shim,
            "job": tmp_path / "job", "tmp": tmp_path}


def environment():
    return dict(os.environ, PYTHONDONTWRITEBYTECODE="1")


def check_job_folder(farm, *render_options):
    """Every stage's output for frames 1-4, a log per chunk and stage, and synthesised
    frames equal to one plain worker process (with ``render_options``) over the exported shot."""
    job = farm["job"]
    frames = [f"{frame:04d}" for frame in range(1, FRAMES + 1)]
    assert sorted(p.name for p in (job / "shot/passes").iterdir()) == [f"{f}.exr" for f in frames]
    assert sorted(p.name for p in (job / "composite").glob("*.png")) == [f"{f}.png" for f in frames]
    assert sorted(p.name for p in (job / "logs").iterdir()) == [
        "composite_0001-0002.log", "composite_0003-0004.log", "export_0001-0002.log", "export_0003-0004.log",
        "prepare_0001-0004.log"]
    assert sorted(p.name for p in (job / "frames/neural.chunks").glob("*.log")) == ["0001-0002.log", "0003-0004.log"]
    reference = farm["tmp"] / "reference"
    subprocess.run([str(WORKER_PYTHON), "-m", "neural_core", "render", str(job / "shot"), "--out", str(reference),
                    "--model", str(farm["model"]), "--device", "cpu", "--json", *render_options], check=True, capture_output=True,
                   timeout=300, cwd=ROOT)
    for frame in frames:
        assert (job / f"frames/neural_{frame}.png").read_bytes() == (reference / f"neural_{frame}.png").read_bytes()


@pytest.mark.skipif(not OPENJD.is_file(), reason="openjd-cli is installed by ./tools/test (requirements/test.txt)")
@pytest.mark.parametrize("stabilise", ["no", "brightness"])
def test_openjd_run_executes_the_template_in_chunks(farm, stabilise):
    """With StabiliseColour=brightness (the colour stabiliser and its brightness mode) the
    first chunk's synthesis needs frames 3 and 4's passes (the colour reference of a 4-frame
    shot is every frame) before chunk 3-4 exports them: the Prepare step exports them first."""
    template = ROOT / "farm" / "openjd" / "neural_face.yaml"
    check = subprocess.run([str(OPENJD), "check", str(template)], capture_output=True, text=True, timeout=120)
    assert check.returncode == 0, check.stdout + check.stderr
    parameters = {"BlendFile": farm["blend"], "JobFolder": farm["job"], "FrameStart": 1, "FrameEnd": FRAMES,
                  "ChunkSize": 2, "RenderShotScript": ROOT / "tools" / "render_shot.py",
                  "WorkerPython": WORKER_PYTHON, "Blender": farm["blender"], "Model": farm["model"], "Device": "cpu",
                  "StabiliseColour": stabilise}
    command = [str(OPENJD), "run", str(template), "--step", "Chunks", "--run-dependencies"]
    for key, value in parameters.items():
        command += ["-p", f"{key}={value}"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=800, cwd=farm["tmp"], env=environment())
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "Neural Face chunk 1-2: composite" in result.stdout and "Neural Face chunk 3-4: composite" in result.stdout
    check_job_folder(farm, *(["--stabilise-colour", "--stabilise-brightness"] if stabilise == "brightness" else []))


@pytest.mark.skipif(NODE is None, reason="Node.js is not installed")
def test_the_compiled_flamenco_job_runs_task_by_task(farm):
    settings = {"frames": f"1-{FRAMES}", "chunk_size": 2, "job_folder": str(farm["job"]),
                "render_shot_script": str(ROOT / "tools" / "render_shot.py"), "worker_python": str(WORKER_PYTHON),
                "blendfile": str(farm["blend"]), "scene": "Scene", "model": str(farm["model"]), "device": "cpu",
                "fps": 24.0}
    (farm["tmp"] / "settings.json").write_text(json.dumps(settings))
    compiled = subprocess.run([NODE, str(ROOT / "tests/core/flamenco/compile_job.js"),
                               str(ROOT / "farm/flamenco/neural_face.js"), str(farm["tmp"] / "settings.json")],
                              capture_output=True, text=True, timeout=60, check=True)
    tasks = json.loads(compiled.stdout)["tasks"]
    done, previews = set(), []
    for task in tasks:  # listed in an order that satisfies the dependencies, as a single Worker would take them
        assert set(task["dependencies"]) <= done, task["name"]
        for command in task["commands"]:
            parameters = command["parameters"]
            if command["name"] == "frames-to-video":
                continue  # ffmpeg's part: not ours to test
            if command["name"] == "blender-render":  # {blender} {blenderArgs} argsBefore blendfile args
                argv = [str(farm["blender"]), "-b", "-y", *parameters["argsBefore"], parameters["blendfile"],
                        *parameters["args"]]
            else:  # exec; the Manager replaces {blender} with the Worker's Blender
                argv = [str(farm["blender"]) if parameters["exe"] == "{blender}" else parameters["exe"],
                        *parameters["args"]]
            result = subprocess.run(argv, capture_output=True, text=True, timeout=300, cwd=farm["tmp"],
                                    env=environment())
            assert result.returncode == 0, (shlex.join(argv), result.stdout[-3000:], result.stderr[-3000:])
            if command["name"] == "blender-render":  # the Worker reads "Saved:" lines of these as previews
                previews += [line for line in result.stdout.splitlines() if line.startswith("Saved: '")]
        done.add(task["name"])
    assert previews == [f"Saved: '{farm['job'] / 'composite' / f'{frame:04d}.png'}'" for frame in range(1, FRAMES + 1)]
    check_job_folder(farm)
