"""Registers every Blender class of the add-on, in order, and unregisters in reverse.

Each module ends with a ``CLASSES`` tuple; ``MODULES`` lists them in dependency order
(property groups before whatever points at them, operators before panels).
"""

import bpy

from . import preferences, properties
from .jobs import cli_command, worker_client
from .operators import render_animation, render_frame, setup_compositor
from .operators import export_shot
from .operators import add_head
from .operators import actor_step, apply_actor_identity
from .ui import actor_panel, panel

MODULES = (
    preferences,
    properties,
    render_animation,
    render_frame,
    setup_compositor,
    export_shot,
    add_head,
    actor_step,
    apply_actor_identity,
    panel,
    actor_panel,
    cli_command,
)


def _classes():
    for module in MODULES:
        yield from module.CLASSES


def register():
    for cls in _classes():
        bpy.utils.register_class(cls)
    for module in MODULES:  # e.g. properties: attach scene.neural_face
        if hasattr(module, "post_register"):
            module.post_register()


def unregister():
    worker_client.stop_all()  # no worker outlives the add-on
    for module in reversed(MODULES):
        if hasattr(module, "pre_unregister"):
            module.pre_unregister()
    for cls in reversed(tuple(_classes())):
        bpy.utils.unregister_class(cls)
