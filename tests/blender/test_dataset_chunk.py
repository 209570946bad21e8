"""tools/make_dataset.py: reproducible frame parameters and one tiny chunk rendered for real."""

import json

import numpy as np
import pytest

from tools.dataset import sampling
from tools.make_dataset import frames_for_chunk

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


def test_appearance_latent_is_the_probit():
    np.testing.assert_allclose(sampling.appearance_latent([0.5, 0.8413447]), [0.0, 1.0], atol=1e-4)


def test_one_chunk_end_to_end(tmp_path):
    from neural_core.contract.shot import read_shot
    from neural_core.contract.shot.passes import read_passes
    from PIL import Image
    from tools.dataset.scene import chunk_complete, make_chunk

    frames = frames_for_chunk(0, 0, 2)
    frames[1]["expression"]["jawOpen"] = 0.75
    folder = tmp_path / "chunk_00000"
    make_chunk(folder, frames, resolution=48, samples=1, log=lambda m: None)
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
