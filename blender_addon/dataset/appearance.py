"""Procedural appearance of the training renders: skin, lips, eyes, brows, hair, lights, world.

Built on materials of its own (``NFData_<region>``), swapped into the head's material
slots only for the beauty render, so the head's own materials (and the passes the
exporter renders with them) stay untouched. :func:`apply` sets one frame's look from
the uniforms of ``sampling.APPEARANCE``.

Skin detail lives in UV space (pores as bump, blotchy redness, freckles); the hair
impression uses the undeformed ("Generated") coordinates, so neither swims when the
face moves.
"""

import colorsys
import math

import bpy
import numpy as np

from .sampling import APPEARANCE

SKIN_LIGHT = np.array([0.62, 0.42, 0.32])  # linear reflectance of light skin
SKIN_DARK = np.array([0.10, 0.055, 0.035])  # linear reflectance of dark skin
HAIR_LIGHT = np.array([0.45, 0.30, 0.14])  # blond
HAIR_DARK = np.array([0.018, 0.013, 0.010])  # black
IRIS_PALETTE = np.array([  # brown, hazel, green, blue, grey
    [0.10, 0.045, 0.015], [0.20, 0.12, 0.04], [0.10, 0.18, 0.07], [0.09, 0.18, 0.38], [0.25, 0.27, 0.28]])


def _a(values):
    return dict(zip(APPEARANCE, values))


def _rgba(rgb):
    return (float(rgb[0]), float(rgb[1]), float(rgb[2]), 1.0)


class Look:
    """The dataset's materials, lights and world in one scene; ``apply(uniforms)`` per frame."""

    def __init__(self, scene, head_centre):
        self.scene = scene
        self.centre = np.asarray(head_centre, dtype=float)
        self.materials = {name: self._principled(f"NFData_{name}") for name in
                          ("skin", "lips", "sclera", "iris", "brows", "mouth_interior", "pupil")}
        self._skin_nodes(self.materials["skin"], hair=True)
        self._skin_nodes(self.materials["lips"], hair=False)
        self.key = self._light("NFData_key", "AREA")
        self.rim = self._light("NFData_rim", "POINT")
        self._world()

    # -- building ---------------------------------------------------------------------
    def _principled(self, name):
        material = bpy.data.materials.new(name)
        if bpy.app.version < (5, 0, 0):  # 5.0 materials always use nodes
            material.use_nodes = True
        bsdf = next(n for n in material.node_tree.nodes if n.type == "BSDF_PRINCIPLED")
        bsdf.name = "bsdf"
        return material

    def _skin_nodes(self, material, hair):
        nodes, links = material.node_tree.nodes, material.node_tree.links
        bsdf = nodes["bsdf"]

        def node(kind, name, inputs=(), vector=None, **attributes):
            """A new node ``name`` of ``kind``: ``attributes`` set on it, ``inputs``
            ({socket name or index: value}) as its input defaults, the output socket
            ``vector`` (texture coordinates) linked to its Vector input."""
            n = nodes.new(kind)
            n.name = name
            for key, value in attributes.items():
                setattr(n, key, value)
            for socket, value in dict(inputs).items():
                n.inputs[socket].default_value = value
            if vector is not None:
                links.new(vector, n.inputs["Vector"])
            return n

        base = node("ShaderNodeRGB", "base")
        red = node("ShaderNodeRGB", "red_tint")
        freckle_colour = node("ShaderNodeRGB", "freckle_colour")
        redness = node("ShaderNodeValue", "redness")
        freckles = node("ShaderNodeValue", "freckles")
        uv = node("ShaderNodeTexCoord", "coords")
        blotch = node("ShaderNodeTexNoise", "blotch", {"Scale": 9.0, "Detail": 3.0}, vector=uv.outputs["UV"])
        blotch_fac = node("ShaderNodeMapRange", "blotch_range", {"From Min": 0.45, "From Max": 0.7})
        links.new(blotch.outputs["Fac"], blotch_fac.inputs["Value"])
        red_amount = node("ShaderNodeMath", "red_amount", operation="MULTIPLY")
        links.new(blotch_fac.outputs["Result"], red_amount.inputs[0])
        links.new(redness.outputs[0], red_amount.inputs[1])
        mix_red = self._mix(nodes, links, red_amount.outputs[0], base.outputs[0], red.outputs[0])

        spots = node("ShaderNodeTexVoronoi", "spots", {"Scale": 140.0}, vector=uv.outputs["UV"])
        spot_mask = node("ShaderNodeMath", "spot_mask", operation="LESS_THAN")
        links.new(spots.outputs["Distance"], spot_mask.inputs[0])
        links.new(freckles.outputs[0], spot_mask.inputs[1])
        mix_freckles = self._mix(nodes, links, spot_mask.outputs[0], mix_red, freckle_colour.outputs[0])
        colour = mix_freckles

        pores = node("ShaderNodeTexNoise", "pores", {"Scale": 600.0}, vector=uv.outputs["UV"])
        bump = node("ShaderNodeBump", "bump", {"Strength": 0.12, "Distance": 0.0005})
        links.new(pores.outputs["Fac"], bump.inputs["Height"])
        links.new(bump.outputs["Normal"], bsdf.inputs["Normal"])

        if hair:
            hair_colour = node("ShaderNodeRGB", "hair_colour")
            hairline = node("ShaderNodeValue", "hairline")
            xyz = node("ShaderNodeSeparateXYZ", "xyz")
            links.new(uv.outputs["Generated"], xyz.inputs[0])
            # hair where z (0 chin/neck .. 1 top) is above a line that drops towards the back (y: 0 front .. 1 back)
            slope = node("ShaderNodeMath", "slope", {1: 0.45}, operation="MULTIPLY")
            links.new(xyz.outputs["Y"], slope.inputs[0])
            lifted = node("ShaderNodeMath", "lifted", operation="ADD")
            links.new(xyz.outputs["Z"], lifted.inputs[0])
            links.new(slope.outputs[0], lifted.inputs[1])
            strands = node("ShaderNodeTexNoise", "strands", {"Scale": 60.0}, vector=uv.outputs["Generated"])
            jitter = node("ShaderNodeMath", "jitter", {1: 0.04}, operation="MULTIPLY_ADD")
            links.new(strands.outputs["Fac"], jitter.inputs[0])
            links.new(lifted.outputs[0], jitter.inputs[2])
            edge = node("ShaderNodeMapRange", "hair_edge")
            links.new(jitter.outputs[0], edge.inputs["Value"])
            links.new(hairline.outputs[0], edge.inputs["From Min"])
            plus = node("ShaderNodeMath", "hairline_soft", {1: 0.03}, operation="ADD")
            links.new(hairline.outputs[0], plus.inputs[0])
            links.new(plus.outputs[0], edge.inputs["From Max"])
            colour = self._mix(nodes, links, edge.outputs["Result"], colour, hair_colour.outputs[0])
            roughness = node("ShaderNodeValue", "roughness")
            rough_mix = node("ShaderNodeMapRange", "hair_rough", {"To Max": 0.8})
            links.new(edge.outputs["Result"], rough_mix.inputs["Value"])
            links.new(roughness.outputs[0], rough_mix.inputs["To Min"])
            links.new(rough_mix.outputs["Result"], bsdf.inputs["Roughness"])
        links.new(colour, bsdf.inputs["Base Color"])
        bsdf.inputs["Subsurface Weight"].default_value = 0.15
        bsdf.inputs["Subsurface Radius"].default_value = (1.0, 0.35, 0.2)
        bsdf.inputs["Subsurface Scale"].default_value = 0.004

    @staticmethod
    def _mix(nodes, links, factor, a, b):
        mix = nodes.new("ShaderNodeMix")
        mix.data_type = "RGBA"
        links.new(factor, mix.inputs[0])
        links.new(a, mix.inputs[6])
        links.new(b, mix.inputs[7])
        return mix.outputs[2]

    def _light(self, name, kind):
        data = bpy.data.lights.new(name, kind)
        if kind == "AREA":
            data.size = 0.4
        obj = bpy.data.objects.new(name, data)
        self.scene.collection.objects.link(obj)
        return obj

    def _world(self):
        world = bpy.data.worlds.new("NFData_world")
        self.scene.world = world
        if bpy.app.version < (5, 0, 0):  # 5.0 worlds always use nodes
            world.use_nodes = True
        nodes, links = world.node_tree.nodes, world.node_tree.links
        out = next(n for n in nodes if n.type == "OUTPUT_WORLD")
        for n in list(nodes):
            if n.type != "OUTPUT_WORLD":
                nodes.remove(n)
        ambient = nodes.new("ShaderNodeBackground")
        ambient.name = "ambient"
        backdrop = nodes.new("ShaderNodeBackground")
        backdrop.name = "backdrop"
        path = nodes.new("ShaderNodeLightPath")
        mix = nodes.new("ShaderNodeMixShader")
        links.new(path.outputs["Is Camera Ray"], mix.inputs[0])
        links.new(ambient.outputs[0], mix.inputs[1])
        links.new(backdrop.outputs[0], mix.inputs[2])
        links.new(mix.outputs[0], out.inputs["Surface"])
        self.world = world

    # -- per frame ---------------------------------------------------------------------
    def assign(self, objects):
        """Put the dataset materials into every slot of ``objects`` (region order of the head)."""
        order = ("skin", "lips", "sclera", "iris", "brows", "mouth_interior", "pupil")
        for obj in objects:
            for i, slot in enumerate(obj.material_slots):
                if i < len(order):
                    slot.link = "OBJECT"
                    slot.material = self.materials[order[i]]

    def apply(self, uniforms):
        a = _a(uniforms)
        tone = SKIN_LIGHT * (SKIN_DARK / SKIN_LIGHT) ** (a["skin_tone"] ** 1.2)
        undertone = np.array([1.0 + 0.12 * (a["skin_undertone"] - 0.5), 1.0, 1.0 - 0.2 * (a["skin_undertone"] - 0.5)])
        skin = np.clip(tone * undertone, 0.0, 1.0)
        hair = HAIR_LIGHT * (HAIR_DARK / HAIR_LIGHT) ** a["hair_darkness"]
        nodes = self.materials["skin"].node_tree.nodes
        nodes["base"].outputs[0].default_value = _rgba(skin)
        nodes["red_tint"].outputs[0].default_value = _rgba(skin * np.array([1.25, 0.6, 0.6]))
        nodes["freckle_colour"].outputs[0].default_value = _rgba(skin * np.array([0.55, 0.42, 0.35]))
        nodes["redness"].outputs[0].default_value = 0.8 * a["redness"]
        nodes["freckles"].outputs[0].default_value = 0.3 * max(0.0, a["freckles"] - 0.4)
        nodes["hair_colour"].outputs[0].default_value = _rgba(hair)
        nodes["hairline"].outputs[0].default_value = 1.3 - 0.4 * a["hair_cover"]  # > 1.45 reaches nowhere: bald
        nodes["roughness"].outputs[0].default_value = 0.3 + 0.3 * a["skin_roughness"]
        lips = skin * np.array([0.9, 0.45, 0.45]) * (0.6 + 0.6 * a["lip_colour"])
        lip_nodes = self.materials["lips"].node_tree.nodes
        lip_nodes["base"].outputs[0].default_value = _rgba(lips)
        lip_nodes["red_tint"].outputs[0].default_value = _rgba(lips * np.array([1.2, 0.8, 0.8]))
        lip_nodes["freckle_colour"].outputs[0].default_value = _rgba(lips)
        lip_nodes["redness"].outputs[0].default_value = 0.5
        lip_nodes["freckles"].outputs[0].default_value = 0.0
        lip_nodes["bsdf"].inputs["Roughness"].default_value = 0.35
        position = a["iris_hue"] * (len(IRIS_PALETTE) - 1)
        low = int(math.floor(position))
        high = min(low + 1, len(IRIS_PALETTE) - 1)
        iris = IRIS_PALETTE[low] + (IRIS_PALETTE[high] - IRIS_PALETTE[low]) * (position - low)
        self._flat("iris", iris, 0.15)
        self._flat("sclera", np.array([0.75, 0.72, 0.68]), 0.1)
        self._flat("brows", hair, 0.7)
        self._flat("mouth_interior", skin * np.array([0.5, 0.12, 0.12]), 0.5)
        self._flat("pupil", np.array([0.005, 0.005, 0.005]), 0.05)
        self._lights(a)

    def _flat(self, name, colour, roughness):
        bsdf = self.materials[name].node_tree.nodes["bsdf"]
        bsdf.inputs["Base Color"].default_value = _rgba(colour)
        bsdf.inputs["Roughness"].default_value = roughness

    def _lights(self, a):
        azimuth = (a["light_azimuth"] - 0.5) * math.radians(200)  # 0 = from the camera side of the face
        elevation = math.radians(-10 + 60 * a["light_elevation"])
        direction = np.array([math.sin(azimuth) * math.cos(elevation), -math.cos(azimuth) * math.cos(elevation), math.sin(elevation)])
        self.key.location = tuple(self.centre + 1.2 * direction)
        self.key.rotation_euler = _look_rotation(-direction)
        warm = np.array([1.0, 0.82, 0.62])
        cool = np.array([0.78, 0.88, 1.0])
        tint = warm + (cool - warm) * a["light_warmth"]
        self.key.data.color = tuple(tint)
        self.key.data.energy = 8.0 + 30.0 * a["light_ratio"]
        rim_direction = np.array([-direction[0], -direction[1] * -1.0, 0.4])
        self.rim.location = tuple(self.centre + 0.8 * rim_direction / np.linalg.norm(rim_direction))
        self.rim.data.energy = 3.0 + 10.0 * (1 - a["light_ratio"])
        self.rim.data.color = tuple(cool + (warm - cool) * a["light_warmth"])
        nodes = self.world.node_tree.nodes
        ambient = 0.15 + 0.6 * a["ambient"]
        nodes["ambient"].inputs["Color"].default_value = _rgba(np.array([0.9, 0.92, 1.0]) * tint ** 0.3)
        nodes["ambient"].inputs["Strength"].default_value = ambient
        background = colorsys.hsv_to_rgb(a["background_hue"], 0.35, 0.05 + 0.6 * a["background_value"])
        nodes["backdrop"].inputs["Color"].default_value = _rgba(background)
        nodes["backdrop"].inputs["Strength"].default_value = 1.0


def _look_rotation(direction):
    from mathutils import Vector

    return Vector(tuple(float(v) for v in direction)).to_track_quat("-Z", "Y").to_euler()
