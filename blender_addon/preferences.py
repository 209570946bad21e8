"""Add-on preferences: where the neural core worker runs."""

import bpy

# The package name Blender registered us under: "bl_ext.<repo>.neural_face" when
# installed as an extension, "blender_addon" in a repository checkout.
ADDON_ID = __package__


class NEURALFACE_AP_preferences(bpy.types.AddonPreferences):
    bl_idname = ADDON_ID

    worker_python: bpy.props.StringProperty(
        name="Worker Python",
        description=(
            "Python interpreter that runs the neural core worker (needs torch). Empty: the "
            ".venv of the checkout the add-on runs from or was built from, else "
            "$NEURAL_FACE_PYTHON. Blender's own Python is never used for torch"
        ),
        subtype="FILE_PATH",
        default="",
    )

    def draw(self, context):
        self.layout.prop(self, "worker_python")


CLASSES = (NEURALFACE_AP_preferences,)
