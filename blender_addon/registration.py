"""Registers every Blender class of the add-on, in order, and unregisters in reverse.

Each module ends with a ``CLASSES`` tuple; ``MODULES`` lists them in dependency order
(property groups before whatever points at them, operators before panels).
"""

import bpy

from . import preferences
from .ui import panel

MODULES = (
    preferences,
    panel,
)


def _classes():
    for module in MODULES:
        yield from module.CLASSES


def register():
    for cls in _classes():
        bpy.utils.register_class(cls)


def unregister():
    for cls in reversed(tuple(_classes())):
        bpy.utils.unregister_class(cls)
