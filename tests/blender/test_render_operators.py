"""render_animation / render_frame operators, driven headless against the fake worker.

The export step is replaced by a stub that writes an empty shot folder (the exporter has
its own tests; tools/render_shot.py's test runs the real one), so these tests are about
what the operators do with the worker: command line, progress state, errors, the image.
"""

import json
from pathlib import Path

import numpy as np
import pytest

import bpy
from blender_addon.jobs import render_job
from blender_addon.jobs import worker_client as worker
from tests.blender.render_helpers import make_fake_python
from tests.blender.workers.fake_render import frame_rgba

pytestmark = pytest.mark.timeout(180)


@pytest.fixture
def job(addon, tmp_path, monkeypatch):
    """A scene set up to render frames 1-3 into tmp_path with the fake worker."""
    addon.worker_python = str(make_fake_python(tmp_path / "bin"))
    monkeypatch.setenv("FAKE_WORKER_MODE", "ok")
    exports = []

    def fake_export(scene, settings, progress=None):
        settings.shot_folder.mkdir(parents=True, exist_ok=True)
        (settings.shot_folder / "shot.json").write_text("{}")
        exports.append((settings.frame_start, settings.frame_end, settings.shot_folder))
        return settings.shot_folder

    monkeypatch.setattr(render_job, "export_shot_folder", fake_export)
    scene = bpy.context.scene
    scene.frame_start, scene.frame_end = 1, 3
    scene.neural_face.output_folder = str(tmp_path / "out")
    scene.neural_face.appearance_seed = 5
    return scene, exports, tmp_path / "out"


def test_render_animation_runs_the_worker_over_the_range(job):
    scene, exports, out = job
    assert bpy.ops.neural_face.render_animation() == {"FINISHED"}
    assert exports == [(1, 3, out / "shot")]
    frames = out / "frames"
    assert sorted(p.name for p in frames.glob("neural_*.png")) == [f"neural_000{i}.png" for i in (1, 2, 3)]
    argv = json.loads((frames / "argv.json").read_text())
    assert argv[:4] == ["-m", "neural_core", "render", str(out / "shot")]
    assert argv[argv.index("--frames") + 1] == "1-3" and argv[argv.index("--out") + 1] == str(frames)
    assert argv[argv.index("--appearance") + 1] == "5" and argv[argv.index("--model") + 1] == "default"
    props = scene.neural_face
    assert (props.frames_done, props.frames_total, props.progress) == (3, 3, 1.0)
    assert not props.is_running and props.status_text.startswith("Done: 3 frames")
    assert worker.active_workers() == ()


def test_render_animation_reports_worker_errors(job, monkeypatch):
    scene, _, out = job
    monkeypatch.setenv("FAKE_WORKER_MODE", "bad-input")
    with pytest.raises(RuntimeError) as raised:
        bpy.ops.neural_face.render_animation()
    message = str(raised.value)
    assert "bad input" in message and "frame 2" in message and "coefficient is NaN" in message
    assert not scene.neural_face.is_running
    assert scene.neural_face.status_text.startswith("Failed:")
    assert worker.active_workers() == ()
    assert sorted(p.name for p in (out / "frames").glob("neural_*")) == ["neural_0001.png"]


def test_empty_range_is_refused_before_exporting(job):
    scene, exports, out = job  # (Blender itself keeps frame_end >= frame_start)
    settings = render_job.settings_from_scene(scene, frame_start=4, frame_end=3)
    with pytest.raises(render_job.NeuralFaceError, match="frame range 4-3 is empty"):
        render_job.run_blocking(scene, settings)
    assert exports == []


def test_missing_model_file_is_refused_before_exporting(job):
    scene, exports, out = job
    scene.neural_face.model_path = str(out / "no-such-model.safetensors")
    with pytest.raises(RuntimeError, match="no-such-model.safetensors' does not exist"):
        bpy.ops.neural_face.render_animation()
    assert exports == []


def test_render_animation_without_a_worker_python_says_what_to_set(job, addon, monkeypatch):
    addon.worker_python = str(Path(job[2]) / "missing-python")
    with pytest.raises(RuntimeError, match="Worker Python"):
        bpy.ops.neural_face.render_animation()


def _centre_rgb(image):
    width, height = image.size
    pixels = np.empty(width * height * 4, np.float32)
    image.pixels.foreach_get(pixels)
    return np.round(pixels.reshape(height, width, 4)[height // 2, width // 2, :3] * 255).astype(int)


def test_render_frame_shows_the_current_frame(job):
    scene, exports, out = job
    for frame in (2, 3):
        scene.frame_set(frame)
        assert bpy.ops.neural_face.render_frame() == {"FINISHED"}
        assert exports[-1] == (frame, frame, out / "preview" / "shot")
        image = bpy.data.images["Neural Face"]
        assert Path(bpy.path.abspath(image.filepath)) == out / "preview" / "frames" / f"neural_{frame:04d}.png"
        expected = frame_rgba(frame)[8, 8, :3].astype(int)
        assert np.abs(_centre_rgb(image) - expected).max() <= 1
    assert len([i for i in bpy.data.images if i.name.startswith("Neural Face")]) == 1
    assert not (out / "frames").exists()  # the preview does not touch the animation's frames


# -- the modal (interactive) path, driven with stand-ins for the window manager ----------
class FakeWindowManager:
    def __init__(self):
        self.windows = []
        self.calls = []

    def progress_begin(self, low, high):
        self.calls.append(("begin", low, high))

    def progress_update(self, value):
        self.calls.append(("update", value))

    def progress_end(self):
        self.calls.append(("end",))

    def event_timer_add(self, interval, window=None):
        return object()

    def event_timer_remove(self, timer):
        self.calls.append(("timer_removed",))

    def modal_handler_add(self, operator):
        self.calls.append(("modal",))


class FakeWorkspace:
    def __init__(self):
        self.texts = []

    def status_text_set(self, text):
        self.texts.append(text)


def drive_modal(scene, settings, cancel_after_frames=None, limit_s=60, export=False, cancel_during_export=False):
    """Run the operator's modal() on timer events until it ends, pressing Esc once
    ``cancel_after_frames`` frames are done. Returns (result, reports, context)."""
    import time
    from types import MethodType, SimpleNamespace

    from blender_addon.operators.render_animation import NEURALFACE_OT_render_animation as Op

    reports = []
    op = SimpleNamespace(report=lambda kind, text: reports.append((set(kind), text)))
    for name in ("modal", "_finish", "_stop_timer", "cancel", "_exporting", "_export_step", "_fail"):
        setattr(op, name, MethodType(getattr(Op, name), op))
    context = SimpleNamespace(window_manager=FakeWindowManager(), workspace=FakeWorkspace())
    op._timer = context.window_manager.event_timer_add(0.1)
    if export:  # start where invoke() leaves off: the export's first frame is done
        op._export, op._process = render_job.export_steps(scene, settings), None
        op._export_step(next(op._export))
    else:
        op._export, op._process = None, render_job.start_worker(settings, settings.shot_folder)
    op._scene, op._settings = scene, settings
    render_job.mark_running(scene, True)
    timer_event = SimpleNamespace(type="TIMER", value="NOTHING", timer=op._timer)
    esc = SimpleNamespace(type="ESC", value="PRESS", timer=None)
    deadline = time.monotonic() + limit_s
    pressed = False
    while time.monotonic() < deadline:
        if cancel_during_export and op._export is not None and not pressed:
            pressed = True
            result = op.modal(context, esc)
            return result, reports, context, op
        if cancel_after_frames is not None and op._process is not None and not pressed and op._process.progress.done >= cancel_after_frames:
            assert op.modal(context, esc) == {"RUNNING_MODAL"}
            pressed = True
        result = op.modal(context, timer_event)
        if result != {"PASS_THROUGH"}:
            return result, reports, context, op
        assert scene.neural_face.is_running
        time.sleep(0.02)
    op.cancel(context)
    raise AssertionError("the modal operator did not finish")


def test_modal_path_updates_progress_and_finishes(job):
    scene, _, out = job
    settings = render_job.settings_from_scene(scene, render_job.worker_python_preference(bpy.context))
    result, reports, context, op = drive_modal(scene, settings)
    assert result == {"FINISHED"}
    assert reports and "3 frames written" in reports[-1][1]
    assert (scene.neural_face.frames_done, scene.neural_face.progress) == (3, 1.0)
    assert not scene.neural_face.is_running
    assert ("timer_removed",) in context.window_manager.calls and ("end",) in context.window_manager.calls
    assert any(t and t.startswith("Neural Face: ") and "(Esc to cancel)" in t for t in context.workspace.texts)
    assert context.workspace.texts[-1] is None  # the status bar is given back
    assert worker.active_workers() == ()


def test_esc_cancels_the_worker_without_partial_files(job, monkeypatch):
    scene, _, out = job
    monkeypatch.setenv("FAKE_WORKER_SLEEP", "0.3")
    scene.frame_end = 30
    settings = render_job.settings_from_scene(scene, render_job.worker_python_preference(bpy.context))
    settings.shot_folder.mkdir(parents=True)
    result, reports, context, op = drive_modal(scene, settings, cancel_after_frames=1)
    assert result == {"CANCELLED"}
    assert reports[-1][0] == {"WARNING"} and "cancelled after frame" in reports[-1][1]
    written = sorted((out / "frames").glob("neural_*"))
    assert 1 <= len(written) < 30
    assert all(p.suffix == ".png" for p in written)  # nothing half-written (.tmp)
    assert not scene.neural_face.is_running and scene.neural_face.status_text.startswith("Stopped: cancelled")
    assert op._process.returncode == worker.EXIT_CANCELLED
    assert worker.active_workers() == ()
    # Blender's state is intact: the scene still renders with the add-on afterwards
    assert bpy.ops.neural_face.setup_compositor() == {"FINISHED"}


@pytest.fixture
def head_job(addon, tmp_path, monkeypatch):
    """The demo scene (bundled head, 3 frames, 32 px) with the real exporter and the fake worker."""
    from blender_addon.demo_scene import build_demo_scene

    addon.worker_python = str(make_fake_python(tmp_path / "bin"))
    monkeypatch.setenv("FAKE_WORKER_MODE", "ok")
    demo = build_demo_scene(bpy.context.scene, resolution=32, frames=3)
    demo.scene.neural_face.output_folder = str(tmp_path / "out")
    demo.scene.neural_face.passes_samples = 1
    return demo.scene, tmp_path / "out"


def test_modal_export_runs_frame_by_frame_then_the_worker(head_job):
    scene, out = head_job
    settings = render_job.settings_from_scene(scene, render_job.worker_python_preference(bpy.context))
    result, reports, context, op = drive_modal(scene, settings, export=True)
    assert result == {"FINISHED"}, reports
    texts = [t for t in context.workspace.texts if t]
    assert any("exporting frame 2/3" in t for t in texts) and any("exporting frame 3/3" in t for t in texts)
    assert sorted(p.name for p in (out / "shot" / "passes").glob("*.exr")) == ["0001.exr", "0002.exr", "0003.exr"]
    assert sorted(p.name for p in (out / "frames").glob("neural_*.png")) == [f"neural_000{i}.png" for i in (1, 2, 3)]


def test_esc_during_the_modal_export_keeps_the_previous_shot_and_the_scene(head_job):
    scene, out = head_job
    settings = render_job.settings_from_scene(scene, render_job.worker_python_preference(bpy.context))
    render_job.export_shot_folder(scene, settings)  # a previous shot
    before = (out / "shot" / "shot.json").read_bytes()
    scene.frame_set(2)
    engine, samples = scene.render.engine, scene.cycles.samples
    result, reports, context, op = drive_modal(scene, settings, export=True, cancel_during_export=True)
    assert result == {"CANCELLED"} and "export cancelled" in reports[-1][1]
    assert (out / "shot" / "shot.json").read_bytes() == before
    assert sorted(p.name for p in out.iterdir()) == ["shot"]  # no partial folder left
    assert (scene.frame_current, scene.render.engine, scene.cycles.samples) == (2, engine, samples)
    assert not scene.neural_face.is_running and op._export is None
    assert context.workspace.texts[-1] is None
