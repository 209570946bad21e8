"""The Actor panel's steps: ``python -m neural_core actor <step> ACTOR_DIR --json`` in the worker.

``neural_face.actor_step`` (``step``: new, detect, fit, build, train, report) runs one step
of the actor workflow (docs/actor.md) in the worker process, the same machinery as a
render job (``jobs.worker_client``): with a window it is modal, shows progress in the panel
and the status bar, and Esc cancels (the step stops after its current item and a rerun
goes on); without one (``blender -b``, the bpy module) it runs to the end and prints a
line per item. ``neural_face.actor_use_model`` makes the actor's trained model
(``ACTOR_DIR/model/ema.safetensors``) the render model; ``actor_footage_add`` / ``actor_footage_remove`` edit the footage list.
"""

import os
from dataclasses import dataclass, field
from pathlib import Path

import bpy

from .. import properties
from ..core_link import NeuralFaceError
from ..jobs import modal_worker, worker_client
from ..jobs.events import format_duration

STEP_ITEMS = (
    ("NEW", "New", "Start the actor folder from the footage list"),
    ("DETECT", "Detect", "Find the face and its landmarks in every photo or video frame"),
    ("FIT", "Fit", "Fit the bundled head to the landmarks: one identity, per frame expression, pose and camera"),
    ("BUILD", "Build", "Render the fitted head's passes beside the photo crops: the training set"),
    ("TRAIN", "Train", "Train the actor's model (goes on from where the last Train stopped)"),
    ("REPORT", "Report", "Write the contact sheet: photo, fitted landmarks, passes, model output"),
)
TIMER_INTERVAL_S = 0.2  # how often the modal operator polls the worker
MODEL_FILE = "ema.safetensors"  # the trainer's renderable weights in ACTOR_DIR/model (checkpoint.pt is its resume state)


@dataclass
class ActorStepSettings:
    """One step, copied from ``scene.neural_face.actor`` and the preferences once."""

    step: str  # "new" | "detect" | "fit" | "build" | "train" | "report"
    actor_dir: str  # absolute actor folder
    footage: list = field(default_factory=list)  # absolute photo folders / video files (new only)
    minutes: float = 0.0  # train: time budget in minutes; 0 = the command's default
    worker_python: str = ""  # the add-on preference; "" = default resolution (worker_client)


def settings_from_scene(scene, step, worker_python=""):
    """Snapshot the Actor settings for ``step`` (an item of STEP_ITEMS, any case).
    NeuralFaceError for a missing folder, or New without footage."""
    actor = scene.neural_face.actor
    step = step.lower()
    if step not in {s[0].lower() for s in STEP_ITEMS}:
        raise NeuralFaceError(f"unknown actor step '{step}'")
    if not actor.folder:
        raise NeuralFaceError("set the Actor Folder first (a new or empty folder for New)")
    if actor.folder.startswith("//") and not bpy.data.filepath:
        raise NeuralFaceError(f"actor folder '{actor.folder}' is relative to the .blend file, which is not saved yet")
    folder = str(Path(bpy.path.abspath(actor.folder)).resolve())
    footage = [str(Path(bpy.path.abspath(item.path)).resolve()) for item in actor.footage if item.path] if step == "new" else []
    if step == "new":
        if not footage:
            raise NeuralFaceError("New needs footage: add a folder of photos or a video file to the footage list")
        missing = [path for path in footage if not os.path.exists(path)]
        if missing:
            raise NeuralFaceError(f"footage '{missing[0]}' does not exist")
    elif not Path(folder).is_dir():
        raise NeuralFaceError(f"actor folder '{folder}' does not exist: run New first")
    return ActorStepSettings(step=step, actor_dir=folder, footage=footage,
                             minutes=float(actor.train_minutes) if step == "train" else 0.0,
                             worker_python=worker_python)


def step_command(python, settings):
    """The worker's argv: ``python -m neural_core actor STEP ACTOR_DIR --json [--footage ...] [--minutes M]``."""
    argv = [python, "-m", "neural_core", "actor", settings.step, settings.actor_dir, "--json"]
    if settings.footage:
        argv += ["--footage", *settings.footage]
    if settings.minutes > 0:
        argv += ["--minutes", f"{settings.minutes:g}"]
    return argv


def start_step(settings):
    return modal_worker.start(step_command(worker_client.resolve_worker_python(settings.worker_python), settings))


def summary(step, progress):
    """``Fit: 12/48, 1:09 left`` for the panel and the status bar; while the worker reports a
    stage of its own (a solver stage, the pose from the image), that stage's words instead:
    ``Fit: pose from the image 120/1800, 3:10 left``."""
    if progress.stage:
        left = f", {format_duration(progress.eta_s)} left" if progress.eta_s is not None else ""
        return progress.stage[:1].upper() + progress.stage[1:] + left
    return f"{step.capitalize()}: {progress.done}/{progress.total}, {format_duration(progress.eta_s)} left"


def show_progress(scene, step, progress, status=None):
    """Copy a :class:`~..jobs.events.JobProgress` into ``scene.neural_face.actor``."""
    actor = scene.neural_face.actor
    actor.step = step
    actor.total, actor.done = progress.total, progress.done
    modal_worker.show_state(actor, progress, status if status is not None else summary(step, progress))


def mark_running(scene, running):
    if running:
        scene.neural_face.actor.warning_text = ""
        properties.ACTOR_RUNNING.add(scene.name)
    else:
        properties.ACTOR_RUNNING.discard(scene.name)


def run_blocking(scene, settings, log=print, timeout=None):
    """Run the step to its end (no window); returns the JobProgress. WorkerError on failure."""
    process = start_step(settings)
    logged = [0]

    def report(progress):
        show_progress(scene, settings.step, progress)
        if len(progress.finished_frames) > logged[0]:
            logged[0] = len(progress.finished_frames)
            log(f"Neural Face actor {summary(settings.step, progress)}")

    return modal_worker.wait(process, scene, mark_running, report, timeout=timeout)


def find_model(actor_dir):
    """The actor's model: ``ACTOR_DIR/model/ema.safetensors``, else the newest .safetensors
    there (never the trainer's resume checkpoint). NeuralFaceError when there is none."""
    folder = Path(actor_dir) / "model"
    if (folder / MODEL_FILE).is_file():
        return folder / MODEL_FILE
    models = [p for p in folder.glob("*.safetensors") if p.is_file()] if folder.is_dir() else []
    if not models:
        raise NeuralFaceError(f"no model in '{folder}' yet: run Train")
    return max(models, key=lambda p: (p.stat().st_mtime_ns, p.name))


class NEURALFACE_OT_actor_step(bpy.types.Operator):
    bl_idname = "neural_face.actor_step"
    bl_label = "Actor Step"
    bl_description = "Run one step of the actor workflow in the Neural Face worker; Esc cancels"
    bl_options = {"REGISTER"}

    step: bpy.props.EnumProperty(name="Step", items=STEP_ITEMS, default="NEW")

    _timer = None
    _process = None
    _scene = None
    _settings = None

    @classmethod
    def description(cls, context, properties):
        return next((text for key, _, text in STEP_ITEMS if key == properties.step), cls.bl_description)

    @classmethod
    def poll(cls, context):
        scene = context.scene
        return scene is not None and hasattr(scene, "neural_face") and not scene.neural_face.actor.is_running

    def _settings_for(self, context):
        from ..jobs.render_job import worker_python_preference

        return settings_from_scene(context.scene, self.step, worker_python_preference(context))

    def execute(self, context):
        scene = context.scene
        try:
            settings = self._settings_for(context)
            progress = run_blocking(scene, settings)
        except NeuralFaceError as error:
            return modal_worker.failed(self, scene.neural_face.actor, error)
        return modal_worker.succeeded(self, scene.neural_face.actor, f"{settings.step.capitalize()}: done",
                                      f"Neural Face: actor {settings.step} done ({progress.done}/{progress.total})")

    def invoke(self, context, event):
        if not modal_worker.has_window(context):
            return self.execute(context)
        scene = context.scene
        try:
            self._settings = self._settings_for(context)
            self._process = start_step(self._settings)
        except NeuralFaceError as error:
            return modal_worker.failed(self, scene.neural_face.actor, error)
        self._scene = scene
        mark_running(scene, True)
        show_progress(scene, self._settings.step, self._process.progress, status=f"{self.step.capitalize()}: starting...")
        self._timer = modal_worker.begin_modal(self, context, TIMER_INTERVAL_S)
        return {"RUNNING_MODAL"}

    def modal(self, context, event):
        step = self._settings.step

        def on_esc():
            self._scene.neural_face.actor.status_text = f"{step.capitalize()}: cancelling after the current item..."

        def show(progress, cancelling):
            show_progress(self._scene, step, progress, status=self._scene.neural_face.actor.status_text if cancelling else None)

        result = modal_worker.modal_event(context, event, self._timer, self._process, on_esc=on_esc, show=show,
                                          status_bar_text=lambda progress: f"Neural Face actor {summary(step, progress)}  (Esc to cancel)")
        return self._finish(context) if result is None else result

    def _finish(self, context):
        self._stop_timer(context)
        scene, step = self._scene, self._settings.step
        if not modal_worker.end_modal(self, context, self._process, scene, mark_running, scene.neural_face.actor,
                                      f"Neural Face: actor {step}: "):
            return {"CANCELLED"}
        return modal_worker.succeeded(self, scene.neural_face.actor, f"{step.capitalize()}: done", f"Neural Face: actor {step} done")

    def cancel(self, context):
        """Blender ends the operator (file loaded, window closed): stop the worker."""
        self._stop_timer(context)
        modal_worker.abandon(self._process, self._scene, mark_running)

    def _stop_timer(self, context):
        self._timer = modal_worker.stop_timer(context, self._timer)


class NEURALFACE_OT_actor_use_model(bpy.types.Operator):
    """Render with the actor's trained model: ACTOR_DIR/model/ema.safetensors becomes the Model"""

    bl_idname = "neural_face.actor_use_model"
    bl_label = "Use Actor Model"
    bl_options = {"REGISTER", "UNDO"}

    def execute(self, context):
        props = context.scene.neural_face
        try:
            if not props.actor.folder:
                raise NeuralFaceError("set the Actor Folder first")
            model = find_model(bpy.path.abspath(props.actor.folder))
        except NeuralFaceError as error:
            self.report({"ERROR"}, str(error))
            return {"CANCELLED"}
        props.model_path = str(model)
        self.report({"INFO"}, f"Neural Face: rendering with {model}")
        return {"FINISHED"}


class NEURALFACE_OT_actor_footage_add(bpy.types.Operator):
    """Add a row to the footage list (a folder of photos or a video file)"""

    bl_idname = "neural_face.actor_footage_add"
    bl_label = "Add Footage"
    bl_options = {"REGISTER", "UNDO"}

    def execute(self, context):
        context.scene.neural_face.actor.footage.add()
        return {"FINISHED"}


class NEURALFACE_OT_actor_footage_remove(bpy.types.Operator):
    """Remove this row from the footage list"""

    bl_idname = "neural_face.actor_footage_remove"
    bl_label = "Remove Footage"
    bl_options = {"REGISTER", "UNDO"}

    index: bpy.props.IntProperty(name="Index", min=0)

    def execute(self, context):
        footage = context.scene.neural_face.actor.footage
        if self.index >= len(footage):
            self.report({"ERROR"}, f"no footage row {self.index}")
            return {"CANCELLED"}
        footage.remove(self.index)
        return {"FINISHED"}


CLASSES = (NEURALFACE_OT_actor_step, NEURALFACE_OT_actor_use_model, NEURALFACE_OT_actor_footage_add,
           NEURALFACE_OT_actor_footage_remove)
