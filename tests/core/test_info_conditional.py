"""``python -m neural_core info`` describes conditional face models, the bundled one included."""

import json
import subprocess
import sys

import pytest

from tests.conftest import ROOT

torch = pytest.importorskip("torch")


def info(path):
    result = subprocess.run([sys.executable, "-m", "neural_core", "info", str(path), "--json"],
                            capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_info_on_a_conditional_model(tmp_path):
    from neural_core.face_model.checkpoint import save_conditional
    from neural_core.face_model.config import tiny_config
    from neural_core.face_model.model import ConditionalModel

    path = tmp_path / "tiny.safetensors"
    save_conditional(ConditionalModel(tiny_config(coefficient_names=("jawOpen", "eyeBlinkLeft", "x"))), path)
    summary = info(path)
    assert summary["source_format"] == "neural_face.conditional"
    assert summary["resolution"] == 32 and summary["info"]["coefficients"] == 3
    assert summary["parameters"] > 0


def test_info_on_the_bundled_default_model():
    from neural_core.worker.model import DEFAULT_MODEL

    summary = info(DEFAULT_MODEL)
    assert summary["source_format"] == "neural_face.conditional" and summary["resolution"] == 256
