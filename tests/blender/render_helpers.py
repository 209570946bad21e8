"""Helpers for the render-pipeline tests: the add-on enabled from the checkout, and a
fake worker interpreter that runs ``workers/fake_render.py``."""

import os
import stat
import sys
from pathlib import Path

import pytest

import bpy

ADDON = "blender_addon"
WORKERS = Path(__file__).resolve().parent / "workers"


@pytest.fixture
def addon():
    """The add-on enabled (the conftest's factory reset disables it before each test)."""
    import addon_utils

    addon_utils.enable(ADDON, default_set=True, handle_error=None)
    assert ADDON in bpy.context.preferences.addons
    yield bpy.context.preferences.addons[ADDON].preferences
    from blender_addon import worker

    worker.stop_all()
    addon_utils.disable(ADDON, default_set=True)


def make_fake_python(folder):
    """An executable ``python`` in ``folder`` that runs the fake worker with this
    interpreter: ``<it> -m neural_core render ...`` -> ``fake_render.py -m neural_core render ...``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "python"
    path.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{WORKERS / "fake_render.py"}" "$@"\n')
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


def is_reaped(pid):
    """True when no process (not even a zombie) has ``pid`` any more."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def leftovers(folder):
    """Temporary or partial files left in ``folder``."""
    return sorted(p.name for p in Path(folder).glob("*") if p.suffix == ".tmp" or p.name.startswith("."))
