"""Tests that run the real bpy module in this process.

Every test here is marked ``blender`` (the 5.0.1 run selects them with ``-m blender``).
Blender is reset to an empty factory scene before each test, and any handler a test left
in ``bpy.app.handlers`` is removed so bpy 4.5.15 can exit (see ../shared/FACTS.md).
"""

import pytest

bpy = pytest.importorskip("bpy")


def pytest_collection_modifyitems(config, items):
    for item in items:
        if "tests/blender/" in str(item.fspath).replace("\\", "/"):
            item.add_marker(pytest.mark.blender)


def _remove_handlers():
    for name in dir(bpy.app.handlers):
        handlers = getattr(bpy.app.handlers, name)
        if isinstance(handlers, list):
            handlers.clear()


@pytest.fixture(autouse=True)
def fresh_blender():
    """An empty factory scene for each test; handlers cleared afterwards."""
    bpy.ops.wm.read_factory_settings(use_empty=True)
    yield
    _remove_handlers()


def pytest_unconfigure(config):
    _remove_handlers()
