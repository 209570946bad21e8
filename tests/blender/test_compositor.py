"""neural_face.setup_compositor: one set of nodes, frame-accurate playback, alpha over."""

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import bpy
from blender_addon import compositor
from tests.blender.workers.fake_render import SIZE, frame_rgba

FIRST, LAST = 3, 4  # the scene range does not start at 1: the offset must be right
BACKGROUND_LINEAR = 0.2  # world colour, linear grey
BACKGROUND_SRGB = round(255 * (1.055 * BACKGROUND_LINEAR ** (1 / 2.4) - 0.055))


def write_sequence(folder):
    folder.mkdir(parents=True)
    for frame in range(FIRST, LAST + 1):
        Image.fromarray(frame_rgba(frame), "RGBA").save(folder / f"neural_{frame:04d}.png")


def tiny_scene(tmp_path):
    scene = bpy.context.scene
    scene.frame_start, scene.frame_end = FIRST, LAST
    scene.render.resolution_x = scene.render.resolution_y = SIZE
    scene.render.resolution_percentage = 100
    scene.render.engine = "CYCLES"
    scene.cycles.samples = 1
    scene.cycles.use_denoising = False  # the denoiser adds noise to a flat background
    scene.cycles.device = "CPU"
    scene.render.film_transparent = False
    scene.render.dither_intensity = 0.0  # exact 8-bit values
    scene.view_settings.view_transform = "Standard"
    scene.view_settings.look = "None"
    scene.render.image_settings.file_format = "PNG"
    scene.render.image_settings.color_mode = "RGBA"
    camera = bpy.data.objects.new("Camera", bpy.data.cameras.new("Camera"))
    scene.collection.objects.link(camera)
    scene.camera = camera
    world = bpy.data.worlds.new("World")
    if world.node_tree is None:  # 4.5; 5.0 makes every world with nodes (use_nodes is deprecated)
        world.use_nodes = True
    world.node_tree.nodes["Background"].inputs["Color"].default_value = (BACKGROUND_LINEAR,) * 3 + (1.0,)
    scene.world = world
    scene.neural_face.output_folder = str(tmp_path)
    write_sequence(tmp_path / "frames")
    return scene


def render(scene, frame, path):
    scene.frame_set(frame)
    scene.render.filepath = str(path)
    bpy.ops.render.render(write_still=True)
    return np.asarray(Image.open(path).convert("RGBA")).astype(int)


def tree_of(scene):
    return scene.compositing_node_group if compositor.uses_node_groups(scene) else scene.node_tree


def test_setup_twice_makes_one_set_of_nodes(addon, tmp_path):
    scene = tiny_scene(tmp_path)
    assert bpy.ops.neural_face.setup_compositor() == {"FINISHED"}
    tree = tree_of(scene)
    first = sorted((n.bl_idname, n.name) for n in tree.nodes)
    links = len(tree.links)
    assert bpy.ops.neural_face.setup_compositor() == {"FINISHED"}
    assert tree_of(scene) == tree
    assert sorted((n.bl_idname, n.name) for n in tree.nodes) == first
    assert len(tree.links) == links
    kinds = [n.bl_idname for n in tree.nodes]
    assert kinds.count("CompositorNodeImage") == 1 and kinds.count("CompositorNodeAlphaOver") == 1
    assert kinds.count("CompositorNodeRLayers") == 1
    image_node = tree.nodes[compositor.IMAGE_NODE]
    assert image_node.image.source == "SEQUENCE" and image_node.use_auto_refresh
    assert (image_node.frame_start, image_node.frame_duration, image_node.frame_offset) == (FIRST, 2, FIRST - 1)
    assert len([i for i in bpy.data.images if i.name.startswith(compositor.IMAGE_NAME)]) == 1


def test_rerun_follows_a_changed_output_folder(addon, tmp_path):
    scene = tiny_scene(tmp_path)
    bpy.ops.neural_face.setup_compositor()
    write_sequence(tmp_path / "other" / "frames")
    scene.neural_face.output_folder = str(tmp_path / "other")
    bpy.ops.neural_face.setup_compositor()
    image = tree_of(scene).nodes[compositor.IMAGE_NODE].image
    assert Path(image.filepath) == tmp_path / "other" / "frames" / f"neural_{FIRST:04d}.png"


def test_missing_sequence_is_reported(addon, tmp_path):
    scene = tiny_scene(tmp_path)
    scene.neural_face.output_folder = str(tmp_path / "empty")
    with pytest.raises(RuntimeError, match="render the animation first"):
        bpy.ops.neural_face.setup_compositor()


def test_composite_plays_each_file_on_its_own_frame(addon, tmp_path):
    scene = tiny_scene(tmp_path)
    assert bpy.ops.neural_face.setup_compositor() == {"FINISHED"}
    inside = np.zeros((SIZE, SIZE), bool)
    inside[4:12, 4:12] = True
    for frame in (FIRST, LAST):
        result = render(scene, frame, tmp_path / f"composite_{frame:04d}.png")
        source = frame_rgba(frame).astype(int)
        assert result.shape == (SIZE, SIZE, 4)
        # the opaque square is the file of this very frame (not the neighbour's)
        assert np.abs(result[inside, :3] - source[inside, :3]).max() <= 2, frame
        other = frame_rgba(FIRST + LAST - frame).astype(int)
        assert np.abs(result[inside, :3] - other[inside, :3]).max() > 20
        # the transparent border shows the render (the world colour) underneath
        assert np.abs(result[~inside, :3] - BACKGROUND_SRGB).max() <= 2, frame
        assert (result[..., 3] == 255).all()


def test_sequence_colour_space_and_alpha_follow_the_file_format(addon, tmp_path):
    write_sequence(tmp_path / "png")
    image = compositor.load_sequence_image(compositor.SequenceInfo(str(tmp_path / "png/neural_0003.png"), 3, 4))
    assert image.colorspace_settings.name == "sRGB" and image.alpha_mode == "STRAIGHT"
    from neural_core.worker.images import write_exr

    (tmp_path / "exr").mkdir()
    for frame in (3, 4):
        write_exr(tmp_path / f"exr/neural_{frame:04d}.exr", frame_rgba(frame) / 255.0)
    image = compositor.load_sequence_image(compositor.SequenceInfo(str(tmp_path / "exr/neural_0003.exr"), 3, 4))
    assert image.alpha_mode == "PREMUL"
    assert image.colorspace_settings.is_data is False


def test_a_view_transform_that_alters_colours_is_reported(addon, tmp_path):
    scene = tiny_scene(tmp_path)
    assert compositor.view_transform_warning(scene) is None
    scene.view_settings.view_transform = "AgX"
    assert "AgX" in compositor.view_transform_warning(scene)
