"""blender_addon/dataset/relit_actor.py with neural_core/evaluation/one_look.py: the synthetic
actor's stills rendered again under one light set each, for real (tiny Cycles renders),
and cropped as the evaluation crops the photos."""

import json

import numpy as np
import pytest
from PIL import Image

from blender_addon.core_link import NeuralFaceError
from blender_addon.dataset.actor_samples import target_image
from blender_addon.dataset.relit_actor import CENTRE, light_sets, relight
from blender_addon.dataset.synthetic_actor import image_path, make_synthetic_actor, truth_path
from neural_core.actor.head_model import load_head_model
from neural_core.evaluation.one_look import relit_names, relit_targets
from neural_core.evaluation.truth_shot import make_truth_shot, write_truth_shot

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def actor(tmp_path_factory):
    out = tmp_path_factory.mktemp("relit") / "actor"
    make_synthetic_actor(out, train=0, held_out=2, video_frames=0, seed=3, samples=1, resolution=96, log=lambda m: None)
    return out


def test_each_light_set_lights_every_frame_and_own_reproduces_the_photos(actor, tmp_path):
    out = tmp_path / "relit"
    assert relight(actor, out, draws=2, log=lambda m: None) == 2 * 4
    assert relit_names(out) == ["own", "centre", "draw_0", "draw_1"]
    assert json.loads((out / "lights.json").read_text()) == light_sets(3, 2)
    for number in (1, 2):
        source = np.asarray(Image.open(image_path(actor, "held_out", number)))
        own = np.asarray(Image.open(out / "own" / "held_out" / f"{number:04d}.png"))
        np.testing.assert_array_equal(own, source)  # same frame, same light: the same render
        centre = np.asarray(Image.open(out / "centre" / "held_out" / f"{number:04d}.png"))
        assert np.abs(centre.astype(int) - source).max() > 20  # another light
        truth = json.loads(truth_path(actor, "held_out", number).read_text())
        relit_truth = json.loads((out / "centre" / "truth" / "held_out" / f"{number:04d}.json").read_text())
        assert relit_truth["lights"] == CENTRE and relit_truth["landmarks"] == truth["landmarks"]
    draws = [json.loads((out / f"draw_{k}" / "truth" / "held_out" / "0001.json").read_text())["lights"] for k in (0, 1)]
    assert draws[0] != draws[1] != CENTRE
    assert not [p for p in out.rglob("*") if p.name.startswith(".")]  # no temporaries left
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*.png")}
    assert relight(actor, out, draws=2, log=lambda m: None) == 0
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*.png")} == before


def test_the_relit_frames_are_cropped_as_the_evaluation_crops_the_photos(actor, tmp_path):
    out = tmp_path / "relit"
    relight(actor, out, draws=0, limit=1, log=lambda m: None)
    model = load_head_model()
    _, crops = write_truth_shot(tmp_path / "truth", make_truth_shot(actor, "held_out", model, 64, 1.6, limit=1))
    expected = np.asarray(target_image(crops / "0001.png", (32, 32)))
    np.testing.assert_array_equal(relit_targets(out, "own", "held_out", 1, 32, 64, 1.6)[0], expected)
    with pytest.raises(ValueError, match="the build has 2"):
        relit_targets(out, "own", "held_out", 2, 32, 64, 1.6)


def test_only_a_synthetic_actors_stills_are_relit(actor, tmp_path):
    with pytest.raises(NeuralFaceError, match="stills only"):
        relight(actor, tmp_path / "relit", split="video", log=lambda m: None)
    with pytest.raises(NeuralFaceError, match="not a synthetic actor"):
        relight(tmp_path, tmp_path / "relit", log=lambda m: None)


def test_the_tool_measures_each_light_against_the_evaluations_build(actor, tmp_path):
    """tools/evaluate_actor_model.py builds the truth shot (default model only), then
    tools/one_look_bound.py relights, crops and measures; both in subprocesses, no face analysis."""
    import subprocess
    import sys

    from tests.conftest import ROOT

    pytest.importorskip("torch")  # the evaluation's build reads the model's resolution (the 5.0.1 test venv has no torch)

    work = tmp_path / "work"
    done = subprocess.run([sys.executable, str(ROOT / "tools" / "evaluate_actor_model.py"), "--synthetic-actor", str(actor),
                           "--model", "none", "--actor", str(tmp_path / "no_actor"), "--work", str(work), "--no-analysis"],
                          capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    done = subprocess.run([sys.executable, str(ROOT / "tools" / "one_look_bound.py"), "--synthetic-actor", str(actor),
                           "--eval-work", str(work), "--actor", str(tmp_path / "no_actor"), "--out", str(tmp_path / "relit"),
                           "--draws", "2", "--no-analysis", "--json", str(tmp_path / "bound.json")],
                          capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    bound = json.loads((tmp_path / "bound.json").read_text())
    assert bound["frames"] == 2 and bound["resolution"] == 256
    assert set(bound["sets"]) == {"own", "centre", "draw_0", "draw_1", "draw_mean"}
    assert bound["sets"]["own"]["psnr_db"] >= 99.0  # its own light: the photo's crop exactly
    assert all(5.0 < f["psnr_db"] < 60.0 for name, f in bound["sets"].items() if name != "own")
    assert bound["best_single_light"] in {"centre", "draw_0", "draw_1"} and "mouth_jaw_r" not in bound["sets"]["centre"]
