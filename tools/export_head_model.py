#!/usr/bin/env python3
"""Export the bundled head's landmark model to ``neural_core/actor/data/head_model.npz``.

Builds the head in an empty factory scene of the ``bpy`` module, measures it
(``blender_addon/head/landmark_model.py``), writes a compressed ``.npz`` (no pickled
objects) atomically and reads it back through ``neural_core.actor.head_model``.

Usage: ``.venv/bin/python tools/export_head_model.py [--output PATH] [--check]``
(``--check``: write nothing; exit 1 if the file at PATH differs from a fresh export).
Re-run it after any change to ``blender_addon/head/`` (``tests/blender/test_head_model.py``
fails until you do).
"""

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

DEFAULT_OUTPUT = ROOT / "neural_core" / "actor" / "data" / "head_model.npz"


def _clear_handlers(bpy):
    """bpy 4.5.15 hangs at interpreter exit while any app handler is registered."""
    for name in dir(bpy.app.handlers):
        handlers = getattr(bpy.app.handlers, name)
        if isinstance(handlers, list):
            handlers.clear()


def write(arrays, path):
    import numpy as np

    from neural_core.contract.atomic import write_atomically

    def save(temporary):
        with open(temporary, "wb") as handle:  # a handle: savez would append ".npz"
            np.savez_compressed(handle, **arrays)

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    return write_atomically(path, save)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="model file (.npz)")
    parser.add_argument("--check", action="store_true", help="compare with PATH, write nothing")
    args = parser.parse_args(argv)

    import bpy
    import numpy as np

    from blender_addon.head import landmark_model
    from neural_core.actor.head_model import load_head_model

    try:
        bpy.ops.wm.read_factory_settings(use_empty=True)
        arrays = landmark_model.build_and_measure()
    finally:
        _clear_handlers(bpy)
    if args.check:
        with np.load(args.output, allow_pickle=False) as stored:
            problems = landmark_model.differences(arrays, dict(stored))
        for line in problems:
            print(f"{args.output}: {line}")
        print(f"{args.output}: {'out of date' if problems else 'up to date'}")
        return 1 if problems else 0
    write(arrays, args.output)
    model = load_head_model(args.output)
    print(f"{args.output}: {args.output.stat().st_size / 1024:.0f} KiB, format version "
          f"{model.format_version}, {model.num_identity} identity + {model.num_expression} "
          f"expression keys, Blender {model.blender_version}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
