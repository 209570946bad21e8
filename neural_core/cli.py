"""Command line of the neural core: ``python -m neural_core <command> ...``.

Each command lives in ``neural_core/commands/<name>.py`` and provides
``HELP`` (one line), ``add_arguments(parser)`` and ``run(args) -> int``. Commands are
imported only when chosen, so ``--help`` and pure-Python commands never import torch.
"""

import argparse
import importlib
import importlib.util
import sys

from . import __version__
from .contract.errors import NeuralFaceError

# name -> module under neural_core.commands
COMMANDS = {
    "validate": "validate",
    "info": "info",
    "convert": "convert",
    "render": "render",
    "train": "train",
    "actor": "actor",
    "farm": "farm",
}


def _available_commands():
    found = {}
    for name, module in COMMANDS.items():
        spec = importlib.util.find_spec(f"{__package__}.commands.{module}")
        if spec is not None:
            found[name] = module
    return found


def main(argv=None):
    commands = _available_commands()
    parser = argparse.ArgumentParser(prog="python -m neural_core", description="Neural Face neural core.")
    parser.add_argument("--version", action="version", version=f"neural_core {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    argv = sys.argv[1:] if argv is None else list(argv)
    chosen = next((a for a in argv if not a.startswith("-")), None)
    for name, module_name in commands.items():
        if name == chosen:
            module = importlib.import_module(f"{__package__}.commands.{module_name}")
            command_parser = sub.add_parser(name, help=module.HELP, description=module.HELP)
            module.add_arguments(command_parser)
            command_parser.set_defaults(run=module.run)
        else:
            sub.add_parser(name, help=f"(see: python -m neural_core {name} --help)")
    args = parser.parse_args(argv)
    if not getattr(args, "run", None):
        parser.print_help()
        return 2
    try:
        return args.run(args)
    except NeuralFaceError as error:  # bad input: a message for the user, no traceback
        print(f"error: {error}", file=sys.stderr)
        return error.exit_code
