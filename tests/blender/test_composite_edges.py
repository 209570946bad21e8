"""The composite at the head's edge: no bright rim of the CG head around the neural face.

The demo scene's CG head renders almost white; the face is laid over that render. An edge
pixel of the composite must be a mix of the face and of what is behind the head, never
brighter than both. Precisely, for every pixel within one pixel of the mask's boundary
and every channel (8-bit sRGB, Standard view transform):

    composite <= max(face colour, brightest 'behind' pixel in its 3x3 neighbourhood) + TOLERANCE

where the face colour is the synthesised frame's (here one flat colour, written the way
the worker writes frames: straight-alpha PNG, alpha = the shot's mask pass) and 'behind'
is the scene rendered with the head invisible to the camera. TOLERANCE covers the
render's noise and denoiser; the CG head showing through exceeded it by over 100 levels.
"""

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

import bpy
from blender_addon import compositor
from blender_addon.demo_scene import build_demo_scene
from blender_addon.export import rig
from blender_addon.jobs import render_job
from neural_core.contract.shot import read_shot
from neural_core.contract.shot.passes import read_passes
from neural_core.worker.images import write_png

SIZE = 96  # pixels, square
FACE_RGB = (0.75, 0.45, 0.35)  # sRGB of the stand-in face: darker than the CG head, redder than the world
TOLERANCE = 12  # 8-bit levels


def render_png(scene, path):
    scene.render.filepath = str(path)
    bpy.ops.render.render(write_still=True)
    return np.asarray(Image.open(path).convert("RGBA")).astype(int)


@pytest.fixture
def demo_job(addon, tmp_path):
    """The demo scene (frame 1), its exported mask and a face frame over it."""
    demo = build_demo_scene(bpy.context.scene, resolution=SIZE, frames=2)
    scene = demo.scene
    scene.render.dither_intensity = 0.0
    scene.render.image_settings.file_format = "PNG"
    scene.render.image_settings.color_mode = "RGBA"
    scene.neural_face.output_folder = str(tmp_path / "job")
    scene.neural_face.head_object = demo.head.mesh
    settings = render_job.settings_from_scene(scene, frame_start=1, frame_end=1)
    render_job.export_shot_folder(scene, settings)
    shot = read_shot(settings.shot_folder)
    mask = read_passes(shot, 1, settings.shot_folder, names=["mask"])["mask"]
    face = np.empty((SIZE, SIZE, 4), np.float32)
    face[..., :3] = FACE_RGB
    face[..., 3] = mask
    settings.frames_folder.mkdir(parents=True)
    write_png(settings.frame_path(1), face)
    return demo, settings, mask > 0.5


def test_no_composite_pixel_at_the_heads_edge_is_brighter_than_face_and_background(demo_job, tmp_path):
    demo, settings, inside = demo_job
    scene = demo.scene
    head = [demo.head.mesh, *rig.head_parts(demo.head.mesh)]
    nodes = compositor.setup_compositor(scene, compositor.SequenceInfo(str(settings.frame_path(1)), 1, 1))
    assert set(nodes.held_out) == {o.name for o in head}
    scene.frame_set(1)
    composite = render_png(scene, tmp_path / "composite.png")

    scene.render.use_compositing = False
    for obj in head:
        obj.is_holdout = False
        obj.visible_camera = False
    behind = render_png(scene, tmp_path / "behind.png")

    ring = ndimage.binary_dilation(inside, np.ones((3, 3))) & ~ndimage.binary_erosion(inside, np.ones((3, 3)))
    face = np.round(255 * np.asarray(FACE_RGB)).astype(int)
    behind_max = np.stack([ndimage.maximum_filter(behind[..., c], size=3) for c in range(3)], axis=-1)
    limit = np.maximum(face, behind_max) + TOLERANCE
    excess = (composite[..., :3] - limit).max(axis=-1)
    bright = ring & (excess > 0)
    assert ring.sum() > 100
    assert not bright.any(), (f"{bright.sum()} of {ring.sum()} edge pixels brighter than face and background, "
                              f"by up to {excess[ring].max() + TOLERANCE} levels")
    assert (composite[..., 3] == 255).all()
    # away from the edge: the face inside, the background outside
    core = ndimage.binary_erosion(inside, np.ones((5, 5)))
    assert np.abs(composite[core, :3] - face).max() <= 6
    far = ~ndimage.binary_dilation(inside, np.ones((5, 5)))
    assert np.abs(composite[far, :3] - behind[far, :3]).max() <= 6


def test_the_edge_is_anti_aliased(demo_job, tmp_path):
    """Edge pixels take values between face and background (coverage), not mostly one or
    the other as the mask sampled at pixel centres gives (at 96 px: 40 of 504 edge pixels
    in between with the mask as matte, over 200 with the render's holdout coverage)."""
    demo, settings, inside = demo_job
    scene = demo.scene
    compositor.setup_compositor(scene, compositor.SequenceInfo(str(settings.frame_path(1)), 1, 1))
    scene.frame_set(1)
    composite = render_png(scene, tmp_path / "composite.png")[..., :3]
    face = np.round(255 * np.asarray(FACE_RGB)).astype(int)
    background = composite[0, 0]  # a corner: the world
    ring = ndimage.binary_dilation(inside, np.ones((3, 3))) & ~ndimage.binary_erosion(inside, np.ones((3, 3)))
    # red: face 191, world about 118; a pixel at least 8 levels from both
    red = composite[..., 0]
    between = ring & (red > background[0] + 8) & (red < face[0] - 8)
    assert between.sum() >= 0.25 * ring.sum(), (between.sum(), ring.sum())


def test_passes_export_the_head_after_it_became_a_holdout(demo_job, tmp_path):
    """The set-up makes the head a holdout of the final render; a later export must still
    see it in its passes (and leave the holdout as it found it)."""
    demo, settings, inside = demo_job
    scene = demo.scene
    compositor.setup_compositor(scene, compositor.SequenceInfo(str(settings.frame_path(1)), 1, 1))
    assert demo.head.mesh.is_holdout
    render_job.export_shot_folder(scene, settings)
    shot = read_shot(settings.shot_folder)
    mask = read_passes(shot, 1, settings.shot_folder, names=["mask"])["mask"]
    assert np.array_equal(mask > 0.5, inside)
    assert demo.head.mesh.is_holdout


def test_without_a_head_the_faces_alpha_is_the_matte(addon, tmp_path):
    scene = bpy.context.scene
    (tmp_path / "frames").mkdir()
    Image.new("RGBA", (4, 4)).save(tmp_path / "frames/neural_0001.png")
    nodes = compositor.setup_compositor(scene, compositor.SequenceInfo(str(tmp_path / "frames/neural_0001.png"), 1, 1))
    assert nodes.held_out == () and nodes.fill is None
    background, foreground = compositor._alpha_over_inputs(nodes.alpha_over)
    assert foreground.links[0].from_node == nodes.image
    assert background.links[0].from_node == nodes.render_layers


def test_with_a_transparent_film_the_head_is_held_out_and_the_faces_alpha_is_the_matte(demo_job):
    """A transparent film hides where the holdout's hole is: the render goes under the face."""
    demo, settings, inside = demo_job
    demo.scene.render.film_transparent = True
    nodes = compositor.setup_compositor(demo.scene, compositor.SequenceInfo(str(settings.frame_path(1)), 1, 1))
    assert demo.head.mesh.name in nodes.held_out and demo.head.mesh.is_holdout
    assert nodes.fill is None and compositor.FILL_NODE not in nodes.tree.nodes
    background, foreground = compositor._alpha_over_inputs(nodes.alpha_over)
    assert foreground.links[0].from_node == nodes.image
    assert background.links[0].from_node == nodes.render_layers
    demo.scene.render.film_transparent = False  # and back: the set-up run again restores the fill
    nodes = compositor.setup_compositor(demo.scene, compositor.SequenceInfo(str(settings.frame_path(1)), 1, 1))
    assert nodes.fill is not None and background.links[0].from_node == nodes.fill
    assert foreground.links[0].from_node == nodes.render_layers
