#!/usr/bin/env python3
"""Build the Blender extension zip: ``dist/neural_face-<version>.zip``.

Stages ``blender_addon/`` as the extension's top level, adds ``blender_manifest.toml``, a
copy of the neural core's torch-free contract (``neural_core/contract`` -> ``contract/``) and
``checkout.json`` (this checkout and its ``.venv`` Python: the installed add-on's default
worker), then builds and validates the package with Blender's own extension tool
(``blender_ext.py``, shipped inside the bpy wheel; there is no ``blender`` binary here).

Usage: ``.venv/bin/python tools/build_extension.py [--output-dir dist] [--blender-ext PATH]``
"""

import argparse
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# The one folder of the neural core the add-on uses: the torch-free contract, shipped whole.
CONTRACT = ROOT / "neural_core" / "contract"
# Files of blender_addon/ that are repository tools, not part of the add-on (the demo
# scene and the training-data generator run from tools/ with this checkout).
ADDON_ONLY_IN_REPO = ("demo_scene.py", "dataset")
IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", "*.pyo")
BUILD_INFO = "checkout.json"  # read by blender_addon/jobs/worker_client.py (resolve_worker_python)


def find_blender_ext():
    """Path of ``blender_ext.py`` inside the installed bpy wheel."""
    spec = importlib.util.find_spec("bpy")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("build_extension: the bpy module is not installed here; run ./tools/test once or pass --blender-ext")
    for location in spec.submodule_search_locations:
        found = sorted(Path(location).glob("*/scripts/addons_core/bl_pkg/cli/blender_ext.py"))
        if found:
            return found[-1]
    raise SystemExit("build_extension: blender_ext.py not found inside the bpy package")


def stage(staging):
    """Copy the add-on, the manifest and the contract into ``staging``."""
    addon_ignored = shutil.ignore_patterns("__pycache__", "*.pyc", "*.pyo", *ADDON_ONLY_IN_REPO)
    shutil.copytree(ROOT / "blender_addon", staging, ignore=addon_ignored, dirs_exist_ok=True)
    shutil.copy2(ROOT / "blender_manifest.toml", staging / "blender_manifest.toml")
    shutil.copytree(CONTRACT, staging / "contract", ignore=IGNORED)
    # Licence texts travel with the package.
    for licence in ROOT.glob("LICENSE*"):
        shutil.copy2(licence, staging / licence.name)
    write_build_info(staging)


def write_build_info(staging):
    """``checkout.json``: this checkout and its ``.venv`` Python, the worker the installed
    extension uses when its 'Worker Python' preference is empty (the zip carries no torch).
    A path on the machine that built the zip: elsewhere it does not exist and the add-on
    asks for the preference."""
    bin_dir, name = ("Scripts", "python.exe") if os.name == "nt" else ("bin", "python")
    info = {"checkout": str(ROOT), "worker_python": str(ROOT / ".venv" / bin_dir / name)}
    (staging / BUILD_INFO).write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")


def build(output_dir, blender_ext=None):
    manifest = tomllib.loads((ROOT / "blender_manifest.toml").read_text())
    blender_ext = Path(blender_ext) if blender_ext else find_blender_ext()
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    target = output_dir / f"{manifest['id']}-{manifest['version']}.zip"
    with tempfile.TemporaryDirectory(prefix="neural_face_build_") as temp:
        staging = Path(temp) / manifest["id"]
        stage(staging)
        partial = Path(temp) / target.name
        for command in (
            ["build", "--source-dir", str(staging), "--output-filepath", str(partial)],
            ["validate", str(partial)],
        ):
            result = subprocess.run([sys.executable, str(blender_ext), *command], capture_output=True, text=True)
            if result.returncode != 0:
                raise SystemExit(f"build_extension: blender_ext {command[0]} failed:\n{result.stdout}{result.stderr}")
        shutil.move(partial, target)  # only a validated package reaches dist/
    return target


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output-dir", default=str(ROOT / "dist"))
    parser.add_argument("--blender-ext", help="path of blender_ext.py (default: the one in the bpy wheel)")
    args = parser.parse_args(argv)
    target = build(args.output_dir, args.blender_ext)
    print(f"Built and validated {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
