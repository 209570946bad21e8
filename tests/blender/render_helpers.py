"""Helpers for the render-pipeline tests: a fake worker interpreter that runs
``workers/fake_render.py``, and checks for leftovers. (The ``addon`` fixture is in conftest.py.)"""

import os
import stat
import sys
from pathlib import Path

ADDON = "blender_addon"
WORKERS = Path(__file__).resolve().parent / "workers"


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
