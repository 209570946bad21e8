"""``neural_face.setup_compositor``: play the synthesised sequence over the render."""

from pathlib import Path

import bpy

from .. import compositor
from ..jobs import render_job
from ..core_link import NeuralFaceError



def sequence_for(settings):
    """The worker's sequence for the frame range of ``settings``; refuses a range whose
    first file is missing (the compositor would show nothing)."""
    first = settings.frame_path(settings.frame_start)
    if not first.is_file():
        raise NeuralFaceError(
            f"no synthesised frames at '{first}': render the animation first (or check the output folder)"
        )
    return compositor.SequenceInfo(str(first), settings.frame_start, settings.frame_end)


def setup_for_settings(scene, settings):
    """Wire the sequence of ``settings`` into the compositor of ``scene``."""
    return compositor.setup_compositor(scene, sequence_for(settings))


class NEURALFACE_OT_setup_compositor(bpy.types.Operator):
    bl_idname = "neural_face.setup_compositor"
    bl_label = "Set Up Compositor"
    bl_description = (
        "Composite the synthesised image sequence over the Render Layers (Alpha Over); "
        "running it again updates the same nodes"
    )
    bl_options = {"REGISTER", "UNDO"}

    @classmethod
    def poll(cls, context):
        return context.scene is not None

    def execute(self, context):
        scene = context.scene
        try:
            settings = render_job.settings_from_scene(scene, render_job.worker_python_preference(context))
            nodes = setup_for_settings(scene, settings)
        except NeuralFaceError as error:
            self.report({"ERROR"}, str(error))
            return {"CANCELLED"}
        warning = compositor.view_transform_warning(scene)
        if warning:
            self.report({"WARNING"}, f"Neural Face: {warning}")
        self.report({"INFO"}, f"Neural Face: compositor plays {Path(nodes.image.image.filepath).name} "
                              f"for frames {settings.frame_start}-{settings.frame_end}")
        return {"FINISHED"}


CLASSES = (NEURALFACE_OT_setup_compositor,)
