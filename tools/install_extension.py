"""Install, enable, inspect and disable the built extension zip in a fresh bpy process.

Usage: python install_extension.py PATH.zip
Prints one JSON line with what it found and exits 0; any failure exits 1.
Used by tests/blender/test_extension.py and ./tools/demo, always under a timeout
(bpy 4.5.15 can hang at exit).
"""

import json
import os
import sys
import traceback


def main(zip_path):
    import bpy  # noqa: I001  (bpy first: it puts addon_utils on sys.path)
    import addon_utils

    module = "bl_ext.user_default.neural_face"
    result = bpy.ops.extensions.package_install_files(
        filepath=zip_path, repo="user_default", enable_on_install=True
    )
    enabled_after_install = module in bpy.context.preferences.addons
    package = sys.modules[module]
    classes = list(package.registration._classes())
    registered = {cls.__name__: bool(cls.is_registered) for cls in classes}
    operators = sorted(
        f"{cls.bl_idname}" for cls in classes if issubclass(cls, bpy.types.Operator)
    )
    operator_ops = {op: hasattr(getattr(bpy.ops, op.split(".")[0]), op.split(".")[1]) for op in operators}
    panels = sorted(cls.__name__ for cls in classes if issubclass(cls, bpy.types.Panel))
    preferences = bpy.context.preferences.addons[module].preferences
    torch_loaded = "torch" in sys.modules
    preferences_class = type(preferences).__name__ if preferences is not None else None
    worker_python_property = hasattr(preferences, "worker_python")  # read before disable frees it
    try:  # the worker the add-on would run with an empty preference and no NEURAL_FACE_PYTHON
        worker_python = sys.modules[f"{module}.jobs.worker_client"].resolve_worker_python("", environ={})
    except Exception as error:  # noqa: BLE001  (reported, the test says what it expected)
        worker_python = f"error: {error}"
    addon_utils.disable(module, default_set=True)
    report = {
        "install_result": sorted(result),
        "enabled_after_install": enabled_after_install,
        "registered": registered,
        "operators": operator_ops,
        "panels": panels,
        "preferences_class": preferences_class,
        "worker_python_property": worker_python_property,
        "worker_python": worker_python,
        "enabled_after_disable": module in bpy.context.preferences.addons,
        "panel_registered_after_disable": any(hasattr(bpy.types, p) for p in panels),
        "torch_loaded": torch_loaded,
        "blender": bpy.app.version_string,
    }
    print("RESULT " + json.dumps(report), flush=True)


if __name__ == "__main__":
    try:
        main(sys.argv[-1])
    except Exception:
        traceback.print_exc()
        sys.stdout.flush()
        os._exit(1)
