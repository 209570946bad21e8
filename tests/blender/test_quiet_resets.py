"""Factory resets between tests stay quiet: Blender's own handlers survive the cleanup.

Clearing every handler list after each test used to remove Cycles' handlers too; Cycles'
unregister then failed on the next reset ("list.remove(x): x not in list") and its
re-register printed "already registered" tracebacks into every test log.
"""

import bpy

from tests.blender.conftest import _remove_test_handlers


def _ours(scene, depsgraph=None):
    pass


def test_factory_resets_print_no_tracebacks(capfd):
    bpy.app.handlers.frame_change_post.append(_ours)
    _remove_test_handlers()
    assert _ours not in bpy.app.handlers.frame_change_post
    assert any(bpy.app.handlers.version_update), "Cycles' own handler should have stayed"
    for _ in range(2):
        bpy.ops.wm.read_factory_settings(use_empty=True)
        _remove_test_handlers()
    captured = capfd.readouterr()
    assert "already registered" not in captured.err + captured.out
    assert "list.remove" not in captured.err + captured.out
