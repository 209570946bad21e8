"""What the scripts that render with Blender as a Python module share
(``tools/make_dataset.py``, ``tools/make_synthetic_actor.py``).

- :func:`render_parser`: their common options (output folder, seed, Cycles samples, image
  side, time limit);
- :func:`script_arguments`: the script's own arguments, also when Blender runs it
  (``blender -b -P SCRIPT -- ARGS``: Blender's arguments come before ``--``);
- :func:`run`: the work, with bad input (NeuralFaceError) as one ``error:`` line and exit
  status 2;
- :func:`leave`: exit without bpy 4.5.15's hang at interpreter exit.
"""

import argparse
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXIT_BAD_INPUT = 2  # the protocol's exit status for bad input (neural_core/contract/protocol.py EXIT_BAD_INPUT)


def render_parser(doc, out_name, samples, resolution, seed_help):
    """An ArgumentParser described by the first line of ``doc``, with the options every
    rendering script has: --out (default ``data/<out_name>``), --seed, --samples (Cycles
    samples per pixel), --resolution (image side in pixels), --max-minutes."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "data" / out_name), help=f"output folder (default data/{out_name})")
    parser.add_argument("--seed", type=int, default=0, help=seed_help)
    parser.add_argument("--samples", type=int, default=samples, help="Cycles samples per pixel")
    parser.add_argument("--resolution", type=int, default=resolution, help="image side in pixels")
    parser.add_argument("--max-minutes", type=float, default=0.0, help="stop after this many minutes (0 = no limit); rerun to go on")
    return parser


def script_arguments(argv=None):
    """``argv`` when given; else the script's arguments: those after ``--`` when there is
    one (Blender running the script), else ``sys.argv[1:]``."""
    if argv is not None:
        return list(argv)
    return sys.argv[sys.argv.index("--") + 1:] if "--" in sys.argv else sys.argv[1:]


def log(message):
    """One progress line on stdout, flushed (the scripts run for hours, often into a log file)."""
    print(message, flush=True)


def run(work):
    """Call ``work()`` (the script's rendering; it imports bpy). Returns 0, or
    EXIT_BAD_INPUT after printing ``error: <message>`` on stderr for a NeuralFaceError."""
    from blender_addon.core_link import NeuralFaceError

    try:
        work()
    except NeuralFaceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    return 0


def leave(code):
    """Exit now with ``code``, the streams flushed first: bpy 4.5.15 can hang at interpreter
    exit while a handler is left in bpy.app.handlers, and ``os._exit`` skips that."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
