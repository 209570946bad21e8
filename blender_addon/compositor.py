"""Wire the worker's image sequence into the scene's compositor, over the render.

With the head known (``scene.neural_face.head_object``, else the one head the exporter
would find) the head and its parts (eyes, teeth) become *holdouts* of the render, and::

    Image (sequence) ──▶ Inpaint ──────────────▶ Alpha Over (background)
    Render Layers ──Image (head held out)──────▶ Alpha Over (foreground) ──▶ Composite / Group Output

A holdout leaves a hole of zero alpha and zero colour where the head covers each pixel,
anti-aliased by the render's own pixel filter: the render is ``(1 - c) * scene`` with alpha
``1 - c`` for a head coverage ``c`` (film not transparent). Alpha Over with the render as
premultiplied foreground gives ``render + face * (1 - alpha) = (1 - c) * scene + c * face``:
the face fills exactly the head's anti-aliased silhouette and nothing of the CG head shows
through. The face's own alpha is the shot's mask, sampled at pixel centres (0 or 1); the
Inpaint node extends its colour ``FILL_PX`` pixels beyond the mask, so the edge pixels the
head covers only in part get the face's colour and not black. Shadows and reflections of
the held-out head stay in the render.

Otherwise the face's alpha is the matte: Render Layers go to the Alpha Over's background
and the sequence to its foreground. That is the layout with a transparent film (the hole a
holdout leaves cannot be told from the empty background: the head is still held out, the
edge follows the mask's pixels) and without a head (none named, none found: the CG head
then shows at the mask's edge). Rerun the set-up after changing the film's transparency.

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

from .core_link import NeuralFaceError
from .export import rig

IMAGE_NODE = "Neural Face Image"  # node names (also labels) used to find our nodes again
ALPHA_OVER_NODE = "Neural Face Alpha Over"
RENDER_LAYERS_NODE = "Neural Face Render Layers"
OUTPUT_NODE = "Neural Face Output"
FILL_NODE = "Neural Face Edge Fill"  # Inpaint node: the face's colour beyond the mask
FILL_PX = 2  # pixels the face's colour is extended beyond the mask (partly covered edge pixels)
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
    fill: object = None  # CompositorNodeInpaint, or None when no head is held out
    held_out: tuple = ()  # names of the objects made holdouts (the head and its parts)


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


def head_objects(scene):
    """The head mesh and its parts (eyes, teeth) the exporter's mask covers, or () when
    the scene names no head and has no single one to find."""
    props = getattr(scene, "neural_face", None)
    named = props.head_object.name if props is not None and props.head_object else None
    try:
        head = rig.find_head(scene, named)
    except NeuralFaceError:
        return ()
    return (head, *rig.head_parts(head))


def hold_out(objects):
    """Make ``objects`` holdouts of the render (anti-aliased holes of zero alpha)."""
    for obj in objects:
        if not obj.is_holdout:
            obj.is_holdout = True
    return tuple(obj.name for obj in objects)


def _set_fill_distance(node, pixels):
    if "distance" in node.bl_rna.properties:  # 4.5: a property; 5.0: the "Size" input
        node.distance = pixels
    else:
        node.inputs["Size"].default_value = pixels


def setup_compositor(scene, sequence, head=None):
    """Composite ``sequence`` over the Render Layers of ``scene``; returns the nodes.

    ``head``: the objects the face replaces (made holdouts; see the module docstring);
    None finds them with :func:`head_objects`, () composites by the face's alpha alone.
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
    if "use_premultiply" in alpha_over.bl_rna.properties:  # 4.5: no straight-to-premultiplied conversion
        alpha_over.use_premultiply = False
        alpha_over.premul = 0.0
    alpha_over.inputs["Straight Alpha"].default_value = False  # both inputs are premultiplied
    background, foreground = _alpha_over_inputs(alpha_over)
    held_out = hold_out(head_objects(scene) if head is None else head)
    fill = tree.nodes.get(FILL_NODE)
    # A transparent film leaves no way to tell the holdout's hole from the empty
    # background around it: the face's alpha is the matte then (no CG head under it).
    if held_out and not scene.render.film_transparent:
        fill = _node(tree, FILL_NODE, "CompositorNodeInpaint", (150, -300))
        _set_fill_distance(fill, FILL_PX)
        _link(tree, image_node.outputs["Image"], fill.inputs["Image"])
        _link(tree, fill.outputs["Image"], background)
        _link(tree, render_layers.outputs["Image"], foreground)
    else:
        if fill is not None:
            tree.nodes.remove(fill)
            fill = None
        _link(tree, render_layers.outputs["Image"], background)
        _link(tree, image_node.outputs["Image"], foreground)
    output_socket, output = _output_socket(scene, tree)
    _link(tree, alpha_over.outputs["Image"], output_socket)
    return CompositorNodes(tree, image_node, alpha_over, render_layers, output, fill, held_out)
