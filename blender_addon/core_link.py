"""The add-on's one door to the torch-free contract of the neural core.

The contract (``neural_core/contract``: shot format, rig profiles, frame names, worker
protocol, errors) is pure Python + numpy. Inside the built extension a copy of it sits
next to the add-on (``<extension>/contract``); in a repository checkout it is
``neural_core.contract``. Every other add-on module imports what it needs from here,
never from ``neural_core`` (``tests/core/test_boundaries.py`` checks).
"""

import importlib
import importlib.util

if importlib.util.find_spec(f"{__package__}.contract") is not None:  # the packaged extension
    _PACKAGE = f"{__package__}.contract"
else:  # repository checkout
    _PACKAGE = "neural_core.contract"


def _part(name):
    return importlib.import_module(f"{_PACKAGE}.{name}")


atomic = _part("atomic")
errors = _part("errors")
frames = _part("frames")
looks = _part("looks")
protocol = _part("protocol")
arkit = _part("rig.arkit")
profiles = _part("rig.profiles")
shot = _part("shot")
shot_passes = _part("shot.passes")

NeuralFaceError = errors.NeuralFaceError
