"""Chunked exports into one shared shot folder (issue 15.1) as real headless processes
(``tools/render_shot.py --shot-frames --frames --only export``): chunks at once equal one
export, a rerun skips finished passes, overlapping chunks and a .blend changed between
chunks are refused with nothing overwritten, the prepare step keeps or replaces."""

import json
import os
import signal
import subprocess
import sys

import numpy as np
import pytest

import bpy
from tests.conftest import ROOT

pytestmark = pytest.mark.timeout(600)
SCRIPT = ROOT / "tools" / "render_shot.py"
FRAMES = 4


def start(blend, out, *args):
    return subprocess.Popen([sys.executable, str(SCRIPT), str(blend), "--", "--out", str(out), *map(str, args)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
                            env=dict(os.environ, PYTHONDONTWRITEBYTECODE="1"))


def finish(process):
    stdout, stderr = process.communicate(timeout=300)
    return process.returncode, stdout, stderr


def export(blend, out, frames, *extra):
    return finish(start(blend, out, "--shot-frames", f"1-{FRAMES}", "--frames", frames, "--only", "export", *extra))


def save_demo(path):
    from blender_addon.demo_scene import build_demo_scene

    demo = build_demo_scene(bpy.context.scene, resolution=32, frames=FRAMES)
    demo.scene.neural_face.passes_samples = 1
    bpy.ops.wm.save_as_mainfile(filepath=str(path))
    return demo


def pixels(path):
    from neural_core.contract.shot.exr import read_exr_channels

    return read_exr_channels(path)


def without_provenance(shot_json):
    data = json.loads(shot_json.read_text())
    data["source"] = {k: v for k, v in data["source"].items() if k not in ("blend_file", "blend_sha256")}
    return data


def test_chunks_at_once_equal_one_export_and_a_rerun_skips_finished_passes(addon, tmp_path):
    from blender_addon.export.exporter import ExportSettings, export_shot

    demo = save_demo(tmp_path / "scene.blend")
    reference = export_shot(demo.scene, ExportSettings(output=str(tmp_path / "reference"), samples=1))
    out = tmp_path / "job"
    runs = [finish(p) for p in [start(tmp_path / "scene.blend", out, "--shot-frames", "1-4", "--frames", chunk,
                                      "--only", "export") for chunk in ("1-2", "3-4")]]
    for code, stdout, stderr in runs:
        assert code == 0, stdout[-2000:] + stderr[-2000:]
    shot = out / "shot"
    assert without_provenance(shot / "shot.json") == without_provenance(reference / "shot.json")
    for frame in range(1, FRAMES + 1):
        ours, theirs = pixels(shot / f"passes/{frame:04d}.exr"), pixels(reference / f"passes/{frame:04d}.exr")
        assert sorted(ours) == sorted(theirs)
        for channel in theirs:
            assert np.array_equal(ours[channel], theirs[channel]), (frame, channel)
    assert sorted(p.name for p in (out / "logs").iterdir()) == ["export_0001-0002.log", "export_0003-0004.log"]

    made = {p.name: p.stat().st_mtime_ns for p in (shot / "passes").iterdir()}
    os.remove(shot / "passes/0002.exr")
    (shot / "passes/.0002.partial-999999.exr").write_bytes(b"half a file")  # what a killed export leaves
    code, stdout, stderr = export(tmp_path / "scene.blend", out, "1-2")
    assert code == 0, stderr[-2000:]
    assert sorted(p.name for p in (shot / "passes").iterdir()) == ["0001.exr", "0002.exr", "0003.exr", "0004.exr"]
    assert (shot / "passes/0001.exr").stat().st_mtime_ns == made["0001.exr"]  # finished: skipped
    redone, theirs = pixels(shot / "passes/0002.exr"), pixels(reference / "passes/0002.exr")
    assert all(np.array_equal(redone[c], theirs[c]) for c in theirs)


def test_overlapping_export_chunks_at_once_are_refused(addon, tmp_path):
    save_demo(tmp_path / "scene.blend")
    out = tmp_path / "job"
    first = start(tmp_path / "scene.blend", out, "--shot-frames", "1-4", "--frames", "1-3", "--only", "export")
    seen = []
    for line in first.stdout:  # the first frame exported: it holds its frames
        seen.append(line)
        if "exported 1/3" in line:
            break
    os.kill(first.pid, signal.SIGSTOP)
    try:
        code, stdout, stderr = export(tmp_path / "scene.blend", out, "3-4")
        assert code == 2
        assert "frames in 3-4 are being exported by another process" in stderr
        assert not (out / "shot/passes/0004.exr").exists()
    finally:
        os.kill(first.pid, signal.SIGCONT)
    code, stdout, stderr = finish(first)
    assert code == 0, "".join(seen) + stdout + stderr


def test_a_blend_changed_between_chunks_is_refused_then_prepare_starts_the_shot_again(addon, tmp_path):
    demo = save_demo(tmp_path / "scene.blend")
    out = tmp_path / "job"
    assert export(tmp_path / "scene.blend", out, "1-2")[0] == 0
    shot_json = (out / "shot/shot.json").read_bytes()
    before = {p.name: p.read_bytes() for p in (out / "shot/passes").iterdir()}

    funnel = demo.head.mesh.data.shape_keys.key_blocks["mouthFunnel"]
    funnel.value = 0.5
    funnel.keyframe_insert("value", frame=3)
    bpy.ops.wm.save_as_mainfile(filepath=str(tmp_path / "scene.blend"))
    code, stdout, stderr = export(tmp_path / "scene.blend", out, "3-4")
    assert code == 2
    assert "does not match this scene: it was exported from another version of the .blend file" in stderr
    assert (out / "shot/shot.json").read_bytes() == shot_json  # nothing overwritten, nothing added
    assert {p.name: p.read_bytes() for p in (out / "shot/passes").iterdir()} == before

    code, stdout, stderr = finish(start(tmp_path / "scene.blend", out, "--shot-frames", "1-4", "--only", "prepare"))
    assert code == 0 and "shot.json of frames 1-4 written" in stdout, stderr[-2000:]
    assert list((out / "shot/passes").iterdir()) == []  # the old shot's passes went with it
    assert export(tmp_path / "scene.blend", out, "3-4")[0] == 0
    code, stdout, stderr = finish(start(tmp_path / "scene.blend", out, "--shot-frames", "1-4", "--only", "prepare"))
    assert code == 0 and "shot.json of frames 1-4 kept" in stdout  # unchanged: its passes stay
    assert sorted(p.name for p in (out / "shot/passes").iterdir()) == ["0003.exr", "0004.exr"]


def test_a_stabilised_prepare_exports_the_passes_of_the_colour_reference_frames(addon, tmp_path):
    """--stabilise-colour: every chunk's synthesis takes its reference colour from five frames
    spread over the shot, so the prepare step exports their passes before any chunk runs."""
    save_demo(tmp_path / "scene.blend")
    out = tmp_path / "job"
    code, stdout, stderr = finish(start(tmp_path / "scene.blend", out, "--shot-frames", "1-12", "--only", "prepare",
                                        "--stabilise-colour"))
    assert code == 0, stderr[-2000:]
    assert "passes of the colour reference frames 1, 4, 7, 9, 12" in stdout
    reference = ["0001.exr", "0004.exr", "0007.exr", "0009.exr", "0012.exr"]
    assert sorted(p.name for p in (out / "shot/passes").iterdir()) == reference
    kept = {name: (out / "shot/passes" / name).read_bytes() for name in reference}
    code, stdout, stderr = finish(start(tmp_path / "scene.blend", out, "--shot-frames", "1-12", "--frames", "1-4",
                                        "--only", "export"))
    assert code == 0, stderr[-2000:]  # the chunk adds its other frames and keeps the reference ones
    assert sorted(p.name for p in (out / "shot/passes").iterdir()) == sorted(reference + ["0002.exr", "0003.exr"])
    assert all((out / "shot/passes" / name).read_bytes() == data for name, data in kept.items())
    code, stdout, stderr = finish(start(tmp_path / "scene.blend", tmp_path / "plain", "--shot-frames", "1-12",
                                        "--only", "prepare", "--no-stabilise-colour"))
    assert code == 0 and "colour reference" not in stdout and not any((tmp_path / "plain/shot/passes").iterdir())


def test_a_chunk_outside_the_shot_is_refused(addon, tmp_path):
    save_demo(tmp_path / "scene.blend")
    code, stdout, stderr = export(tmp_path / "scene.blend", tmp_path / "job", "3-6")
    assert code == 2 and "chunk 3-6 is outside the shot's frames 1-4" in stderr
    assert not (tmp_path / "job/shot").exists()
