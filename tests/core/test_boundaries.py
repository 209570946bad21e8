"""The architecture's import rules, checked on the source and on a live interpreter."""

import ast
import subprocess
import sys

import pytest

from tests.conftest import ROOT

BLENDER_MODULES = {"bpy", "mathutils", "bpy_extras", "bmesh", "addon_utils", "gpu", "aud"}
TORCH_MODULES = {"torch", "torchvision"}


def imported_top_level_names(path):
    """Top-level module names of every import statement in a file (anywhere in it)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name.split(".")[0], node.lineno
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module.split(".")[0], node.lineno
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "import_module":
            if node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
                yield node.args[0].value.split(".")[0], node.lineno


def offending_imports(package, forbidden):
    found = []
    for path in sorted((ROOT / package).rglob("*.py")):
        for name, line in imported_top_level_names(path):
            if name in forbidden:
                found.append(f"{path.relative_to(ROOT)}:{line} imports {name}")
    return found


def test_neural_core_never_imports_blender():
    assert offending_imports("neural_core", BLENDER_MODULES) == []


def test_blender_addon_never_imports_torch():
    assert offending_imports("blender_addon", TORCH_MODULES) == []


def test_the_scanner_sees_imports_inside_functions(tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text("def f():\n    import torch.nn as nn\n    from bpy import data\n")
    assert sorted(imported_top_level_names(probe)) == [("bpy", 3), ("torch", 2)]


@pytest.mark.parametrize("module", ["neural_core", "neural_core.cli", "neural_core.errors", "neural_core.rig.arkit"])
def test_importing_the_core_does_not_import_torch(module):
    script = f"import sys, {module}; print('torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


def test_cli_help_does_not_import_torch():
    script = (
        "import sys, contextlib, io\n"
        "from neural_core.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    main([])\n"
        "print('torch' in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("False")
