"""Wire the worker's image sequence into the scene's compositor, over the render.

    Render Layers ──Image──▶ Alpha Over (background)
    Image (sequence) ─────▶ Alpha Over (foreground) ──▶ Composite (4.5) / Group Output (5.0)

Blender 4.5 keeps the compositor in ``scene.node_tree`` (after ``scene.use_nodes = True``)
with a Composite node; 5.0 uses a node group in ``scene.compositing_node_group`` whose
group output has an ``Image`` socket, and names the Alpha Over inputs
``Background``/``Foreground``. The nodes this module owns are found again by name, so
running it twice updates them instead of adding a second set.

Frame mapping: Blender's image user shows file number
``scene_frame - frame_start + 1 + frame_offset``; with ``frame_start = first`` and
``frame_offset = first - 1`` scene frame *f* shows file *f* (``neural_000f.png``).
"""

from dataclasses import dataclass
from pathlib import Path

import bpy

IMAGE_NODE = "Neural Face Image"  # node names (also labels) used to find our nodes again
ALPHA_OVER_NODE = "Neural Face Alpha Over"
RENDER_LAYERS_NODE = "Neural Face Render Layers"
OUTPUT_NODE = "Neural Face Output"
IMAGE_NAME = "Neural Face Sequence"  # the Image datablock playing the sequence
TREE_NAME = "Neural Face Compositing"  # node group created on 5.0 when the scene has none


@dataclass
class SequenceInfo:
    """The worker's output sequence."""

    first_file: str  # absolute path of the file for frame_start, e.g. .../neural_0001.png
    frame_start: int  # scene frame (= file number) of the first file
    frame_end: int  # scene frame of the last file (inclusive)

    @property
    def frame_count(self):
        return self.frame_end - self.frame_start + 1


@dataclass
class CompositorNodes:
    """The nodes :func:`setup_compositor` made or updated."""

    tree: object
    image: object  # CompositorNodeImage playing the sequence
    alpha_over: object
    render_layers: object
    output: object  # Composite (4.5) or NodeGroupOutput (5.0)


def uses_node_groups(scene):
    """True for the 5.0 compositor API (``scene.compositing_node_group``)."""
    return bpy.app.version >= (5, 0, 0) and hasattr(scene, "compositing_node_group")


def compositor_tree(scene):
    """The scene's compositor node tree, created when missing (either API)."""
    if uses_node_groups(scene):
        tree = scene.compositing_node_group
        if tree is None:
            tree = bpy.data.node_groups.new(TREE_NAME, "CompositorNodeTree")
            scene.compositing_node_group = tree
        return tree
    scene.use_nodes = True
    return scene.node_tree


def _node(tree, name, bl_idname, location):
    """Our node called ``name``: reused if present with the right type, else made."""
    node = tree.nodes.get(name)
    if node is not None and node.bl_idname != bl_idname:
        tree.nodes.remove(node)
        node = None
    if node is None:
        node = tree.nodes.new(bl_idname)
        node.name = name
        node.location = location
    node.label = name
    return node


def _first_of_type(tree, bl_idname):
    return next((n for n in tree.nodes if n.bl_idname == bl_idname), None)


def _link(tree, from_socket, to_socket):
    """Link, replacing whatever fed ``to_socket`` before."""
    for link in list(to_socket.links):
        tree.links.remove(link)
    tree.links.new(from_socket, to_socket)


def _alpha_over_inputs(node):
    """(background, foreground) input sockets of an Alpha Over node on 4.5 or 5.0."""
    if "Background" in node.inputs:
        return node.inputs["Background"], node.inputs["Foreground"]
    return node.inputs[1], node.inputs[2]


def _output_socket(scene, tree):
    """The socket the final image goes into, and its node."""
    if uses_node_groups(scene):
        if not any(getattr(item, "in_out", None) == "OUTPUT" and item.name == "Image" for item in tree.interface.items_tree):
            tree.interface.new_socket("Image", in_out="OUTPUT", socket_type="NodeSocketColor")
        node = _first_of_type(tree, "NodeGroupOutput") or _node(tree, OUTPUT_NODE, "NodeGroupOutput", (600, 0))
        return node.inputs["Image"], node
    node = _first_of_type(tree, "CompositorNodeComposite") or _node(tree, OUTPUT_NODE, "CompositorNodeComposite", (600, 0))
    return node.inputs["Image"], node


def load_sequence_image(sequence):
    """The ``Neural Face Sequence`` image datablock, pointed at ``sequence`` (reused)."""
    path = str(Path(sequence.first_file))
    image = bpy.data.images.get(IMAGE_NAME)
    if image is None:
        image = bpy.data.images.load(path, check_existing=False)
        image.name = IMAGE_NAME
    image.source = "SEQUENCE"
    if image.filepath != path:
        image.filepath = path
    # The worker writes PNG as sRGB with straight alpha and EXR as scene-linear with
    # premultiplied alpha: tell Blender, whatever it guessed when the image was loaded.
    if path.lower().endswith(".exr"):
        image.alpha_mode = "PREMUL"
    else:
        image.colorspace_settings.name = "sRGB"
        image.alpha_mode = "STRAIGHT"
    image.reload()
    return image


def view_transform_warning(scene):
    """A message when the scene's view transform will alter the neural face's colours
    (the frames are display-referred sRGB; only 'Standard' shows them unchanged)."""
    transform = scene.view_settings.view_transform
    if transform == "Standard":
        return None
    return (f"the scene's view transform '{transform}' changes the neural face's colours in the composite; "
            "set Color Management > View Transform to 'Standard' to keep them as synthesised")


def setup_compositor(scene, sequence):
    """Composite ``sequence`` over the Render Layers of ``scene``; returns the nodes.

    Idempotent: the nodes named ``Neural Face ...`` are updated in place. The scene's own
    Render Layers and output node are reused when present.
    """
    if sequence.frame_count < 1:
        raise ValueError(f"empty frame range {sequence.frame_start}-{sequence.frame_end}")
    scene.render.use_compositing = True
    tree = compositor_tree(scene)
    image = load_sequence_image(sequence)

    image_node = _node(tree, IMAGE_NODE, "CompositorNodeImage", (0, -300))
    image_node.image = image
    image_node.frame_duration = sequence.frame_count
    image_node.frame_start = sequence.frame_start
    image_node.frame_offset = sequence.frame_start - 1
    image_node.use_cyclic = False
    image_node.use_auto_refresh = True

    render_layers = tree.nodes.get(RENDER_LAYERS_NODE) or _first_of_type(tree, "CompositorNodeRLayers")
    if render_layers is None:
        render_layers = _node(tree, RENDER_LAYERS_NODE, "CompositorNodeRLayers", (0, 0))
    render_layers.scene = scene

    alpha_over = _node(tree, ALPHA_OVER_NODE, "CompositorNodeAlphaOver", (300, 0))
    background, foreground = _alpha_over_inputs(alpha_over)
    _link(tree, render_layers.outputs["Image"], background)
    _link(tree, image_node.outputs["Image"], foreground)
    output_socket, output = _output_socket(scene, tree)
    _link(tree, alpha_over.outputs["Image"], output_socket)
    return CompositorNodes(tree, image_node, alpha_over, render_layers, output)


def our_nodes(scene):
    """Names of this module's nodes in the scene's compositor (for checks and tests)."""
    tree = scene.compositing_node_group if uses_node_groups(scene) else scene.node_tree
    if tree is None:
        return []
    return [n.name for n in tree.nodes if n.name.startswith("Neural Face")]
