"""The expression-response metric of tools/evaluate.py on landmarks whose answer is known."""

import importlib.util
import math
from types import SimpleNamespace

import numpy as np

from tests.conftest import ROOT

spec = importlib.util.spec_from_file_location("evaluate_tool", ROOT / "tools" / "evaluate.py")
evaluate = importlib.util.module_from_spec(spec)
spec.loader.exec_module(evaluate)


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


def test_the_evaluation_shot_is_a_sample_folder_or_a_plain_shot_folder(tmp_path):
    (tmp_path / "chunk" / "shot").mkdir(parents=True)
    (tmp_path / "chunk" / "shot" / "shot.json").write_text("{}")
    assert evaluate.shot_folders(tmp_path / "chunk") == (tmp_path / "chunk" / "shot", tmp_path / "chunk" / "targets")
    (tmp_path / "plain").mkdir()
    (tmp_path / "plain" / "shot.json").write_text("{}")
    assert evaluate.shot_folders(tmp_path / "plain") == (tmp_path / "plain", None)


def test_identity_distances_are_every_pair_and_each_to_the_first_skipping_missing_faces():
    a, b, c = np.zeros(128), np.zeros(128), np.zeros(128)
    b[0], c[1] = 3.0, 4.0  # |a-b| = 3, |a-c| = 4, |b-c| = 5
    pairs, to_first = evaluate.identity_distances([a.tolist(), None, b.tolist(), c.tolist()])
    assert sorted(pairs) == [3.0, 4.0, 5.0]
    assert to_first == [3.0, 4.0]
    assert evaluate.median_text(pairs) == "4.000" and evaluate.median_text([]) == "n/a"
    assert evaluate.identity_distances([None, a.tolist()]) == ([], [])
