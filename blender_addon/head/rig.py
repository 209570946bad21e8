"""The head's armature: ``neck`` -> ``head`` -> (``jaw``, ``eye.L``, ``eye.R``).

Bone rest positions are in the head frame (metres, origin at the neck base). The jaw
hinges about its local X axis at ``fields.JAW_PIVOT`` (a positive X rotation opens the
mouth); each eye bone sits at its eyeball centre and points forward (-Y).
"""

import bpy
import numpy as np

from . import fields

NECK_BASE = (0.0, 0.045, 0.02)
SKULL_BASE = (0.0, 0.040, 0.165)
HEAD_TOP = (0.0, 0.040, 0.320)
CHIN_TIP = (0.0, -0.040, 0.112)
EYE_BONE_LENGTH = 0.02


def bone_layout(eye_centres):
    """{bone: (head [3], tail [3], parent or None)} for the given eyeball centres."""
    layout = {
        "neck": (NECK_BASE, SKULL_BASE, None),
        "head": (SKULL_BASE, HEAD_TOP, "neck"),
        "jaw": (tuple(fields.JAW_PIVOT), CHIN_TIP, "head"),
    }
    for side in ("L", "R"):
        centre = np.asarray(eye_centres[side], dtype=float)
        layout[f"eye.{side}"] = (tuple(centre), tuple(centre + [0, -EYE_BONE_LENGTH, 0]), "head")
    return layout


def create_armature(name, collection, eye_centres):
    """A new armature object linked to ``collection``; returns it (in object mode)."""
    data = bpy.data.armatures.new(name)
    arm = bpy.data.objects.new(name, data)
    collection.objects.link(arm)
    view_layer = bpy.context.view_layer
    previous = view_layer.objects.active
    view_layer.objects.active = arm
    bpy.ops.object.mode_set(mode="EDIT")
    try:
        for bone_name, (head, tail, parent) in bone_layout(eye_centres).items():
            bone = data.edit_bones.new(bone_name)
            bone.head, bone.tail = head, tail
            bone.roll = 0.0
            bone.use_deform = bone_name in ("neck", "head", "jaw")
            if parent is not None:
                bone.parent = data.edit_bones[parent]
                bone.use_connect = bone_name == "head"
    finally:
        bpy.ops.object.mode_set(mode="OBJECT")
        view_layer.objects.active = previous
    for pose_bone in arm.pose.bones:
        pose_bone.rotation_mode = "XYZ"
    data.display_type = "STICK"
    arm.show_in_front = True
    return arm


def skin_weights(points):
    """{vertex group: weight [N]} for the head mesh (neck, head, jaw; sum to 1)."""
    jaw = fields.jaw_weight(points)
    upper = fields.band(points[:, 2], 0.115, 0.165)  # head above, neck below
    return {"jaw": jaw, "head": (1 - jaw) * upper, "neck": (1 - jaw) * (1 - upper)}
