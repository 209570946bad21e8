"""When a shot's coefficients and the model's overlap partly or not at all (issue 13.1).

Nothing in common: exit 2 with an `error` event naming what the model needs. Some
missing: one `warning` event per job naming them, frames rendered. Checked on the
function and on real worker runs (``python -m neural_core render``).
"""

import dataclasses
import json
import subprocess
import sys

import pytest

from neural_core.contract.errors import NeuralFaceError
from neural_core.contract.rig.arkit import ARKIT_52
from neural_core.face_model.inputs import check_coefficients, coefficient_coverage
from tests.conftest import ROOT
from tests.core.synthetic_shot import COEFFICIENTS, make_shot, write_shot_folder

IDENTITY = [f"id_{i:02d}" for i in range(28)]
DEFAULT_MODEL_NAMES = IDENTITY + list(ARKIT_52)  # what the bundled default model reads
FLAME_NAMES = [f"Shape{i:03d}" for i in range(10)] + [f"Exp{i:03d}" for i in range(10)]


def test_coverage_splits_driven_missing_and_unused_in_file_order():
    coverage = coefficient_coverage(["Exp000", "jawOpen", "id_01"], ["id_00", "id_01", "jawOpen", "cheekPuff"])
    assert coverage.driven == ["id_01", "jawOpen"]
    assert coverage.missing == ["id_00", "cheekPuff"]
    assert coverage.missing_expression == ["cheekPuff"]
    assert coverage.unused == ["Exp000"]


def test_a_flame_shot_drives_nothing_of_the_default_model_and_is_refused():
    with pytest.raises(NeuralFaceError) as info:
        check_coefficients(FLAME_NAMES, DEFAULT_MODEL_NAMES, "flame")
    message = str(info.value)
    assert "reads none of the shot's coefficients" in message and "'flame'" in message
    assert "eyeBlinkLeft" in message and "identity id_00..id_27" in message  # what the model needs
    assert "the shot has Shape000..Shape009, Exp000..Exp009." in message  # numbered runs folded
    assert "custom" in message and "docs/rigs.md" in message  # how to retarget


def test_a_partly_mapped_shot_gives_one_warning_naming_the_missing_expressions():
    shot = ["jawOpen", "eyeBlinkLeft", "Exp005"]
    warnings = check_coefficients(shot, DEFAULT_MODEL_NAMES, "custom")
    assert len(warnings) == 1
    message = warnings[0]
    assert "50 of the model's 52 expression coefficients" in message
    assert "eyeLookDownLeft" in message and "and 40 more" in message
    assert "jawOpen" not in message.split("ignores")[0]  # driven ones are not listed as missing
    assert "id_00" not in message  # a missing identity is the average face, not a frozen expression
    assert "ignores the shot's Exp005" in message


def test_a_shot_covering_the_model_or_missing_only_identity_gives_no_warning():
    assert check_coefficients(list(ARKIT_52), DEFAULT_MODEL_NAMES, "arkit52") == []
    assert check_coefficients(DEFAULT_MODEL_NAMES + ["extra"], DEFAULT_MODEL_NAMES) == []
    assert check_coefficients(FLAME_NAMES, [], "flame") == []  # an unconditional generator reads none


# -- real worker runs ---------------------------------------------------------------

torch = pytest.importorskip("torch")


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    from neural_core.face_model.checkpoint import save_conditional
    from neural_core.face_model.config import tiny_config
    from neural_core.face_model.model import ConditionalModel

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("model") / "tiny.safetensors"
    save_conditional(ConditionalModel(tiny_config(coefficient_names=COEFFICIENTS)), path)
    return path


def shot_with(folder, names, profile, n_frames=3):
    shot = dataclasses.replace(make_shot(n_frames=n_frames), coefficient_names=list(names), rig_profile=profile)
    write_shot_folder(folder, shot)
    return folder


def render(shot, out, model):
    command = [sys.executable, "-m", "neural_core", "render", str(shot), "--out", str(out), "--model", str(model),
               "--json", "--device", "cpu"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=240, cwd=ROOT)
    return result, [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]


def test_worker_refuses_a_shot_that_drives_none_of_the_models_coefficients(tmp_path, tiny_model):
    shot = shot_with(tmp_path / "shot", ["Exp000", "Exp001", "Shape000"], "flame")
    result, events = render(shot, tmp_path / "out", tiny_model)
    assert result.returncode == 2, result.stderr[-2000:]
    errors = [e for e in events if e["event"] == "error"]
    assert len(errors) == 1 and errors[0]["kind"] == "bad-input"
    assert "jawOpen" in errors[0]["message"] and "Exp000" in errors[0]["message"]
    assert events[-1]["event"] == "done" and events[-1]["status"] == "bad-input"
    assert not list((tmp_path / "out").glob("*.png"))


def test_worker_warns_once_per_job_about_missing_coefficients_and_renders(tmp_path, tiny_model):
    shot = shot_with(tmp_path / "shot", ["jawOpen", "Exp000", "Exp001"], "custom")
    result, events = render(shot, tmp_path / "out", tiny_model)
    assert result.returncode == 0, result.stderr[-2000:]
    kinds = [e["event"] for e in events]
    assert kinds.count("warning") == 1 and kinds.index("warning") == kinds.index("start") + 1
    message = events[kinds.index("warning")]["message"]
    assert "eyeBlinkLeft" in message and "mouthSmileLeft" in message and "'custom'" in message
    assert "jawOpen" not in message.split("ignores")[0]
    assert kinds.count("frame") == 3 and events[-1]["status"] == "ok"


def test_worker_gives_no_warning_when_the_shot_covers_the_model(tmp_path, tiny_model):
    result, events = render(shot_with(tmp_path / "shot", COEFFICIENTS, "arkit52", n_frames=1),
                            tmp_path / "out", tiny_model)
    assert result.returncode == 0, result.stderr[-2000:]
    assert not [e for e in events if e["event"] == "warning"]


def test_default_model_refuses_a_flame_shot(tmp_path):
    from neural_core.worker.model import DEFAULT_MODEL

    if not DEFAULT_MODEL.is_file():
        pytest.skip("the bundled default model is not in this checkout")
    shot = shot_with(tmp_path / "shot", FLAME_NAMES[:3], "flame", n_frames=1)
    result, events = render(shot, tmp_path / "out", "default")
    assert result.returncode == 2, result.stderr[-2000:]
    message = [e for e in events if e["event"] == "error"][0]["message"]
    assert "id_00" in message and "eyeBlinkLeft" in message and "Shape000" in message
