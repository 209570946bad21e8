"""Properties > Render > Neural Face > Actor: a real person's face as the render model.

The actor folder, the footage list, one button per step of the workflow (New, Detect, Fit,
Build, Train, Report: ``neural_face.actor_step`` runs ``python -m neural_core actor <step>``
in the worker), the running step's progress (Esc cancels), the last step's warnings, and
the two ways the actor reaches the render: its model as the render model, its fitted
identity on the bundled head.
"""

import bpy

from .panel import draw_job_state, settings_or_notice

STEP_ROWS = (("NEW", "DETECT", "FIT"), ("BUILD", "TRAIN", "REPORT"))
STEP_ICONS = {"NEW": "FILE_NEW", "DETECT": "VIEWZOOM", "FIT": "MOD_SHRINKWRAP", "BUILD": "RENDERLAYERS",
              "TRAIN": "PLAY", "REPORT": "IMAGE_DATA"}


def draw_footage(layout, actor):
    col = layout.column(align=True)
    col.label(text="Footage (photo folders, videos)")
    for index, item in enumerate(actor.footage):
        row = col.row(align=True)
        row.prop(item, "path", text="")
        remove = row.operator("neural_face.actor_footage_remove", text="", icon="X")
        remove.index = index
    col.operator("neural_face.actor_footage_add", text="Add Footage", icon="ADD")


class NEURALFACE_PT_actor(bpy.types.Panel):
    bl_label = "Actor"
    bl_idname = "NEURALFACE_PT_actor"
    bl_parent_id = "NEURALFACE_PT_render"
    bl_space_type = "PROPERTIES"
    bl_region_type = "WINDOW"
    bl_context = "render"
    bl_options = {"DEFAULT_CLOSED"}

    def draw(self, context):
        layout = self.layout
        props = settings_or_notice(layout, context)
        if props is None:
            return
        actor = props.actor
        layout.prop(actor, "folder")
        draw_footage(layout, actor)

        col = layout.column(align=True)
        col.enabled = not actor.is_running
        for steps in STEP_ROWS:
            row = col.row(align=True)
            for step in steps:
                button = row.operator("neural_face.actor_step", text=step.capitalize(), icon=STEP_ICONS[step])
                button.step = step
        layout.prop(actor, "train_minutes")

        counted = f"{actor.step.capitalize()}: {actor.done}/{actor.total}, {actor.eta_text or '--:--'} left"
        draw_job_state(layout, actor, actor.status_text or counted,  # (the step's own stage where it reports one)
                       "Esc in any editor cancels after the current item")

        col = layout.column(align=True)
        col.enabled = bool(actor.folder)
        col.operator("neural_face.actor_use_model", icon="MODIFIER")
        apply = col.operator("neural_face.apply_actor_identity", icon="USER")
        apply.filepath = actor.folder


CLASSES = (NEURALFACE_PT_actor,)
