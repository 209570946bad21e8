"""The pure-Python neural-core modules the exporter uses, reached through ``core_link``.

``core_link.neural_core`` is either the top-level package (repository checkout) or the
copy inside the built extension; submodules are imported relative to whichever it is.
"""

import importlib

from ..core_link import neural_core


def _sub(name):
    return importlib.import_module(f"{neural_core.__name__}.{name}")


errors = _sub("errors")
profiles = _sub("rig.profiles")
NeuralFaceError = errors.NeuralFaceError


def shot_format():
    """``neural_core.shot.format`` (imported on first use)."""
    return _sub("shot.format")


def shot_passes():
    """``neural_core.shot.passes`` (imported on first use)."""
    return _sub("shot.passes")
