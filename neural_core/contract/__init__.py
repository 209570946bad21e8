"""The torch-free contract between Blender and the neural core.

Everything here is pure Python + numpy (OpenEXR is imported lazily by ``shot.exr``):
the shot-folder format (``shot/``), rig naming profiles (``rig/``), the worker's
JSON-lines protocol and exit codes (``protocol``), cancellation, atomic writes and the
error types. The Blender extension ships this folder as a whole (``tools/build_extension.py``)
and reaches it only through ``blender_addon/core_link.py``. Imports inside this package
are relative and never leave it (``tests/core/test_boundaries.py`` checks).
"""
