"""The Actor panel: Apply Actor Identity, the actor steps in the worker, the actor's model
as the render model, the panel itself.

The steps run against ``workers/fake_actor.py``, a stand-in for ``python -m neural_core
actor ...`` that speaks the real protocol (events, exit codes, cancel); when the real
command exists, one test runs New and Status through it as well.
"""

import json
import stat
import subprocess
import sys
import time
from pathlib import Path
from types import MethodType, SimpleNamespace

import numpy as np
import pytest

import bpy
from blender_addon.core_link import shot as shot_format
from blender_addon.head.identity import identity_names
from blender_addon.jobs import worker_client as worker
from blender_addon.operators import actor_step
from blender_addon.operators.apply_actor_identity import NEURALFACE_OT_apply_actor_identity, read_identity
from blender_addon.ui.actor_panel import NEURALFACE_PT_actor
from tests.blender.test_panel_properties import RecordingLayout

pytestmark = pytest.mark.timeout(600)

ROOT = Path(__file__).resolve().parents[2]
WORKERS = Path(__file__).resolve().parent / "workers"
STEPS = ("NEW", "DETECT", "FIT", "BUILD", "TRAIN", "REPORT")


def write_fit(actor_dir, identity, frames=2):
    """``actor_dir/fit/shot``: a coefficient-only shot with ``identity`` [28] in every frame."""
    fmt = shot_format
    names = list(identity_names()) + ["jawOpen", "eyeBlinkLeft"]
    eye = fmt.Transform(rotation=np.eye(3), translation=np.zeros(3))
    w2c = np.array([[1.0, 0, 0, 0], [0, 0, -1, 1.6], [0, 1, 0, 0.6], [0, 0, 0, 1]])
    records = [fmt.FrameRecord(frame=f, coefficients=np.concatenate([identity, [0.1 * f, 0.0]]), head_world=eye,
                               head_camera=fmt.Transform.from_matrix(w2c), joints={}, K=np.array(
                                   [[500.0, 0, 256], [0, 500, 256], [0, 0, 1]]), world_to_camera=w2c)
               for f in range(1, frames + 1)]
    shot = fmt.Shot(fps=24.0, resolution=(512, 512), pixel_aspect=1.0, rig_profile="arkit52", coefficient_names=names,
                    frames=records, passes={})
    fmt.write_shot(Path(actor_dir) / "fit" / "shot", shot)


@pytest.fixture
def head(addon):
    assert bpy.ops.neural_face.add_head() == {"FINISHED"}
    return bpy.context.view_layer.objects.active


# -- Apply Actor Identity -----------------------------------------------------------------
def test_apply_actor_identity_sets_the_fitted_identity_keys(head, tmp_path):
    identity = np.linspace(-0.9, 0.9, 28)
    write_fit(tmp_path / "actor", identity)
    blocks = head.data.shape_keys.key_blocks
    blocks["jawOpen"].value = 0.4
    assert bpy.ops.neural_face.apply_actor_identity(filepath=str(tmp_path / "actor")) == {"FINISHED"}
    assert [blocks[n].value for n in identity_names()] == pytest.approx(identity.tolist(), abs=1e-6)
    assert blocks["jawOpen"].value == pytest.approx(0.4)  # expressions untouched
    assert "UNDO" in NEURALFACE_OT_apply_actor_identity.bl_options

    rig = head.parent  # the rig selected works as well, and so does the fit's shot.json itself
    bpy.context.view_layer.objects.active = rig
    write_fit(tmp_path / "other", -identity)
    assert bpy.ops.neural_face.apply_actor_identity(filepath=str(tmp_path / "other/fit/shot/shot.json")) == {"FINISHED"}
    assert blocks["id_00"].value == pytest.approx(0.9)


def test_apply_actor_identity_falls_back_to_the_panels_folder_and_reads_fit_npz(head, tmp_path):
    folder = tmp_path / "actor" / "fit"
    folder.mkdir(parents=True)
    np.savez(folder / "fit.npz", identity=np.full(28, 0.25))
    bpy.context.scene.neural_face.actor.folder = str(tmp_path / "actor")
    assert bpy.ops.neural_face.apply_actor_identity() == {"FINISHED"}
    assert head.data.shape_keys.key_blocks["id_27"].value == pytest.approx(0.25)
    assert read_identity(folder / "fit.npz")[0]["id_03"] == pytest.approx(0.25)


def test_apply_actor_identity_errors_are_clear(addon, tmp_path):
    write_fit(tmp_path / "actor", np.zeros(28))
    bpy.context.view_layer.objects.active = None
    with pytest.raises(RuntimeError, match="no head selected"):
        bpy.ops.neural_face.apply_actor_identity(filepath=str(tmp_path / "actor"))
    bpy.ops.mesh.primitive_cube_add()
    with pytest.raises(RuntimeError, match="'Cube' is not a bundled Neural Face head"):
        bpy.ops.neural_face.apply_actor_identity(filepath=str(tmp_path / "actor"))
    bpy.ops.neural_face.add_head()
    (tmp_path / "empty").mkdir()
    with pytest.raises(RuntimeError, match="no fit in .*empty.*fit/shot/shot.json"):
        bpy.ops.neural_face.apply_actor_identity(filepath=str(tmp_path / "empty"))
    with pytest.raises(RuntimeError, match="no actor chosen"):
        bpy.ops.neural_face.apply_actor_identity()


def test_apply_actor_identity_warns_when_keyframes_hold_the_keys(head, tmp_path):
    write_fit(tmp_path / "actor", np.full(28, 0.5))
    block = head.data.shape_keys.key_blocks["id_03"]
    block.value = -0.2
    block.keyframe_insert("value", frame=1)
    reports = []
    op = SimpleNamespace(filepath=str(tmp_path / "actor"), report=lambda kind, text: reports.append((kind, text)))
    op.settings = MethodType(NEURALFACE_OT_apply_actor_identity.settings, op)
    assert NEURALFACE_OT_apply_actor_identity.execute(op, bpy.context) == {"FINISHED"}
    assert any(kind == {"WARNING"} and "id_03" in text and "keyframes" in text for kind, text in reports), reports


# -- the steps in the worker --------------------------------------------------------------
def make_fake_python(folder):
    """An executable ``python`` that runs workers/fake_actor.py: ``<it> -m neural_core actor ...``."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "python"
    path.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{WORKERS / "fake_actor.py"}" "$@"\n')
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


@pytest.fixture
def actor(addon, tmp_path, monkeypatch):
    """The Actor settings with a footage folder and the fake worker."""
    addon.worker_python = str(make_fake_python(tmp_path / "bin"))
    monkeypatch.setenv("FAKE_ACTOR_MODE", "ok")
    (tmp_path / "photos").mkdir()
    props = bpy.context.scene.neural_face.actor
    props.folder = str(tmp_path / "actor")
    bpy.ops.neural_face.actor_footage_add()
    props.footage[0].path = str(tmp_path / "photos")
    return props, tmp_path / "actor"


def test_each_step_runs_the_actor_command_in_the_worker(actor):
    props, folder = actor
    props.train_minutes = 30
    for step in STEPS:
        assert bpy.ops.neural_face.actor_step(step=step) == {"FINISHED"}
        argv = json.loads((folder / f"argv_{step.lower()}.json").read_text())
        assert argv[:6] == ["-m", "neural_core", "actor", step.lower(), str(folder), "--json"]
        assert (argv[6:] == ["--footage", str(folder.parent / "photos")]) == (step == "NEW")
        assert (argv[6:] == ["--minutes", "30"]) == (step == "TRAIN")
        assert (props.done, props.total, props.progress) == (3, 3, 1.0)
        assert props.status_text == f"{step.capitalize()}: done" and not props.is_running
    assert worker.active_workers() == ()

    assert bpy.ops.neural_face.actor_use_model() == {"FINISHED"}  # Train wrote model/ema.safetensors, checkpoint.pt
    assert bpy.context.scene.neural_face.model_path == str(folder / "model" / "ema.safetensors")


def test_step_errors_are_reported_with_the_workers_words(actor, monkeypatch):
    props, folder = actor
    with pytest.raises(RuntimeError, match="run New first"):
        bpy.ops.neural_face.actor_step(step="FIT")
    props.footage[0].path = ""
    with pytest.raises(RuntimeError, match="New needs footage"):
        bpy.ops.neural_face.actor_step(step="NEW")
    props.footage[0].path = str(folder.parent / "photos")
    monkeypatch.setenv("FAKE_ACTOR_MODE", "bad-input")
    with pytest.raises(RuntimeError, match=r"bad input\): .*0002.jpg is truncated"):
        bpy.ops.neural_face.actor_step(step="NEW")
    assert props.status_text.startswith("Failed: ") and not props.is_running
    with pytest.raises(RuntimeError, match="no model in .*run Train"):
        bpy.ops.neural_face.actor_use_model()
    assert worker.active_workers() == ()


class FakeWindowManager:
    def __init__(self):
        self.windows, self.calls = [], []

    def progress_begin(self, low, high):
        self.calls.append("begin")

    def progress_update(self, value):
        self.calls.append("update")

    def progress_end(self):
        self.calls.append("end")

    def event_timer_add(self, interval, window=None):
        return object()

    def event_timer_remove(self, timer):
        self.calls.append("timer_removed")

    def modal_handler_add(self, operator):
        self.calls.append("modal")


def drive_modal(step, cancel_after=None, limit_s=60):
    """Run the step's modal path on timer events (Esc once ``cancel_after`` items are done).
    Returns (result, reports, operator, status texts)."""
    Op = actor_step.NEURALFACE_OT_actor_step
    reports, texts = [], []
    op = SimpleNamespace(step=step, report=lambda kind, text: reports.append((set(kind), text)))
    for name in ("modal", "_finish", "_stop_timer", "cancel", "_settings_for"):
        setattr(op, name, MethodType(getattr(Op, name), op))
    context = SimpleNamespace(window_manager=FakeWindowManager(), scene=bpy.context.scene, window=object(),
                              workspace=SimpleNamespace(status_text_set=texts.append),
                              preferences=bpy.context.preferences)
    op._settings = op._settings_for(context)
    op._process, op._scene = actor_step.start_step(op._settings), bpy.context.scene
    op._timer = context.window_manager.event_timer_add(0.1)
    actor_step.mark_running(op._scene, True)
    tick = SimpleNamespace(type="TIMER", value="NOTHING", timer=op._timer)
    esc = SimpleNamespace(type="ESC", value="PRESS", timer=None)
    deadline, pressed = time.monotonic() + limit_s, False
    while time.monotonic() < deadline:
        if cancel_after is not None and not pressed and op._process.progress.done >= cancel_after:
            assert op.modal(context, esc) == {"RUNNING_MODAL"}
            pressed = True
        result = op.modal(context, tick)
        if result != {"PASS_THROUGH"}:
            return result, reports, op, texts
        assert op._scene.neural_face.actor.is_running
        time.sleep(0.02)
    op.cancel(context)
    raise AssertionError("the modal step did not finish")


def test_the_modal_step_shows_progress_and_finishes(actor, monkeypatch):
    props, folder = actor
    monkeypatch.setenv("FAKE_ACTOR_SLEEP", "0.1")
    result, reports, op, texts = drive_modal("NEW")
    assert result == {"FINISHED"} and reports[-1] == ({"INFO"}, "Neural Face: actor new done")
    assert any(t and t.startswith("Neural Face actor New: ") and "(Esc to cancel)" in t for t in texts)
    assert texts[-1] is None and props.status_text == "New: done" and props.progress == 1.0
    assert worker.active_workers() == ()


def test_the_modal_step_shows_the_workers_own_stage(actor, monkeypatch):
    props, folder = actor
    folder.mkdir()
    monkeypatch.setenv("FAKE_ACTOR_SLEEP", "0.3")
    monkeypatch.setenv("FAKE_ACTOR_MODE", "stage")
    result, reports, op, texts = drive_modal("FIT")
    assert result == {"FINISHED"}
    assert "Neural Face actor Fit: pose from the image 1/2, 0:02 left  (Esc to cancel)" in texts
    assert any(t and t.startswith("Neural Face actor Fit: 1/3, ") for t in texts)  # the frames after the stage
    assert props.status_text == "Fit: done"


def test_esc_cancels_the_step_after_its_current_item(actor, monkeypatch):
    props, folder = actor
    folder.mkdir()
    monkeypatch.setenv("FAKE_ACTOR_SLEEP", "0.3")
    monkeypatch.setenv("FAKE_ACTOR_ITEMS", "40")
    monkeypatch.setenv("FAKE_ACTOR_MODE", "warn")
    result, reports, op, texts = drive_modal("FIT", cancel_after=1)
    assert result == {"CANCELLED"}
    assert reports[-1][0] == {"WARNING"} and "cancelled after frame" in reports[-1][1]
    assert op._process.returncode == worker.EXIT_CANCELLED and 1 <= props.done < 40
    assert props.status_text.startswith("Stopped: cancelled") and not props.is_running
    assert "photos have no face" in props.warning_text
    assert worker.active_workers() == ()


# -- the panel ----------------------------------------------------------------------------
class ActorLayout(RecordingLayout):
    """RecordingLayout whose operator buttons take properties (logged with them)."""

    def _child(self, *args, **kwargs):
        return ActorLayout(self.log)

    row = column = box = split = _child

    def operator(self, idname, **kwargs):
        button = SimpleNamespace()
        self.log.append(("operator", idname, button))
        return button


def draw_actor_panel():
    layout = ActorLayout()
    NEURALFACE_PT_actor.draw(SimpleNamespace(layout=layout), SimpleNamespace(scene=bpy.context.scene))
    return layout.log


def test_the_actor_panel_draws_every_step_and_the_running_progress(actor):
    props, folder = actor
    assert NEURALFACE_PT_actor.bl_parent_id == "NEURALFACE_PT_render"
    log = draw_actor_panel()
    buttons = [(entry[1], vars(entry[2])) for entry in log if entry[0] == "operator"]
    assert [b["step"] for idname, b in buttons if idname == "neural_face.actor_step"] == list(STEPS)
    assert ("neural_face.actor_footage_remove", {"index": 0}) in buttons
    assert ("neural_face.apply_actor_identity", {"filepath": str(folder)}) in buttons
    for name in ("actor_footage_add", "actor_use_model"):
        assert (f"neural_face.{name}", {}) in buttons
    assert ("prop", "folder") in log and ("prop", "path") in log and ("prop", "train_minutes") in log
    assert not [e for e in log if e[0] == "progress"]

    actor_step.mark_running(bpy.context.scene, True)
    props.step, props.done, props.total, props.progress, props.eta_text = "fit", 2, 8, 0.25, "0:30"
    props.warning_text = "fit: 2 photos have no face and are left out"
    props.status_text = ""
    try:
        log = draw_actor_panel()
        props.status_text = "Fit: pose from the image 2/8, 0:30 left"  # (show_progress: the worker's own stage)
        staged = draw_actor_panel()
    finally:
        actor_step.mark_running(bpy.context.scene, False)
    assert ("progress", 0.25, "Fit: 2/8, 0:30 left") in log
    assert ("progress", 0.25, "Fit: pose from the image 2/8, 0:30 left") in staged
    assert any(e[0] == "label" and "photos have no face" in e[1] for e in log)


def test_the_actor_operators_are_registered(addon):
    for name in ("actor_step", "actor_use_model", "actor_footage_add", "actor_footage_remove", "apply_actor_identity"):
        assert hasattr(bpy.ops.neural_face, name)
    assert hasattr(bpy.types, "NEURALFACE_PT_actor")
    assert bpy.context.scene.neural_face.actor.folder == "" and len(bpy.context.scene.neural_face.actor.footage) == 0


# -- the real command, once it exists -------------------------------------------------------
def _real_actor_command():
    python = ROOT / ".venv" / "bin" / "python"
    if not python.exists() or not (ROOT / "neural_core" / "commands" / "actor.py").is_file():
        return None
    done = subprocess.run([str(python), "-m", "neural_core", "actor", "--help"], capture_output=True, text=True,
                          cwd=ROOT, timeout=120)
    return python if done.returncode == 0 else None


def test_the_workflow_runs_through_the_real_actor_command(head, tmp_path):
    """New, Detect, Fit, Build, Train (a few seconds) and Report on the two shipped photos,
    then the actor's model as the render model and its fitted identity on the head: the
    panel's operators driving ``python -m neural_core actor`` itself."""
    python = _real_actor_command()
    if python is None:
        pytest.skip("neural_core/commands/actor.py (python -m neural_core actor) is not there yet")
    addon = bpy.context.preferences.addons["blender_addon"].preferences
    addon.worker_python = str(python)
    props = bpy.context.scene.neural_face.actor
    props.folder = str(tmp_path / "actor")
    bpy.ops.neural_face.actor_footage_add()
    props.footage[0].path = str(ROOT / "tests" / "data" / "photos")
    subprocess.run([str(python), "-m", "neural_core", "actor", "new", props.folder, "--footage", props.footage[0].path,
                    "--min-frames", "1"], cwd=ROOT, check=True, capture_output=True, timeout=120)  # two photos suffice here
    props.train_minutes = 0.05
    for step in ("NEW", "DETECT", "FIT", "BUILD", "TRAIN", "REPORT"):
        assert bpy.ops.neural_face.actor_step(step=step) == {"FINISHED"}, step
        assert props.status_text == f"{step.capitalize()}: done" and not props.is_running
    actor = tmp_path / "actor"
    assert (actor / "build" / "frames.json").is_file() and list((actor / "report").glob("*.png"))
    assert bpy.ops.neural_face.actor_use_model() == {"FINISHED"}
    assert bpy.context.scene.neural_face.model_path == str(actor / "model" / "ema.safetensors")
    assert bpy.ops.neural_face.apply_actor_identity(filepath=str(actor)) == {"FINISHED"}
    fit = shot_format.read_shot(actor / "fit" / "shot", check_passes=False)
    blocks = head.data.shape_keys.key_blocks
    for name in identity_names():
        assert blocks[name].value == pytest.approx(fit.frames[0].coefficients[fit.coefficient_names.index(name)], abs=1e-6)
    assert worker.active_workers() == ()
