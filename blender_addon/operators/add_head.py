"""Add > Neural Face head: builds the bundled parametric head at the 3D cursor."""

from dataclasses import dataclass

import bpy

from ..core_link import errors


@dataclass
class AddHeadSettings:
    name: str  # object name of the head mesh (the rig and eyes get suffixes)
    location: tuple  # world position of the head origin (base of the neck), metres


def add_head(settings, scene):
    """Build the head into ``scene``; returns ``build.HeadObjects``."""
    from ..head import build  # heavy: imported on use, not when the add-on is enabled

    return build.build_head(scene=scene, name=settings.name, location=settings.location)


class NEURALFACE_OT_add_head(bpy.types.Operator):
    """Add the bundled Neural Face head (mesh, rig, eyes, identity and ARKit shape keys)"""

    bl_idname = "neural_face.add_head"
    bl_label = "Neural Face Head"
    bl_options = {"REGISTER", "UNDO"}

    name: bpy.props.StringProperty(name="Name", default="NeuralFaceHead")

    def execute(self, context):
        settings = AddHeadSettings(name=self.name, location=tuple(context.scene.cursor.location))
        try:
            objects = add_head(settings, context.scene)
        except errors.NeuralFaceError as error:
            self.report({"ERROR"}, str(error))
            return {"CANCELLED"}
        for obj in context.view_layer.objects:
            obj.select_set(False)
        objects.mesh.select_set(True)
        context.view_layer.objects.active = objects.mesh
        return {"FINISHED"}


CLASSES = (NEURALFACE_OT_add_head,)
