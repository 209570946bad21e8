"""Properties > Render > Neural Face."""

import bpy


class NEURALFACE_PT_render(bpy.types.Panel):
    bl_label = "Neural Face"
    bl_idname = "NEURALFACE_PT_render"
    bl_space_type = "PROPERTIES"
    bl_region_type = "WINDOW"
    bl_context = "render"

    def draw(self, context):
        layout = self.layout
        layout.label(text="Neural Face")


CLASSES = (NEURALFACE_PT_render,)
