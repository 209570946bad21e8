"""``neural_face.render_frame``: synthesise the current frame and show it.

Exports the current frame into ``<output>/preview/shot``, runs the worker for it and
waits, then loads ``preview/frames/neural_####.png`` into the Image datablock
"Neural Face", shown in every open Image Editor.
"""

from pathlib import Path

import bpy

from ..jobs import render_job
from ..core_link import NeuralFaceError


IMAGE_NAME = "Neural Face"  # the Image datablock holding the last rendered frame
FRAME_TIMEOUT_S = 600  # a single frame that takes longer than this is treated as hung


def show_frame(path, screen=None):
    """Load ``path`` into the "Neural Face" image (reused, reloaded) and show it in the
    Image Editors of ``screen``. Returns the image."""
    path = str(Path(path))
    image = bpy.data.images.get(IMAGE_NAME)
    if image is None:
        image = bpy.data.images.load(path, check_existing=False)
        image.name = IMAGE_NAME
    else:
        image.source = "FILE"
        image.filepath = path
        image.reload()
    if screen is not None:
        for area in screen.areas:
            if area.type == "IMAGE_EDITOR":
                area.spaces.active.image = image
                area.tag_redraw()
    return image


def render_frame(scene, settings, log=print):
    """Export and synthesise ``settings.frame_start`` (one frame); returns the file."""
    render_job.run_blocking(scene, settings, log=log, timeout=FRAME_TIMEOUT_S)
    path = settings.frame_path(settings.frame_start)
    if not path.is_file():
        raise NeuralFaceError(f"the worker finished but did not write '{path}'")
    return path


class NEURALFACE_OT_render_frame(bpy.types.Operator):
    bl_idname = "neural_face.render_frame"
    bl_label = "Render Frame"
    bl_description = "Synthesise the current frame with the Neural Face worker and show it in an Image Editor"
    bl_options = {"REGISTER"}

    @classmethod
    def poll(cls, context):
        return context.scene is not None and not context.scene.neural_face.is_running

    def execute(self, context):
        scene = context.scene
        frame = scene.frame_current
        try:
            settings = render_job.settings_from_scene(
                scene, render_job.worker_python_preference(context), frame_start=frame, frame_end=frame, preview=True
            )
            path = render_frame(scene, settings)
            show_frame(path, context.screen)
        except NeuralFaceError as error:
            self.report({"ERROR"}, str(error))
            return {"CANCELLED"}
        except RuntimeError as error:  # the image could not be loaded
            self.report({"ERROR"}, f"Neural Face: cannot load the rendered frame: {error}")
            return {"CANCELLED"}
        self.report({"INFO"}, f"Neural Face: frame {frame} -> {path}")
        return {"FINISHED"}


CLASSES = (NEURALFACE_OT_render_frame,)
