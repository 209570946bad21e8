"""The README's set-up: a second run of the environment step installs nothing."""

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT


def test_ensure_venv_reuses_the_current_environment():
    venv = Path(sys.prefix)
    if venv.parent != ROOT or venv.name != ".venv":
        pytest.skip("not running inside the repository's .venv")
    result = subprocess.run(
        [str(ROOT / "tools/ensure_venv"), "python3", ".venv", "requirements/test.txt", "requirements/actor.txt"],
        capture_output=True, text=True, timeout=60, cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "" and result.stderr == ""


def test_requirements_are_pinned_exactly():
    for name in ("test.txt", "blender-5.0.1.txt", "actor.txt"):
        lines = [l.strip() for l in (ROOT / "requirements" / name).read_text().splitlines()]
        requirements = [l for l in lines if l and not l.startswith("#")]
        assert requirements and all("==" in l for l in requirements), name
    assert "bpy==4.5.15" in (ROOT / "requirements/test.txt").read_text()
    assert "torch==2.13.0" in (ROOT / "requirements/test.txt").read_text()
    assert "bpy==5.0.1" in (ROOT / "requirements/blender-5.0.1.txt").read_text()
