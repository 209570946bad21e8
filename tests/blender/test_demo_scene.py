"""The demo scene renders on 4.5 and 5.0 alike: its background is the demo's blue-grey
world colour (5.0 makes every new world with nodes and ignored ``world.color``)."""

import numpy as np
import pytest
from PIL import Image

import bpy
from blender_addon.demo_scene import WORLD_COLOUR, build_demo_scene


def srgb(linear):
    """Linear [0, 1] -> 8-bit sRGB (IEC 61966-2-1)."""
    linear = np.asarray(linear, dtype=np.float64)
    encoded = np.where(linear <= 0.0031308, linear * 12.92, 1.055 * linear ** (1 / 2.4) - 0.055)
    return np.rint(encoded * 255).astype(int)


def test_background_is_the_world_colour(tmp_path):
    demo = build_demo_scene(bpy.context.scene, resolution=32, frames=2)
    scene = demo.scene
    scene.cycles.samples = 1
    scene.cycles.use_denoising = False  # the background seen directly is exact without it
    scene.render.dither_intensity = 0.0
    scene.render.image_settings.file_format = "PNG"
    scene.render.filepath = str(tmp_path / "frame.png")
    bpy.ops.render.render(write_still=True)
    image = np.asarray(Image.open(tmp_path / "frame.png").convert("RGB")).astype(int)
    corners = image[[0, 0, -1], [0, -1, 0]]  # top corners and bottom left: no head there
    expected = srgb(WORLD_COLOUR)
    assert np.abs(corners - expected).max() <= 2, (corners.tolist(), expected.tolist())
    assert expected[2] > expected[0] + 10  # blue-grey, not grey


def test_building_twice_keeps_one_background(tmp_path):
    build_demo_scene(bpy.context.scene, resolution=32, frames=2)
    world = bpy.context.scene.world
    from blender_addon.demo_scene import set_world_colour

    set_world_colour(bpy.context.scene, WORLD_COLOUR)
    backgrounds = [n for n in world.node_tree.nodes if n.bl_idname == "ShaderNodeBackground"]
    assert len(backgrounds) == 1
    assert tuple(backgrounds[0].inputs["Color"].default_value)[:3] == pytest.approx(WORLD_COLOUR)
    assert tuple(world.color) == pytest.approx(WORLD_COLOUR)
