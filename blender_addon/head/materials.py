"""One Principled BSDF material per face region, shared by the head and the eyeballs.

Every object of the head carries all ``REGIONS`` as material slots in the same order,
so a face's material index is its region id. Each material's ``pass_index`` is
region id + 1 (the Cycles material-index pass keeps 0 for the background).
"""

import bpy

from .mesh import REGIONS

COLOURS = {  # base colour (linear RGB) and roughness
    "skin": ((0.80, 0.55, 0.45), 0.5),
    "lips": ((0.65, 0.28, 0.28), 0.4),
    "sclera": ((0.90, 0.88, 0.85), 0.15),
    "iris": ((0.20, 0.32, 0.45), 0.2),
    "brows": ((0.12, 0.08, 0.05), 0.7),
    "mouth_interior": ((0.30, 0.06, 0.06), 0.6),
    "pupil": ((0.01, 0.01, 0.01), 0.1),
}


def region_material(region, prefix="NeuralFace"):
    """The material for one region, created on first use (name ``<prefix>_<region>``)."""
    name = f"{prefix}_{region}"
    material = bpy.data.materials.get(name)
    if material is None:
        material = bpy.data.materials.new(name)
        colour, roughness = COLOURS[region]
        material.diffuse_color = (*colour, 1.0)  # Workbench and the viewport
        material.roughness = roughness
        if bpy.app.version < (5, 0, 0):  # 5.0 materials always use nodes
            material.use_nodes = True
        bsdf = next((n for n in material.node_tree.nodes if n.type == "BSDF_PRINCIPLED"), None)
        if bsdf is not None:
            bsdf.inputs["Base Color"].default_value = (*colour, 1.0)
            bsdf.inputs["Roughness"].default_value = roughness
    material.pass_index = REGIONS.index(region) + 1
    return material


def assign_region_slots(data, prefix="NeuralFace"):
    """Give mesh ``data`` one material slot per region, in ``REGIONS`` order."""
    data.materials.clear()
    for region in REGIONS:
        data.materials.append(region_material(region, prefix))
