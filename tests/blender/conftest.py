"""Tests that run the real bpy module in this process.

Every test here is marked ``blender`` (the 5.0.1 run selects them with ``-m blender``).
Blender is reset to an empty factory scene before each test. Handlers a test left in
``bpy.app.handlers`` are removed after it (Blender's own, such as Cycles', stay: removing them
made Cycles' unregister fail on the next factory reset and print "already registered"
tracebacks). bpy 4.5.15 hangs at interpreter exit while one of ours is registered;
Blender's own do not stop it.
"""

import inspect
import os

import pytest

bpy = pytest.importorskip("bpy")


def pytest_collection_modifyitems(config, items):
    for item in items:
        if "tests/blender/" in str(item.fspath).replace("\\", "/"):
            item.add_marker(pytest.mark.blender)


BLENDER_SCRIPTS = os.path.dirname(os.path.dirname(os.path.dirname(bpy.__file__)))  # <version>/scripts: Blender's own add-ons and modules


def _is_blenders_own(handler):
    try:
        return os.path.abspath(inspect.getfile(handler)).startswith(BLENDER_SCRIPTS)
    except TypeError:  # a built-in
        return True


def _remove_test_handlers():
    """Remove every handler that is not Blender's own (ours, or a test's)."""
    for name in dir(bpy.app.handlers):
        handlers = getattr(bpy.app.handlers, name)
        if isinstance(handlers, list):
            handlers[:] = [h for h in handlers if _is_blenders_own(h)]


@pytest.fixture(autouse=True)
def fresh_blender():
    """An empty factory scene for each test; the test's handlers removed afterwards."""
    bpy.ops.wm.read_factory_settings(use_empty=True)
    yield
    _remove_test_handlers()


def pytest_unconfigure(config):
    _remove_test_handlers()  # Blender's own handlers do not stop bpy 4.5.15 from exiting


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
