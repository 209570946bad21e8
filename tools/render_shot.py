#!/usr/bin/env python3
"""Render a Neural Face shot headless: export, synthesise, optionally composite.

One script, two ways to run it:

    python tools/render_shot.py scene.blend -- --frames 1-48 --out DIR [--composite]
        (the ``bpy`` module from PyPI; the script opens the .blend itself)
    blender -b scene.blend --python-exit-code 1 -P tools/render_shot.py -- --frames 1-48 --out DIR
        (real Blender; the .blend is already open, arguments come after ``--``)

It enables the add-on from this checkout (unless the installed extension is already
enabled), takes the scene's Neural Face settings, overrides them with the options given,
exports the shot, runs the worker (``python -m neural_core render``) and prints one
progress line per frame. ``--composite`` wires the sequence into the compositor and
renders the final frames to ``OUT/composite/####.png``. A ``--model`` is loaded once in the
worker's Python (``python -m neural_core info``) before the export, so a missing or
unreadable checkpoint fails at once. On a farm, ``--shot-frames 1-480 --frames 25-48``
makes this process one chunk of the shot and ``--only prepare|export|render|composite``
runs one stage of it, logging to ``OUT/logs/`` (docs/farm.md). Exit status: 0 done, 2 bad input, 3 cancelled
(SIGINT/SIGTERM: the worker stops after its current frame), 1 anything else; a failure
prints one line ``render_shot: error: ...`` (a traceback only for an internal error).
"""

import argparse
import os
import signal
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ADDON = "blender_addon"
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from neural_core.contract.protocol import EXIT_BAD_INPUT, EXIT_CANCELLED  # noqa: E402
from neural_core.contract.protocol import EXIT_INTERNAL as EXIT_FAILED  # noqa: E402


def split_argv(argv, running_in_blender):
    """(blend file or None, our arguments). Module mode: ``script.py FILE -- ARGS``;
    Blender: everything after the first ``--`` of Blender's own command line."""
    if "--" in argv:
        before, ours = argv[: argv.index("--")], argv[argv.index("--") + 1:]
    else:
        before, ours = argv, []
    if running_in_blender:
        return None, ours
    blend = next((a for a in before[1:] if not a.startswith("-")), None)
    return blend, ours


def parse_args(argv, headless):
    parser = argparse.ArgumentParser(prog="render_shot.py", description=__doc__.splitlines()[0])
    return headless.add_job_arguments(parser).parse_args(argv)


def log(text):
    print(text, flush=True)


def enable_addon():
    """The add-on's operators, from the installed extension when enabled, else from
    this checkout."""
    import addon_utils
    import bpy

    if hasattr(bpy.types, "NEURAL_FACE_OT_render_animation"):
        return
    addon_utils.enable(ADDON, default_set=True, handle_error=None)
    if not hasattr(bpy.types, "NEURAL_FACE_OT_render_animation"):
        raise RuntimeError(f"could not enable the add-on '{ADDON}' from {ROOT}")


def headless_module():
    """``headless`` of whichever copy of the add-on is enabled."""
    import importlib

    import bpy

    package = bpy.types.NEURAL_FACE_OT_render_animation.__module__.rsplit(".operators.", 1)[0]
    return importlib.import_module(f"{package}.jobs.headless")


def run(argv, running_in_blender):
    import bpy

    blend, ours = split_argv(argv, running_in_blender)
    if not running_in_blender:
        if not blend:
            raise SystemExit("usage: python tools/render_shot.py scene.blend -- [options]")
        if not Path(blend).is_file():
            raise FileNotFoundError(f"no such .blend file: {blend}")
        bpy.ops.wm.open_mainfile(filepath=str(Path(blend).resolve()), load_ui=False)
    enable_addon()
    headless = headless_module()
    args = parse_args(ours, headless)
    check_model(args)
    return headless.run_job(args, log=log)


def check_model(args):
    """Load ``--model`` in the worker's Python before the export: a missing or unreadable
    checkpoint fails now (exit 2), not after every frame's passes were rendered."""
    import importlib

    import bpy

    if not args.model or args.model == "default":
        return
    path = Path(bpy.path.abspath(args.model)).resolve()
    if not path.is_file():
        raise BadInput(f"--model {args.model}: no such file")
    package = bpy.types.NEURAL_FACE_OT_render_animation.__module__.rsplit(".operators.", 1)[0]
    worker_client = importlib.import_module(f"{package}.jobs.worker_client")
    python = worker_client.resolve_worker_python(args.worker_python or "")
    result = subprocess.run([python, "-m", "neural_core", "info", "--json", str(path)], capture_output=True,
                            text=True, timeout=600, env=worker_client.worker_environment())
    if result.returncode != 0:
        lines = [line.strip() for line in result.stderr.splitlines() if line.strip()]
        reason = lines[-1].removeprefix("error: ").removeprefix(f"{path}: ") if lines else f"exit status {result.returncode}"
        raise BadInput(f"--model {args.model}: {reason}")


class BadInput(Exception):
    """Bad input found by this script itself (exit status 2)."""


def _addon_enabled():
    import bpy

    return hasattr(bpy.types, "NEURAL_FACE_OT_render_animation")


def _sigterm_as_interrupt(signum, frame):
    raise KeyboardInterrupt


def main():
    import bpy

    running_in_blender = bool(bpy.app.binary_path)
    signal.signal(signal.SIGTERM, _sigterm_as_interrupt)
    code = EXIT_FAILED
    try:
        code = run(sys.argv, running_in_blender)
    except KeyboardInterrupt:
        print("render_shot: cancelled", file=sys.stderr)
        code = EXIT_CANCELLED
    except SystemExit as stop:
        if isinstance(stop.code, str):
            print(stop.code, file=sys.stderr)
        code = stop.code if isinstance(stop.code, int) else EXIT_BAD_INPUT
    except Exception as error:  # noqa: BLE001  (every failure must become an exit status)
        if isinstance(error, (FileNotFoundError, BadInput)):
            code = EXIT_BAD_INPUT
        else:
            code = headless_module().exit_code_for(error) if _addon_enabled() else EXIT_FAILED
        if code == EXIT_FAILED:
            import traceback

            traceback.print_exc()
        print(f"render_shot: error: {error}", file=sys.stderr)
    finally:
        _leave(code)


def _leave(code):
    """Exit now with ``code``: workers stopped, handlers removed, streams flushed
    (bpy 4.5.15 can hang at interpreter exit; ``os._exit`` avoids it)."""
    try:
        import bpy

        if hasattr(bpy.types, "NEURAL_FACE_OT_render_animation"):
            module = bpy.types.NEURAL_FACE_OT_render_animation.__module__.rsplit(".operators.", 1)[0]
            sys.modules[f"{module}.jobs.worker_client"].stop_all()
        from blender_addon.jobs.headless import clear_app_handlers

        clear_app_handlers()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


if __name__ == "__main__":
    main()
