"""The whole pipeline with real parts on this Blender: the bundled head's demo scene,
the exporter, the real worker (``python -m neural_core render`` in the project's .venv,
a tiny conditional model), the compositor."""

import subprocess

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

import bpy
from tests.conftest import ROOT

WORKER_PYTHON = ROOT / ".venv" / "bin" / "python"
FRAMES = 3
MAKE_TINY_MODEL = """
import sys, torch
from neural_core.face_model.checkpoint import save_conditional
from neural_core.face_model.config import tiny_config
from neural_core.face_model.model import ConditionalModel
from neural_core.contract.rig.arkit import ARKIT_52
torch.manual_seed(0)
save_conditional(ConditionalModel(tiny_config(coefficient_names=ARKIT_52, resolution=32)), sys.argv[1])
"""


@pytest.fixture
def tiny_model(tmp_path):
    if not WORKER_PYTHON.is_file():
        pytest.skip("the project's .venv (made by ./tools/test) runs the worker")
    path = tmp_path / "tiny.safetensors"
    subprocess.run([str(WORKER_PYTHON), "-c", MAKE_TINY_MODEL, str(path)], check=True, timeout=120, cwd=ROOT)
    return path


def test_demo_scene_export_real_worker_and_composite(addon, tiny_model, tmp_path):
    import dataclasses

    from blender_addon import compositor
    from blender_addon.jobs import render_job
    from blender_addon.demo_scene import build_demo_scene
    from neural_core.contract.shot import read_shot
    from neural_core.contract.shot.passes import read_passes

    demo = build_demo_scene(bpy.context.scene, resolution=64, frames=FRAMES)
    demo.scene.cycles.samples = 1
    demo.scene.neural_face.output_folder = str(tmp_path / "job")
    settings = dataclasses.replace(render_job.settings_from_scene(demo.scene), model=str(tiny_model),
                                   passes_samples=1, device="cpu")
    lines = []
    progress = render_job.run_blocking(demo.scene, settings, log=lines.append, timeout=300)
    assert progress.finished_frames == list(range(1, FRAMES + 1)), lines

    shot = read_shot(settings.shot_folder)
    for frame in range(1, FRAMES + 1):
        image = np.asarray(Image.open(settings.frame_path(frame)))
        assert image.shape == (64, 64, 4)
        mask = read_passes(shot, frame, settings.shot_folder, names=["mask"])["mask"]
        assert np.array_equal(image[..., 3], np.rint(np.clip(mask, 0, 1) * 255).astype(np.uint8))
        assert 0.05 < (image[..., 3] > 127).mean() < 0.9  # the head is in the frame

    compositor.setup_compositor(demo.scene, compositor.SequenceInfo(str(settings.frame_path(1)), 1, FRAMES))
    demo.scene.frame_set(2)
    demo.scene.render.filepath = str(tmp_path / "composite.png")
    bpy.ops.render.render(write_still=True)
    composite = np.asarray(Image.open(tmp_path / "composite.png").convert("RGB")).astype(int)
    neural = np.asarray(Image.open(settings.frame_path(2))).astype(int)
    # inside the head (edge pixels mix in the background by the render's coverage)
    inside = ndimage.binary_erosion(neural[..., 3] == 255, np.ones((3, 3)))
    assert inside.sum() > 100
    assert np.abs(composite[inside] - neural[inside][:, :3]).max() <= 3  # Standard view transform
