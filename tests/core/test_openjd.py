"""farm/openjd/neural_face.yaml against openjd-cli (pinned in requirements/test.txt): the
template validates, its parameters make a job, bad values are refused. The template is
run for real (``openjd run``) in tests/blender/test_farm_jobs.py."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

TEMPLATE = ROOT / "farm" / "openjd" / "neural_face.yaml"
OPENJD = Path(sys.executable).parent / "openjd"
pytestmark = pytest.mark.skipif(not OPENJD.is_file(), reason="openjd-cli is installed by ./tools/test")
PARAMETERS = {"BlendFile": "/farm/shot010.blend", "JobFolder": "/farm/jobs/shot010", "FrameStart": 1,
              "FrameEnd": 48, "RenderShotScript": "/farm/neural_face/tools/render_shot.py",
              "WorkerPython": "/farm/neural_face/.venv/bin/python"}


def openjd(*args, **parameters):
    command = [str(OPENJD), *args, str(TEMPLATE)]
    for key, value in {**PARAMETERS, **parameters}.items():
        command += ["-p", f"{key}={value}"]
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


def test_openjd_check_accepts_the_template():
    result = subprocess.run([str(OPENJD), "check", str(TEMPLATE)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and "passes validation checks" in result.stdout, result.stdout + result.stderr


def test_the_job_has_a_prepare_step_then_chunks_depending_on_it():
    result = openjd("summary", "--output", "json", ChunkSize=12)
    assert result.returncode == 0, result.stdout + result.stderr
    summary = json.loads(result.stdout)
    assert summary["name"] == "Neural Face 1-48"
    steps = {step["name"]: step for step in summary["steps"]}
    assert list(steps) == ["Prepare", "Chunks"]
    assert [d["step_name"] for d in steps["Chunks"]["dependencies"]] == ["Prepare"]
    assert steps["Chunks"]["parameter_definitions"] == [{"name": "Frames", "type": "CHUNK[INT]"}]


def test_stabilise_colour_is_no_yes_or_brightness():
    for value in ("yes", "no", "brightness"):
        result = openjd("summary", "--output", "json", StabiliseColour=value)
        assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("parameters, words", [
    ({"ChunkSize": 0}, "ChunkSize must be at least 1"),
    ({"Format": "tiff"}, "Format"),
    ({"FrameStart": "one"}, "FrameStart"),
    ({"StabiliseColour": "maybe"}, "StabiliseColour"),
])
def test_bad_parameters_are_refused(parameters, words):
    result = openjd("summary", "--output", "json", **parameters)
    message = json.loads(result.stdout)
    assert result.returncode != 0 and message["status"] == "error" and words in message["message"]
