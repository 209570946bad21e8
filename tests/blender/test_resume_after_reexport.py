"""Issue 13.4 with real Blender exports: re-exporting an unchanged scene (Cycles stamps a
new render time into every pass EXR) leaves every frame current for the real worker, and
changing one key on one frame re-renders that frame only."""

import json
import subprocess

import pytest

import bpy
from tests.conftest import ROOT

pytestmark = pytest.mark.timeout(600)
WORKER_PYTHON = ROOT / ".venv" / "bin" / "python"  # torch lives there (the 5.0.1 venv has none)
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


def render(shot, out, model):
    """The real worker in its own process; returns the frames it rendered (not skipped)."""
    result = subprocess.run([str(WORKER_PYTHON), "-m", "neural_core", "render", str(shot), "--out", str(out), "--model",
                             str(model), "--device", "cpu", "--json"], capture_output=True, text=True, timeout=300,
                            cwd=ROOT)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    events = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    return [e["frame"] for e in events if e["event"] == "frame" and not e["skipped"]]


def test_a_reexport_of_the_same_scene_skips_every_frame_and_one_changed_key_renders_one(addon, tmp_path):
    from blender_addon.demo_scene import build_demo_scene
    from blender_addon.export.exporter import ExportSettings, export_shot

    if not WORKER_PYTHON.is_file():
        pytest.skip("the project's .venv (made by ./tools/test) runs the worker")
    subprocess.run([str(WORKER_PYTHON), "-c", MAKE_TINY_MODEL, str(tmp_path / "tiny.safetensors")], check=True,
                   timeout=300, cwd=ROOT)
    model = tmp_path / "tiny.safetensors"
    demo = build_demo_scene(bpy.context.scene, resolution=32, frames=FRAMES)
    settings = ExportSettings(output=str(tmp_path / "shot"), samples=1)
    shot = export_shot(demo.scene, settings)
    assert render(shot, tmp_path / "frames", model) == [1, 2, 3, 4]
    first_export = {p.name: p.read_bytes() for p in (shot / "passes").glob("*.exr")}

    export_shot(demo.scene, settings)  # the same scene, exported again
    second_export = {p.name: p.read_bytes() for p in (shot / "passes").glob("*.exr")}
    assert sorted(second_export) == sorted(first_export)
    assert any(second_export[name] != first_export[name] for name in first_export)  # new headers, new bytes
    assert render(shot, tmp_path / "frames", model) == []

    funnel = demo.head.mesh.data.shape_keys.key_blocks["mouthFunnel"]
    for frame, value in ((2, 0.0), (3, 0.6), (4, 0.0)):  # a key on frame 3; frames 1, 2 and 4 keep 0
        funnel.value = value
        funnel.keyframe_insert("value", frame=frame)
    export_shot(demo.scene, settings)
    assert render(shot, tmp_path / "frames", model) == [3]
