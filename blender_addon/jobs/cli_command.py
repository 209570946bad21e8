"""``blender -c neural_face render scene.blend [options]``: a render job from Blender's
own command line (Blender 4.2+ ``bpy.utils.register_cli_command``), for farm nodes
where the extension is installed and enabled. Options as ``tools/render_shot.py``.
"""

import argparse
import sys
import traceback
from pathlib import Path

import bpy

from . import headless, worker_client

COMMAND = "neural_face"
_handle = None  # what register_cli_command returned, for unregistering


def make_parser():
    parser = argparse.ArgumentParser(prog=f"blender -c {COMMAND}", description=__doc__.splitlines()[0])
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    render = actions.add_parser("render", help="export, synthesise and optionally composite a .blend's scene")
    render.add_argument("blend", help="the .blend file to open")
    headless.add_job_arguments(render)
    return parser


def execute(argv):
    """Called by Blender with the arguments after ``-c neural_face``; returns the exit status."""
    try:
        args = make_parser().parse_args(argv)
    except SystemExit as stop:  # --help, or a usage error (argparse printed it)
        return stop.code if isinstance(stop.code, int) else headless.EXIT_BAD_INPUT
    try:
        blend = Path(args.blend)
        if not blend.is_file():
            raise FileNotFoundError(f"no such .blend file: {args.blend}")
        bpy.ops.wm.open_mainfile(filepath=str(blend.resolve()), load_ui=False)
        return headless.run_job(args, log=lambda text: print(text, flush=True))
    except KeyboardInterrupt:
        print(f"{COMMAND}: cancelled", file=sys.stderr)
        return headless.EXIT_CANCELLED
    except Exception as error:  # noqa: BLE001  (every failure must become an exit status)
        code = headless.exit_code_for(error)
        if code == headless.EXIT_FAILED:
            traceback.print_exc()
        print(f"{COMMAND}: error: {error}", file=sys.stderr)
        return code
    finally:
        worker_client.stop_all()


def post_register():
    global _handle
    if hasattr(bpy.utils, "register_cli_command"):
        _handle = bpy.utils.register_cli_command(COMMAND, execute)


def pre_unregister():
    global _handle
    if _handle is not None:
        bpy.utils.unregister_cli_command(_handle)
        _handle = None


CLASSES = ()
