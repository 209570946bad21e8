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


@pytest.mark.parametrize("module", ["neural_core", "neural_core.cli", "neural_core.contract.errors", "neural_core.contract.rig.arkit"])
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


# -- the contract: one folder, closed under import ---------------------------------
CONTRACT = ROOT / "neural_core" / "contract"
CONTRACT_MAY_IMPORT = {"numpy", "OpenEXR", "Imath"}  # besides the standard library


def _relative_target(path, node):
    """The package path (tuple) a relative ``from ... import`` reaches, from ROOT."""
    parts = path.relative_to(ROOT).with_suffix("").parts
    base = parts[:-1] if path.name != "__init__.py" else parts[:-1]
    base = base[: len(base) - (node.level - 1)] if node.level > 1 else base
    return base + tuple(node.module.split(".") if node.module else ())


def test_the_contract_imports_only_itself_the_standard_library_and_numpy():
    found = []
    for path in sorted(CONTRACT.rglob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level:
                target = _relative_target(path, node)
                if target[:2] != ("neural_core", "contract"):
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno} reaches {'.'.join(target)}")
        for name, line in imported_top_level_names(path):
            if name not in sys.stdlib_module_names and name not in CONTRACT_MAY_IMPORT:
                found.append(f"{path.relative_to(ROOT)}:{line} imports {name}")
    assert found == []


def test_the_add_on_reaches_the_core_only_through_core_link():
    found = []
    for path in sorted((ROOT / "blender_addon").rglob("*.py")):
        if path.name == "core_link.py":
            continue
        for name, line in imported_top_level_names(path):  # import_module("...") calls included
            if name in ("neural_core", "importlib", "contract"):
                found.append(f"{path.relative_to(ROOT)}:{line} imports {name}")
    assert found == []


# -- no import circles --------------------------------------------------------------
def _module_name(path):
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph(package):
    """{module: set of modules of ``package`` it imports at module level or in functions}."""
    modules = {_module_name(p): p for p in (ROOT / package).rglob("*.py")}
    graph = {}
    for name, path in modules.items():
        is_package = path.name == "__init__.py"
        edges = set()
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            targets = []
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = name.split(".") if is_package else name.split(".")[:-1]
                    base = base[: len(base) - (node.level - 1)]
                    stem = ".".join(base + ([node.module] if node.module else []))
                else:
                    stem = node.module or ""
                targets = [f"{stem}.{alias.name}" for alias in node.names] + [stem]
            elif isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            for target in targets:
                while target and target not in modules:
                    target = target.rpartition(".")[0]
                if target and target != name and not name.startswith(target + "."):
                    edges.add(target)
        graph[name] = edges
    return graph


def find_cycle(graph):
    """One import circle as a list of modules, or None."""
    state = {}

    def visit(node, trail):
        state[node] = "open"
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                return trail[trail.index(nxt):] + [nxt] if nxt in trail else [node, nxt]
            if nxt not in state:
                found = visit(nxt, trail + [nxt])
                if found:
                    return found
        state[node] = "done"
        return None

    for start in sorted(graph):
        if start not in state:
            found = visit(start, [start])
            if found:
                return found
    return None


@pytest.mark.parametrize("package", ["neural_core", "blender_addon"])
def test_no_import_circle(package):
    assert find_cycle(import_graph(package)) is None


def test_the_circle_finder_finds_a_circle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None
