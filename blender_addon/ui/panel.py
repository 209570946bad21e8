"""Properties > Render > Neural Face: settings, the operators' buttons, job progress."""

import bpy

ADD_HEAD = "neural_face.add_head"  # registered by the head module (NEURALFACE_OT_add_head)


def _operator_exists(idname):
    category, name = idname.split(".")
    return hasattr(bpy.types, f"{category.upper()}_OT_{name}")


def draw_progress(layout, props):
    """The running job: a progress bar (Blender 4.0+ ``layout.progress``) with frames
    done and time left."""
    text = f"{props.frames_done}/{props.frames_total} frames, {props.eta_text or '--:--'} left"
    layout.progress(factor=props.progress, type="BAR", text=text)
    layout.label(text="Esc in the 3D Viewport or any editor cancels", icon="CANCEL")


class NEURALFACE_PT_render(bpy.types.Panel):
    bl_label = "Neural Face"
    bl_idname = "NEURALFACE_PT_render"
    bl_space_type = "PROPERTIES"
    bl_region_type = "WINDOW"
    bl_context = "render"

    def draw(self, context):
        layout = self.layout
        props = getattr(context.scene, "neural_face", None)
        if props is None:
            layout.label(text="Neural Face settings are not registered", icon="ERROR")
            return
        layout.use_property_split = True
        layout.use_property_decorate = False

        row = layout.row(align=True)
        row.prop(props, "head_object")
        if _operator_exists(ADD_HEAD):
            row.operator(ADD_HEAD, text="", icon="ADD")

        col = layout.column()
        col.prop(props, "model_path")
        col.prop(props, "device")
        col.prop(props, "appearance_seed")
        col.prop(props, "smoothing")

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

        if props.is_running:
            draw_progress(layout, props)
        elif props.status_text:
            layout.label(text=props.status_text)


CLASSES = (NEURALFACE_PT_render,)
