"""``neural_face.render_animation``: export the frame range, synthesise it in the worker.

With a window Blender stays usable throughout: a modal operator driven by a
window-manager timer first exports one frame per tick (Esc abandons the export and the
previous shot folder stays), then polls the worker, shows frames done and time left in
the status bar and the panel, and Esc cancels (the worker stops after its current frame;
no partial file is left).
Under ``blender -b`` / the bpy module (no window) it runs synchronously and prints a
progress line per frame: the headless path of ``tools/render_shot.py``.
"""

from pathlib import Path

import bpy

from ..jobs import modal_worker, render_job
from ..core_link import NeuralFaceError


TIMER_INTERVAL_S = 0.1  # how often the modal operator polls the worker


def _succeeded(operator, scene, done, settings):
    return modal_worker.succeeded(operator, scene.neural_face, f"Done: {done} frames in {settings.frames_folder}",
                                  f"Neural Face: {done} frames written to {settings.frames_folder}")


class NEURALFACE_OT_render_animation(bpy.types.Operator):
    bl_idname = "neural_face.render_animation"
    bl_label = "Render Animation"
    bl_description = (
        "Export the scene's frame range and synthesise every frame with the Neural Face worker "
        "(a separate Python process); Esc cancels"
    )
    bl_options = {"REGISTER"}

    _timer = None
    _export = None  # the export generator while exporting, then None
    _export_total = 0
    _process = None
    _scene = None
    _settings = None

    @classmethod
    def poll(cls, context):
        return context.scene is not None and not context.scene.neural_face.is_running

    # -- synchronous: headless, scripts -------------------------------------------
    def execute(self, context):
        scene = context.scene
        try:
            settings = render_job.settings_from_scene(scene, render_job.worker_python_preference(context))
            progress = render_job.run_blocking(scene, settings)
        except NeuralFaceError as error:
            return modal_worker.failed(self, scene.neural_face, error)
        return _succeeded(self, scene, progress.done, settings)

    # -- interactive: modal with a timer ------------------------------------------
    def invoke(self, context, event):
        if not modal_worker.has_window(context):
            return self.execute(context)
        scene = context.scene
        try:
            settings = render_job.settings_from_scene(scene, render_job.worker_python_preference(context))
            render_job.check_settings(settings)
            self._export = render_job.export_steps(scene, settings)
            self._export_step(next(self._export))  # the first frame; every user error is raised here
        except StopIteration:  # cannot happen: the range has at least one frame
            self._export = None
        except NeuralFaceError as error:
            self._export = None
            self.report({"ERROR"}, str(error))
            return {"CANCELLED"}
        self._scene = scene
        self._settings = settings
        render_job.mark_running(scene, True)
        self._timer = modal_worker.begin_modal(self, context, TIMER_INTERVAL_S)
        return {"RUNNING_MODAL"}

    def _export_step(self, step):
        done, self._export_total = step
        return f"Neural Face: exporting frame {done}/{self._export_total}  (Esc to cancel)"

    def _exporting(self, context, event):
        """One modal tick while exporting: Esc abandons it, a timer tick exports a frame,
        and after the last frame the worker starts."""
        if modal_worker.is_esc(event):
            self._export.close()  # discards the partial export, restores the scene
            self._export = None
            self._stop_timer(context)
            render_job.mark_running(self._scene, False)
            self._scene.neural_face.status_text = "Stopped: export cancelled"
            self.report({"WARNING"}, f"Neural Face: export cancelled; '{self._settings.shot_folder}' is unchanged")
            return {"CANCELLED"}
        if not modal_worker.is_tick(event, self._timer):
            return {"PASS_THROUGH"}
        try:
            text = self._export_step(next(self._export))
            context.workspace.status_text_set(text)
            self._scene.neural_face.status_text = text.removeprefix("Neural Face: ")
            return {"PASS_THROUGH"}
        except StopIteration as finished:
            self._export = None
            shot = Path(finished.value)
        except NeuralFaceError as error:
            self._export = None
            return self._fail(context, error)
        try:
            self._process = render_job.start_worker(self._settings, shot)
        except NeuralFaceError as error:
            return self._fail(context, error)
        self._scene.neural_face.status_text = "Starting the worker..."
        return {"PASS_THROUGH"}

    def _fail(self, context, error):
        self._stop_timer(context)
        render_job.mark_running(self._scene, False)
        return modal_worker.failed(self, self._scene.neural_face, error, "Neural Face: ")

    def modal(self, context, event):
        if self._export is not None:
            return self._exporting(context, event)

        def on_esc():
            self._scene.neural_face.status_text = "Cancelling after the current frame..."
            context.workspace.status_text_set("Neural Face: cancelling after the current frame...")

        result = modal_worker.modal_event(context, event, self._timer, self._process, on_esc=on_esc,
                                          show=lambda progress, cancelling: render_job.show_progress(self._scene, progress),
                                          status_bar_text=lambda progress: progress.summary() + "  (Esc to cancel)")
        return self._finish(context) if result is None else result

    def _finish(self, context):
        self._stop_timer(context)
        scene, settings = self._scene, self._settings
        if not modal_worker.end_modal(self, context, self._process, scene, render_job.mark_running, scene.neural_face, "Neural Face: "):
            return {"CANCELLED"}
        return _succeeded(self, scene, self._process.progress.done, settings)

    def cancel(self, context):
        """Blender ends the operator (file loaded, window closed): stop the export or worker."""
        self._stop_timer(context)
        if self._export is not None:
            self._export.close()
            self._export = None
        modal_worker.abandon(self._process, self._scene, render_job.mark_running)

    def _stop_timer(self, context):
        self._timer = modal_worker.stop_timer(context, self._timer)


CLASSES = (NEURALFACE_OT_render_animation,)
