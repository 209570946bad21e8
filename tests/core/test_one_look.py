"""neural_core/evaluation/one_look.py on tiny arrays: the mean over the light draws, the
best single light, and the evaluation's figures of each set."""

import json
from types import SimpleNamespace

import numpy as np
import pytest

from neural_core.evaluation.one_look import AVERAGE, best_single_light, bound_figures, relit_names, with_average


def test_the_average_is_over_the_draws_alone():
    sets = {"own": np.full((1, 2, 2, 3), 200, np.uint8), "centre": np.full((1, 2, 2, 3), 100, np.uint8),
            "draw_0": np.full((1, 2, 2, 3), 10, np.uint8), "draw_1": np.full((1, 2, 2, 3), 21, np.uint8)}
    averaged = with_average(sets)
    assert set(averaged) == set(sets) | {AVERAGE}
    assert averaged[AVERAGE].dtype == np.uint8 and (averaged[AVERAGE] == 16).all()  # 15.5 rounds to even
    assert with_average({"centre": sets["centre"], "draw_0": sets["draw_0"]}).keys() == {"centre", "draw_0"}


def test_the_best_single_light_is_neither_the_average_nor_the_frames_own():
    figures = {"own": {"psnr_db": 100.0}, "centre": {"psnr_db": 20.0}, "draw_0": {"psnr_db": 21.0},
               AVERAGE: {"psnr_db": 23.0}}
    assert best_single_light(figures) == "draw_0"


def test_each_set_is_measured_against_the_frames_with_the_evaluations_figures():
    rng = np.random.default_rng(0)
    targets = rng.integers(60, 200, (3, 16, 16, 3)).astype(np.uint8)
    masks = np.zeros((3, 16, 16), np.float32)
    masks[:, 4:12, 4:12] = 1.0
    regions = np.where(masks > 0, 1.0, -1.0).astype(np.float32)  # all skin
    data = SimpleNamespace(targets=targets, masks=masks, regions=regions)
    darker = (targets * 0.9).astype(np.uint8)
    figures = bound_figures({"same": targets.copy(), "darker": darker}, data)
    assert figures["same"]["psnr_db"] > 60 and figures["darker"]["psnr_db"] < 30
    assert "identity_distance" not in figures["same"]  # no face analysis given


def test_relit_names_need_the_relit_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="relit_actor"):
        relit_names(tmp_path)
    (tmp_path / "lights.json").write_text(json.dumps({"own": None, "centre": {}}))
    assert relit_names(tmp_path) == ["own", "centre"]
