"""blender_addon/dataset (tools/make_dataset.py, the evaluation shot): reproducible frame
parameters, the dataset recipe, and one tiny chunk rendered for real."""

import json

import numpy as np
import pytest

from blender_addon.core_link import NeuralFaceError
from blender_addon.dataset import eval_shot, sampling
from blender_addon.dataset.generate import Recipe, check_recipe, frames_for_chunk

ARKIT_SUBSET = ("jawOpen", "eyeBlinkLeft", "eyeBlinkRight", "mouthSmileLeft", "mouthSmileRight", "eyeLookInLeft",
                "eyeLookOutLeft", "eyeLookUpLeft", "eyeLookDownLeft", "eyeLookInRight", "eyeLookOutRight",
                "eyeLookUpRight", "eyeLookDownRight", "browInnerUp")


def test_frame_parameters_are_reproducible_from_the_seed_and_in_range():
    a, b, c = frames_for_chunk(7, 3, 20), frames_for_chunk(7, 3, 20), frames_for_chunk(7, 4, 20)
    assert a == b and a != c
    for params in a:
        assert all(0.0 <= v <= 1.0 for v in params["expression"].values())
        assert all(-1.0 <= v <= 1.0 for v in params["identity"].values())
        assert len(params["appearance"]) == len(sampling.APPEARANCE)
        assert abs(params["pose"]["head"][1]) <= np.radians(35) + 1e-9
        assert 35.0 <= params["camera"]["lens"] <= 85.0
        json.dumps(params)  # plain data


def test_expressions_are_sparse_and_jaw_open_covers_its_range():
    rng = np.random.default_rng(0)
    draws = [sampling.expression(rng, ARKIT_SUBSET) for _ in range(400)]
    jaw = np.array([d["jawOpen"] for d in draws])
    assert (jaw < 0.1).mean() > 0.2 and (jaw > 0.8).mean() > 0.05
    smile = np.array([[d["mouthSmileLeft"], d["mouthSmileRight"]] for d in draws])
    assert np.corrcoef(smile.T)[0, 1] > 0.6  # left and right move together (independent draws: about 0)
    assert np.mean([sum(v > 0.05 for v in d.values()) for d in draws]) < len(ARKIT_SUBSET) / 2


def test_a_dataset_folder_refuses_a_different_recipe(tmp_path):
    check_recipe(tmp_path, Recipe(seed=3))
    check_recipe(tmp_path, Recipe(seed=3))  # the same recipe again: resume
    with pytest.raises(NeuralFaceError, match="was made with"):
        check_recipe(tmp_path, Recipe(seed=4))
    assert json.loads((tmp_path / "dataset.json").read_text())["seed"] == 3


def test_the_evaluation_shot_holds_its_named_frames():
    frames = eval_shot.shot_parameters()
    assert len(frames) == eval_shot.SHOT_FRAMES == 48
    held = [frames[f - 1] for f in eval_shot.HELD]
    assert all(f == held[0] for f in held) and frames[eval_shot.HELD.start - 2] != held[0]
    assert all(v == eval_shot.MEDIAN_LOOK for v in held[0]["appearance"])
    json.dumps(frames)


def test_one_chunk_end_to_end(tmp_path):
    from neural_core.contract.shot import read_shot
    from neural_core.contract.shot.passes import read_passes
    from PIL import Image
    from blender_addon.dataset.chunk import chunk_complete, make_chunk

    frames = frames_for_chunk(0, 0, 2)
    frames[1]["expression"]["jawOpen"] = 0.75
    folder = tmp_path / "chunk_00000"
    make_chunk(folder, frames, resolution=48, samples=1, log=lambda m: None, notes={"held_frames": [1, 2]})
    assert chunk_complete(folder)
    shot = read_shot(folder / "shot")
    assert [f.frame for f in shot.frames] == [1, 2]
    jaw = shot.coefficient_names.index("jawOpen")
    assert shot.frames[1].coefficients[jaw] == pytest.approx(0.75, abs=1e-5)
    identity = shot.coefficient_names.index("id_03")
    assert shot.frames[0].coefficients[identity] == pytest.approx(frames[0]["identity"]["id_03"], abs=1e-5)
    passes = read_passes(folder / "shot", 1)
    assert 0.02 < passes["mask"].mean() < 0.9
    for frame in (1, 2):
        image = np.asarray(Image.open(folder / "targets" / f"{frame:04d}.png"))
        assert image.shape == (48, 48, 3)
        assert image.std() > 5  # a face on a background, not a blank frame
    record = json.loads((folder / "frames.json").read_text())
    assert record["appearance_names"] == list(sampling.APPEARANCE) and record["frames"][1]["expression"]["jawOpen"] == 0.75
    assert record["held_frames"] == [1, 2]
    assert not [p.name for p in folder.iterdir() if p.name.startswith(".")]  # no temporary left
