"""Properties > Render > Neural Face: settings, the operators' buttons, job progress and
the last job's warnings."""

import textwrap

import bpy

ADD_HEAD = "neural_face.add_head"  # registered by the head module (NEURALFACE_OT_add_head)


def _operator_exists(idname):
    category, name = idname.split(".")
    return hasattr(bpy.types, f"{category.upper()}_OT_{name}")


def settings_or_notice(layout, context):
    """``scene.neural_face``, or None after drawing a notice that it is not registered."""
    props = getattr(context.scene, "neural_face", None)
    if props is None:
        layout.label(text="Neural Face settings are not registered", icon="ERROR")
    return props


def draw_job_state(layout, state, progress_text, cancel_hint):
    """A job's state (``state``: the settings of a job that runs a worker: ``is_running``,
    ``progress``, ``status_text``, ``warning_text``). While it runs a progress bar (Blender
    4.0+ ``layout.progress``) with ``progress_text`` and ``cancel_hint`` (how to cancel),
    else its last status; then its last warnings."""
    if state.is_running:
        layout.progress(factor=state.progress, type="BAR", text=progress_text)
        layout.label(text=cancel_hint, icon="CANCEL")
    elif state.status_text:
        layout.label(text=state.status_text)
    if state.warning_text:
        draw_warnings(layout, state.warning_text)


WARNING_WIDTH = 60  # characters per label line of a warning (a label does not wrap by itself)
WARNING_LINES = 8  # at most this many lines in all; the full text is in the job's log


def draw_warnings(layout, text):
    """The last job's worker warnings (``props.warning_text``, one per line), wrapped."""
    lines = []
    for warning in text.splitlines():
        lines += [(index == 0, line) for index, line in enumerate(textwrap.wrap(warning, WARNING_WIDTH))]
    if len(lines) > WARNING_LINES:
        lines = lines[: WARNING_LINES - 1] + [(False, "...")]
    box = layout.box()
    col = box.column(align=True)
    for starts, line in lines:
        col.label(text=line, icon="ERROR" if starts else "BLANK1")


class NEURALFACE_PT_render(bpy.types.Panel):
    bl_label = "Neural Face"
    bl_idname = "NEURALFACE_PT_render"
    bl_space_type = "PROPERTIES"
    bl_region_type = "WINDOW"
    bl_context = "render"

    def draw(self, context):
        layout = self.layout
        props = settings_or_notice(layout, context)
        if props is None:
            return
        layout.use_property_split = True
        layout.use_property_decorate = False

        row = layout.row(align=True)
        row.prop(props, "head_object")
        if _operator_exists(ADD_HEAD):
            row.operator(ADD_HEAD, text="", icon="ADD")

        col = layout.column(heading="Rig")
        col.prop(props, "rig_profile")
        sub = col.column()
        sub.active = props.rig_profile == "custom"  # the map is read for the custom profile only
        sub.prop(props, "rig_map_file")
        sub.prop(props, "rig_map_text")

        col = layout.column()
        col.prop(props, "model_path")
        col.prop(props, "device")
        col.prop(props, "appearance_look")
        if props.appearance_look == "SEED":
            col.prop(props, "appearance_seed")
        elif props.appearance_look == "FRAME":
            col.prop(props, "appearance_frame")
        col.prop(props, "smoothing")
        col.prop(props, "stabilise_colour")
        col.prop(props, "stabilise_brightness")

        col = layout.column(heading="Output")
        col.prop(props, "output_folder")
        col.prop(props, "file_format")
        sub = col.column()
        sub.active = props.file_format == "PNG"
        sub.prop(props, "png_depth", expand=True)

        col = layout.column(heading="Passes")
        col.prop(props, "passes_engine")
        col.prop(props, "passes_samples")

        layout.separator()
        col = layout.column(align=True)
        col.enabled = not props.is_running
        col.operator("neural_face.render_frame", icon="RENDER_STILL")
        col.operator("neural_face.render_animation", icon="RENDER_ANIMATION")
        col.operator("neural_face.setup_compositor", icon="NODE_COMPOSITING")

        draw_job_state(layout, props, f"{props.frames_done}/{props.frames_total} frames, {props.eta_text or '--:--'} left",
                       "Esc in the 3D Viewport or any editor cancels")


CLASSES = (NEURALFACE_PT_render,)
