"""The built extension installs into the real bpy module, enables, registers, disables."""

import json
import os
import subprocess
import sys
import tomllib
import zipfile

import pytest

from tests.conftest import ROOT

sys.path.insert(0, str(ROOT / "tools"))
import build_extension  # noqa: E402

EXPECTED_OPERATORS_AT_LEAST = {"neural_face.add_head", "neural_face.export_shot"}


@pytest.fixture(scope="module")
def extension_zip(tmp_path_factory):
    return build_extension.build(tmp_path_factory.mktemp("dist"))


def test_zip_is_named_after_manifest_and_carries_the_contract_whole(extension_zip):
    manifest = tomllib.loads((ROOT / "blender_manifest.toml").read_text())
    assert extension_zip.name == f"neural_face-{manifest['version']}.zip"
    names = zipfile.ZipFile(extension_zip).namelist()
    assert "blender_manifest.toml" in names and "__init__.py" in names
    contract = ROOT / "neural_core" / "contract"
    expected = {"contract/" + p.relative_to(contract).as_posix() for p in contract.rglob("*.py")}
    assert expected <= set(names), sorted(expected - set(names))
    assert not any(n.startswith("neural_core/") for n in names)  # only the contract travels
    assert "demo_scene.py" not in names  # a repository tool, never imported by the add-on
    assert not any("__pycache__" in n for n in names)
    info = json.loads(zipfile.ZipFile(extension_zip).read("checkout.json"))
    assert info == {"checkout": str(ROOT), "worker_python": str(ROOT / ".venv" / "bin" / "python")}


def test_vendored_core_imports_without_torch(extension_zip, tmp_path):
    """Every module of the copied contract imports with torch made unimportable."""
    zipfile.ZipFile(extension_zip).extractall(tmp_path / "neural_face")
    modules = [
        ".".join(p.relative_to(tmp_path / "neural_face").with_suffix("").parts)
        for p in (tmp_path / "neural_face" / "contract").rglob("*.py")
    ]
    script = (
        "import sys, importlib; sys.modules['torch'] = None\n"
        f"sys.path.insert(0, {str(tmp_path / 'neural_face')!r})\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name.removesuffix('.__init__'))\n"
        "print('ok', len(sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("ok")


def test_installs_enables_registers_and_disables(extension_zip, tmp_path):
    env = dict(os.environ, BLENDER_USER_RESOURCES=str(tmp_path / "user"))
    result = subprocess.run(
        [sys.executable, str(ROOT / "tools/install_extension.py"), str(extension_zip)],
        capture_output=True, text=True, timeout=180, env=env, cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    line = next(text for text in result.stdout.splitlines() if text.startswith("RESULT "))
    report = json.loads(line.removeprefix("RESULT "))
    assert report["install_result"] == ["FINISHED"]
    assert report["enabled_after_install"]
    assert report["registered"] and all(report["registered"].values()), report["registered"]
    assert EXPECTED_OPERATORS_AT_LEAST <= set(report["operators"]), report["operators"]
    assert all(report["operators"].values()), report["operators"]
    assert "NEURALFACE_PT_render" in report["panels"]
    assert report["worker_python_property"]
    assert not report["enabled_after_disable"]
    assert not report["panel_registered_after_disable"]
    assert not report["torch_loaded"]


def test_installed_extension_finds_the_checkouts_venv_without_a_preference(extension_zip, tmp_path):
    """Installed from the zip into a fresh user folder, with no 'Worker Python' preference
    and no NEURAL_FACE_PYTHON, the add-on runs the worker with the .venv of the checkout
    that built the zip (README: 'default: this repository's .venv')."""
    venv_python = ROOT / ".venv" / "bin" / "python"
    if not venv_python.is_file():
        pytest.skip("this checkout has no .venv (./tools/test makes it)")
    env = {k: v for k, v in os.environ.items() if k != "NEURAL_FACE_PYTHON"}
    env["BLENDER_USER_RESOURCES"] = str(tmp_path / "user")
    result = subprocess.run(
        [sys.executable, str(ROOT / "tools/install_extension.py"), str(extension_zip)],
        capture_output=True, text=True, timeout=180, env=env, cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(next(text for text in result.stdout.splitlines() if text.startswith("RESULT ")).removeprefix("RESULT "))
    assert report["worker_python"] == str(venv_python)
