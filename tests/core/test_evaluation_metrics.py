"""neural_core.evaluation: the measures on inputs whose answer is known, the evaluation
shot's layouts, and the face-analysis subprocess's wiring."""

import json
import math
import subprocess
import sys
from types import SimpleNamespace

import numpy as np
import pytest

from neural_core.evaluation import face_analysis
from neural_core.evaluation import metrics as evaluate
from neural_core.evaluation.default_model import appearance_latents, format_table, read_notes, shot_folders
from tests.conftest import ROOT


def _face(jaw, blink_left, blink_right, rng):
    """468 MediaPipe-indexed points: eyes 0.3 apart, lips apart by 0.2 * jaw, lids by (1 - blink)."""
    points = rng.uniform(0.4, 0.6, size=(468, 2))
    points[33], points[133], points[362], points[263] = (0.30, 0.4), (0.40, 0.4), (0.60, 0.4), (0.70, 0.4)
    for (upper, lower, _a, _b), blink in ((evaluate.LIDS["Right"], blink_right), (evaluate.LIDS["Left"], blink_left)):
        gap = 0.035 * (1.0 - blink)
        points[upper], points[lower] = (0.5, 0.4 - gap / 2), (0.5, 0.4 + gap / 2)
    points[13], points[14] = (0.5, 0.7), (0.5, 0.7 + 0.2 * jaw)
    return points.tolist()


def test_expression_response_recovers_known_correlations_and_skips_missing_faces():
    rng = np.random.default_rng(0)
    values, marks, records = [], [], []
    for i in range(12):
        jaw, left, right = i / 11, (i % 4) / 3, ((i + 1) % 3) / 2
        values.append({"jaw": jaw, "Left": left, "Right": right})
        marks.append(_face(jaw, left, 1.0 - right, rng))  # right eye closes when its blink value falls
        records.append(SimpleNamespace(landmarks=[[0.0, 0.0]] * 468))
    marks[5] = None  # no face found in one frame
    response = evaluate.expression_response(marks, records, values)
    assert response["frames"] == 11
    assert math.isclose(response["jaw"], 1.0, abs_tol=1e-9) and math.isclose(response["Left"], 1.0, abs_tol=1e-9)
    assert math.isclose(response["Right"], -1.0, abs_tol=1e-9)
    shot = SimpleNamespace(coefficient_names=["eyeBlinkRight", "jawOpen", "eyeBlinkLeft"])
    got = evaluate.expression_values(shot, [SimpleNamespace(coefficients=[0.25, 0.5, 0.75])])
    assert got == [{"jaw": 0.5, "Left": 0.75, "Right": 0.25}]
    partial = evaluate.expression_values(SimpleNamespace(coefficient_names=["jawOpen"]), [SimpleNamespace(coefficients=[0.5])])
    assert partial[0]["jaw"] == 0.5 and math.isnan(partial[0]["Left"]) and math.isnan(partial[0]["Right"])


def test_the_evaluation_shot_is_a_sample_folder_or_a_plain_shot_folder(tmp_path):
    (tmp_path / "chunk" / "shot").mkdir(parents=True)
    (tmp_path / "chunk" / "shot" / "shot.json").write_text("{}")
    assert shot_folders(tmp_path / "chunk") == (tmp_path / "chunk" / "shot", tmp_path / "chunk" / "targets")
    (tmp_path / "plain").mkdir()
    (tmp_path / "plain" / "shot.json").write_text("{}")
    assert shot_folders(tmp_path / "plain") == (tmp_path / "plain", None)


def test_identity_distances_are_every_pair_and_each_to_the_first_skipping_missing_faces():
    a, b, c = np.zeros(128), np.zeros(128), np.zeros(128)
    b[0], c[1] = 3.0, 4.0  # |a-b| = 3, |a-c| = 4, |b-c| = 5
    pairs, to_first = evaluate.identity_distances([a.tolist(), None, b.tolist(), c.tolist()])
    assert sorted(pairs) == [3.0, 4.0, 5.0]
    assert to_first == [3.0, 4.0]
    assert evaluate.median_text(pairs) == "4.000" and evaluate.median_text([]) == "n/a"
    assert evaluate.identity_distances([None, a.tolist()]) == ([], [])


def _record(frame, coefficients, yaw=0.0):
    c, s = math.cos(yaw), math.sin(yaw)
    rotation = np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])
    return SimpleNamespace(frame=frame, coefficients=np.array(coefficients, float), K=np.eye(3),
                           head_camera=SimpleNamespace(rotation=rotation, translation=np.zeros(3)),
                           joints={"jaw": np.eye(3)})


def test_held_frames_come_from_the_notes_or_from_identical_inputs():
    records = [_record(1, [0.1]), _record(2, [0.2]), _record(3, [0.2]), _record(4, [0.2]), _record(5, [0.2], yaw=0.1),
               _record(6, [0.3])]
    assert evaluate.held_frames({"held_frames": [40, 41]}, records) == [40, 41]
    assert evaluate.held_frames(None, records) == [2, 3, 4]  # frame 5 turns the head
    records[3].joints = {"jaw": np.diag([1.0, 0.5, 1.0])}
    assert evaluate.held_frames({"frames": []}, records) == [2, 3]


def test_psnr_and_ssim_look_only_inside_the_mask():
    rng = np.random.default_rng(1)
    target = rng.uniform(0, 1, (3, 32, 32))
    output = target.copy()
    output[:, :, 16:] = 0.0  # wrong only outside the mask
    mask = np.zeros((32, 32))
    mask[:, :12] = 1.0
    assert evaluate.masked_psnr(output, target, mask) == pytest.approx(100.0)  # mse floored at 1e-10
    assert evaluate.masked_ssim(output, target, mask) > 0.99
    output[:, :, :12] += 0.1
    assert evaluate.masked_psnr(output, target, mask) == pytest.approx(20.0)


def test_the_shot_appearance_is_the_probit_of_its_notes_or_the_median(tmp_path):
    records = [SimpleNamespace(frame=2), SimpleNamespace(frame=1)]
    notes = {"frames": [{"appearance": [0.5, 0.5]}, {"appearance": [0.975, 0.025]}]}
    np.testing.assert_allclose(appearance_latents(notes, records, 2), [[1.96, -1.96], [0.0, 0.0]], atol=1e-3)
    assert appearance_latents(None, records, 3).tolist() == [[0.0] * 3] * 2
    assert read_notes(tmp_path) is None
    (tmp_path / "frames.json").write_text(json.dumps(notes))
    assert read_notes(tmp_path) == notes


def test_the_table_lines_up_its_columns():
    text = format_table([("a", "1", "x", "-"), ("longer metric", "22", "y", ">= 1")], "model.safetensors")
    lines = text.splitlines()
    assert "model.safetensors" in lines[1]
    header, row = lines[3], lines[5]
    assert header.index("value") == row.index("1") == len("longer metric") + 2


@pytest.mark.parametrize("module", ["neural_core.evaluation", "neural_core.evaluation.metrics",
                                    "neural_core.evaluation.face_analysis", "neural_core.evaluation.default_model"])
def test_importing_the_evaluation_imports_no_torch_mediapipe_or_dlib(module):
    script = f"import sys, {module}; print(sorted({{'torch', 'mediapipe', 'dlib', 'bpy'}} & set(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_the_face_analysis_module_starts_the_way_run_analysis_starts_it():
    # run_analysis runs `python -m MODULE FOLDER` in ROOT with .venv-eval's python; here this
    # interpreter (no MediaPipe needed for --help)
    done = subprocess.run([sys.executable, "-m", face_analysis.MODULE, "--help"], capture_output=True, text=True,
                          timeout=60, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert "analysis.json" in done.stdout


def test_without_the_eval_environment_the_analysis_is_not_measured(tmp_path, capsys):
    assert face_analysis.run_analysis(tmp_path, python=tmp_path / "no-python") is None
    assert "not measured" in capsys.readouterr().err
