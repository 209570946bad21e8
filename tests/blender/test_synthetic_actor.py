"""blender_addon/dataset/synthetic_actor.py: the synthetic actor's parameters, three frames
rendered for real with their ground truth, resume, and the truth's agreement with the render."""

import copy
import json
import math

import numpy as np
import pytest
from PIL import Image

from blender_addon.core_link import NeuralFaceError, arkit
from blender_addon.dataset import performance
from blender_addon.dataset.synthetic_actor import Stage, encode_video, image_path, make_synthetic_actor, truth_path
from blender_addon.head.identity import identity_names


def test_the_actor_and_its_frames_are_reproducible_and_in_range():
    actor = performance.actor(5, identity_names())
    assert actor == performance.actor(5, identity_names()) and actor != performance.actor(6, identity_names())
    assert len(actor["identity"]) == 28 and all(-1.0 <= v <= 1.0 for v in actor["identity"].values())
    frames = [performance.still_frame(5, "train", i, arkit.ARKIT_52) for i in range(200)]
    assert frames[3] == performance.still_frame(5, "train", 3, arkit.ARKIT_52)
    assert frames[3] != performance.still_frame(5, "held_out", 3, arkit.ARKIT_52)
    yaw = np.array([f["pose"]["neck"][1] + f["pose"]["head"][1] for f in frames])
    assert np.abs(yaw).max() <= math.radians(45) + 1e-9 and np.abs(yaw).max() > math.radians(30)
    blinks = [f["expression"]["eyeBlinkLeft"] > 0.5 and f["expression"]["eyeBlinkRight"] > 0.5 for f in frames]
    assert 0.1 < np.mean(blinks) < 0.6  # both eyes close together in some frames, not most
    assert len({f["plate"]["kind"] for f in frames}) == len(performance.PLATE_KINDS)
    json.dumps(frames)


def test_the_video_is_continuous_with_a_static_stretch():
    frames = performance.video_frames(5, arkit.ARKIT_52)
    assert len(frames) == 48
    first, last = performance.VIDEO_STATIC
    assert last - first + 1 >= 12
    assert all(frames[i] == frames[first - 1] for i in range(first - 1, last))
    assert frames[first - 2] != frames[first - 1] and frames[last] != frames[last - 1]
    jaw = np.array([f["expression"]["jawOpen"] for f in frames])
    yaw = np.array([f["pose"]["head"][1] for f in frames])
    assert np.abs(np.diff(yaw)).max() < math.radians(5)  # no jumps between frames
    assert jaw.max() > 0.6 and max(f["expression"]["eyeBlinkLeft"] for f in frames) == 1.0


def test_three_frames_with_their_truth_and_a_rerun_renders_nothing(tmp_path):
    out = tmp_path / "actor"
    log = []
    made = make_synthetic_actor(out, train=1, held_out=1, video_frames=1, seed=3, samples=1, resolution=64, log=log.append)
    assert made == 3
    for split in ("train", "held_out", "video"):
        image = Image.open(image_path(out, split, 1))
        assert image.mode == "RGB" and image.size == (64, 64)  # no alpha, like a photo
        assert np.asarray(image).std() > 5
        truth = json.loads(truth_path(out, split, 1).read_text())
        landmarks = np.array(truth["landmarks"])
        assert landmarks.shape == (478, 2) and len(truth["expression"]) == 52
        seen = np.array(truth["landmark_visible"])
        assert seen.mean() > 0.4
        assert ((landmarks[seen] >= 0) & (landmarks[seen] <= 64)).all()
        assert (np.array(truth["landmark_depth"]) > 0).all()
        K = np.array(truth["camera"]["K"])
        assert K[0, 2] == pytest.approx(32.0) and K[0, 0] > 0
        arrays = np.load(out / "truth" / f"{split}.npz")
        assert arrays["landmarks"].shape == (1, 478, 2) and arrays["expression"].shape == (1, 52)
    actor = json.loads((out / "truth" / "actor.json").read_text())
    assert sorted(actor["identity"]) == list(identity_names())
    try:
        import av
    except ImportError:  # the video stays as PNG frames, and the log says so
        assert not (out / "video" / "video.mp4").exists() and any("PyAV" in line for line in log)
    else:
        with av.open(str(out / "video" / "video.mp4")) as container:
            decoded = [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]
        assert len(decoded) == 1 and decoded[0].shape == (64, 64, 3)
    assert not [p for p in out.rglob("*") if p.name.startswith(".")]  # no temporaries left

    before = {p: p.stat().st_mtime_ns for p in out.rglob("*.png")}
    assert make_synthetic_actor(out, train=1, held_out=1, video_frames=1, seed=3, samples=1, resolution=64, log=lambda m: None) == 0
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*.png")} == before
    with pytest.raises(NeuralFaceError, match="made with"):
        make_synthetic_actor(out, train=1, held_out=1, video_frames=1, seed=4, samples=1, resolution=64, log=lambda m: None)


def test_a_missing_frame_is_made_again_identically(tmp_path):
    out = tmp_path / "actor"
    make_synthetic_actor(out, train=2, held_out=0, video_frames=0, seed=3, samples=1, resolution=48, log=lambda m: None)
    path = image_path(out, "train", 2)
    first = np.asarray(Image.open(path))
    path.unlink()
    assert make_synthetic_actor(out, train=2, held_out=0, video_frames=0, seed=3, samples=1, resolution=48, log=lambda m: None) == 1
    np.testing.assert_array_equal(np.asarray(Image.open(path)), first)


def _frontal(params, blink):
    params = copy.deepcopy(params)
    params["expression"] = dict.fromkeys(arkit.ARKIT_52, 0.0)
    params["expression"].update(eyeBlinkLeft=blink, eyeBlinkRight=blink)
    params["pose"] = {bone: (0.0, 0.0, 0.0) for bone in params["pose"]}
    params["camera"].update(yaw=0.0, pitch=0.0, roll=0.0, offset=(0.0, 0.0))
    return params


def test_the_truth_lands_on_the_rendered_head_and_knows_closed_eyes(tmp_path):
    actor = performance.actor(3, identity_names())
    stage = Stage(actor, resolution=96, samples=1)
    params = performance.still_frame(3, "train", 0, arkit.ARKIT_52)
    stage.pose(params)
    truth = stage.read_truth()
    alpha = stage.render(tmp_path / "r.png")[..., 3]
    pixels = np.floor(truth["landmarks"][truth["landmark_visible"]]).astype(int)
    assert (alpha[pixels[:, 1], pixels[:, 0]] > 0).mean() > 0.97  # (x, y) = (column, row)
    iris_centres = [468, 473]
    stage.pose(_frontal(params, blink=0.0))
    assert stage.read_truth()["landmark_visible"][iris_centres].all()
    stage.pose(_frontal(params, blink=1.0))
    assert not stage.read_truth()["landmark_visible"][iris_centres].any()  # behind the closed lids


def test_a_split_is_finished_as_soon_as_its_last_frame_is_there(tmp_path):
    # a long run stopped in the training frames still leaves the held-out truth stacked
    out = tmp_path / "actor"

    def stop_in_train(line):
        if line.startswith("train 1/"):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        make_synthetic_actor(out, train=2, held_out=1, video_frames=0, seed=3, samples=1, resolution=48, log=stop_in_train)
    assert np.load(out / "truth" / "held_out.npz")["landmarks"].shape == (1, 478, 2)
    assert image_path(out, "train", 1).is_file() and not (out / "truth" / "train.npz").exists()


def test_the_video_holds_every_frame_in_order(tmp_path):
    av = pytest.importorskip("av")  # requirements/actor.txt; without it the frames stay PNGs
    shades = (30, 120, 210)
    for number, shade in enumerate(shades, start=1):
        path = image_path(tmp_path, "video", number)
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.full((32, 48, 3), shade, np.uint8)).save(path)
    assert encode_video(tmp_path, len(shades), log=lambda m: None)
    with av.open(str(tmp_path / "video" / "video.mp4")) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    assert [f.shape for f in frames] == [(32, 48, 3)] * 3
    np.testing.assert_allclose([f.mean() for f in frames], shades, atol=3)


def test_a_look_override_changes_the_render_and_is_kept_in_the_recipe(tmp_path):
    options = dict(train=1, held_out=0, video_frames=0, seed=3, samples=1, resolution=48, log=lambda m: None)
    make_synthetic_actor(tmp_path / "plain", **options)
    make_synthetic_actor(tmp_path / "dark", appearance={"hair_darkness": 1.0, "skin_tone": 0.0}, **options)
    plain, dark = (json.loads((tmp_path / name / "truth" / "actor.json").read_text()) for name in ("plain", "dark"))
    assert plain["identity"] == dark["identity"]  # the same person
    assert dark["appearance"]["hair_darkness"] == 1.0 and dark["appearance"]["skin_tone"] == 0.0
    assert plain["appearance"]["ambient"] == dark["appearance"]["ambient"]  # the rest of the look stays the seed's
    recipe = json.loads((tmp_path / "dark" / "truth" / "recipe.json").read_text())
    assert recipe["appearance"] == {"hair_darkness": 1.0, "skin_tone": 0.0}
    images = [np.asarray(Image.open(image_path(tmp_path / name, "train", 1)), dtype=float) for name in ("plain", "dark")]
    assert np.abs(images[0] - images[1]).mean() > 1.0
    with pytest.raises(NeuralFaceError, match="holds a synthetic actor made with"):  # the folder's look cannot change under it
        make_synthetic_actor(tmp_path / "dark", **options)
    with pytest.raises(NeuralFaceError, match="unknown appearance name.*hair_colour"):
        make_synthetic_actor(tmp_path / "other", appearance={"hair_colour": 0.5}, **options)
    with pytest.raises(NeuralFaceError, match=r"\[0, 1\]"):
        make_synthetic_actor(tmp_path / "other", appearance={"hair_darkness": 2.0}, **options)
