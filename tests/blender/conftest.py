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
    from blender_addon.jobs.headless import clear_app_handlers

    clear_app_handlers()


@pytest.fixture(autouse=True)
def fresh_blender():
    """An empty factory scene for each test; handlers cleared afterwards."""
    bpy.ops.wm.read_factory_settings(use_empty=True)
    yield
    _remove_handlers()


def pytest_unconfigure(config):
    _remove_handlers()


@pytest.fixture
def addon():
    """The add-on enabled from this checkout (the factory reset disables it before each
    test); yields its preferences. Any worker still running is stopped afterwards."""
    import addon_utils

    addon_utils.enable("blender_addon", default_set=True, handle_error=None)
    assert "blender_addon" in bpy.context.preferences.addons
    yield bpy.context.preferences.addons["blender_addon"].preferences
    from blender_addon.jobs import worker_client as worker

    worker.stop_all()
    addon_utils.disable("blender_addon", default_set=True)
