"""The demo shot: the bundled head performing for 48 frames at 24 fps.

A blink, a smile, the jaw opening, a head turn and a slow camera dolly: enough motion to
exercise every part of the pipeline. Used by ``./tools/demo``, the pipeline benchmark and
tests. Pure scene construction; no operator context needed.
"""

import math
from dataclasses import dataclass

import bpy
from mathutils import Vector

from .head.build import build_head

FPS = 24
FRAMES = 48

# shape key -> [(frame, value), ...]
EXPRESSION_KEYS = {
    "eyeBlinkLeft": [(1, 0.0), (8, 0.0), (10, 1.0), (12, 0.0)],
    "eyeBlinkRight": [(1, 0.0), (8, 0.0), (10, 1.0), (12, 0.0)],
    "mouthSmileLeft": [(1, 0.0), (14, 0.0), (20, 0.8), (28, 0.8), (32, 0.0)],
    "mouthSmileRight": [(1, 0.0), (14, 0.0), (20, 0.8), (28, 0.8), (32, 0.0)],
    "jawOpen": [(1, 0.0), (30, 0.0), (36, 0.7), (42, 0.7), (46, 0.1)],
}
HEAD_TURN_DEGREES = [(1, -15.0), (24, 0.0), (48, 15.0)]  # about the head bone's up axis
CAMERA_DISTANCE_M = [(1, 0.75), (48, 0.6)]  # slow dolly in
LENS_MM = 85.0
DEMO_SAMPLES = 8  # Cycles samples of the conventional render
WORLD_COLOUR = (0.18, 0.2, 0.23)  # scene-linear RGB of the background (a blue-grey)


@dataclass
class DemoScene:
    scene: object
    head: object  # HeadObjects from head.build
    camera: object


def _face_centre(mesh_object):
    """World-space centre of the face landmarks (metres)."""
    indices = list(mesh_object["neural_face_landmarks"])
    vertices = mesh_object.data.vertices
    total = Vector((0.0, 0.0, 0.0))
    for index in indices:
        total += mesh_object.matrix_world @ vertices[index].co
    return total / len(indices)


def set_world_colour(scene, colour):
    """Give ``scene`` a world whose background is the flat ``colour`` (linear RGB).

    Renders take the world's colour from its node tree's Background node whenever the
    world uses nodes: Blender 5.0 makes every new world with nodes (``World.use_nodes`` is
    deprecated there), so ``world.color`` alone, which 4.5 renders for a world without
    nodes, left 5.0 with the Background node's default dark grey. Both are set here: the
    node for rendering, ``world.color`` for the viewport.
    """
    if scene.world is None:
        scene.world = bpy.data.worlds.new("NeuralFaceDemoWorld")
    world = scene.world
    world.color = colour
    if world.node_tree is None:  # 4.5: a new world has no nodes until asked for them
        world.use_nodes = True
    nodes = world.node_tree.nodes
    background = next((n for n in nodes if n.bl_idname == "ShaderNodeBackground"), None)
    if background is None:
        background = nodes.new("ShaderNodeBackground")
    output = next((n for n in nodes if n.bl_idname == "ShaderNodeOutputWorld"), None)
    if output is None:
        output = nodes.new("ShaderNodeOutputWorld")
    if not background.outputs["Background"].links:
        world.node_tree.links.new(background.outputs["Background"], output.inputs["Surface"])
    background.inputs["Color"].default_value = (*colour, 1.0)
    background.inputs["Strength"].default_value = 1.0
    return world


def _key_shape(mesh_object, name, keys):
    block = mesh_object.data.shape_keys.key_blocks[name]
    for frame, value in keys:
        block.value = value
        block.keyframe_insert("value", frame=frame)


def build_demo_scene(scene=None, *, resolution=256, frames=FRAMES):
    """Set up ``scene`` (default: the context scene) as the demo shot and return it.

    The timeline is stretched proportionally when ``frames`` differs from 48 (the
    pipeline benchmark uses 480 frames).
    """
    scene = scene or bpy.context.scene
    stretch = (frames - 1) / (FRAMES - 1)

    def at(frame):
        return 1 + round((frame - 1) * stretch)

    scene.render.fps = FPS
    scene.frame_start, scene.frame_end = 1, frames
    scene.render.resolution_x = scene.render.resolution_y = resolution
    scene.render.resolution_percentage = 100
    # The conventional render the neural face is composited over: Cycles on the CPU, a few
    # denoised samples (EEVEE through software OpenGL takes over a minute per frame here).
    scene.render.engine = "CYCLES"
    scene.cycles.device = "CPU"
    scene.cycles.samples = DEMO_SAMPLES
    scene.render.film_transparent = False
    set_world_colour(scene, WORLD_COLOUR)
    scene.view_settings.view_transform = "Standard"  # composite keeps the neural face's sRGB colours

    head = build_head(scene)
    for name, keys in EXPRESSION_KEYS.items():
        _key_shape(head.mesh, name, [(at(f), v) for f, v in keys])

    head_bone = head.armature.pose.bones["head"]
    head_bone.rotation_mode = "XYZ"
    for frame, degrees in HEAD_TURN_DEGREES:
        head_bone.rotation_euler = (0.0, math.radians(degrees), 0.0)
        head_bone.keyframe_insert("rotation_euler", frame=at(frame))

    centre = _face_centre(head.mesh)
    camera_data = bpy.data.cameras.new("NeuralFaceDemoCamera")
    camera_data.lens = LENS_MM
    camera = bpy.data.objects.new("NeuralFaceDemoCamera", camera_data)
    scene.collection.objects.link(camera)
    camera.rotation_euler = (math.radians(90.0), 0.0, 0.0)  # looking along +Y at the face
    for frame, distance in CAMERA_DISTANCE_M:
        camera.location = centre + Vector((0.0, -distance, 0.0))
        camera.keyframe_insert("location", frame=at(frame))
    scene.camera = camera

    light_data = bpy.data.lights.new("NeuralFaceDemoKey", type="AREA")
    light_data.energy = 60.0
    light = bpy.data.objects.new("NeuralFaceDemoKey", light_data)
    light.location = centre + Vector((0.5, -0.8, 0.5))
    light.rotation_euler = (math.radians(60), 0.0, math.radians(30))
    scene.collection.objects.link(light)
    scene.frame_set(1)
    return DemoScene(scene=scene, head=head, camera=camera)
