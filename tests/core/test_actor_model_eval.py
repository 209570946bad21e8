"""The actor model's evaluation (neural_core/evaluation/actor_model.py, truth_shot.py, colour.py).

CIEDE2000 against the published test pairs; the skin colour, identity, mouth and verdict
measures on tiny arrays; the truth shot built from a tiny handmade truth in the synthetic
actor's format (its K, crop and landmarks agree, and the head posed as the build poses it
lands on the truth's landmarks). One Blender-marked test runs the whole evaluation on two
frames (build + worker render, no face analysis).
"""

import json
import subprocess
import sys

import numpy as np
import pytest

from neural_core.actor import rotations
from neural_core.actor.fit_shot import WORLD_TO_CAMERA, crop_box, joints
from neural_core.actor.head_model import NUM_FACE, load_head_model
from neural_core.contract.rig.arkit import ARKIT_52
from neural_core.contract.shot import read_shot
from neural_core.evaluation import actor_figures, actor_model
from neural_core.evaluation.colour import ciede2000, linear_to_lab, srgb_to_lab
from neural_core.evaluation.fitting import truth_head_to_camera
from neural_core.evaluation.truth_shot import crop_settings, make_truth_shot, write_truth_shot
from tests.conftest import ROOT

# G. Sharma, W. Wu, E. N. Dalal (2005), Table 1: L1 a1 b1, L2 a2 b2, CIEDE2000
SHARMA = np.array([
    [50.0000, 2.6772, -79.7751, 50.0000, 0.0000, -82.7485, 2.0425],
    [50.0000, 3.1571, -77.2803, 50.0000, 0.0000, -82.7485, 2.8615],
    [50.0000, 2.8361, -74.0200, 50.0000, 0.0000, -82.7485, 3.4412],
    [50.0000, -1.3802, -84.2814, 50.0000, 0.0000, -82.7485, 1.0000],
    [50.0000, -1.1848, -84.8006, 50.0000, 0.0000, -82.7485, 1.0000],
    [50.0000, -0.9009, -85.5211, 50.0000, 0.0000, -82.7485, 1.0000],
    [50.0000, 0.0000, 0.0000, 50.0000, -1.0000, 2.0000, 2.3669],
    [50.0000, -1.0000, 2.0000, 50.0000, 0.0000, 0.0000, 2.3669],
    [50.0000, 2.4900, -0.0010, 50.0000, -2.4900, 0.0009, 7.1792],
    [50.0000, 2.4900, -0.0010, 50.0000, -2.4900, 0.0010, 7.1792],
    [50.0000, 2.4900, -0.0010, 50.0000, -2.4900, 0.0011, 7.2195],
    [50.0000, 2.4900, -0.0010, 50.0000, -2.4900, 0.0012, 7.2195],
    [50.0000, -0.0010, 2.4900, 50.0000, 0.0009, -2.4900, 4.8045],
    [50.0000, -0.0010, 2.4900, 50.0000, 0.0010, -2.4900, 4.8045],
    [50.0000, -0.0010, 2.4900, 50.0000, 0.0011, -2.4900, 4.7461],
    [50.0000, 2.5000, 0.0000, 50.0000, 0.0000, -2.5000, 4.3065],
    [50.0000, 2.5000, 0.0000, 73.0000, 25.0000, -18.0000, 27.1492],
    [50.0000, 2.5000, 0.0000, 61.0000, -5.0000, 29.0000, 22.8977],
    [50.0000, 2.5000, 0.0000, 56.0000, -27.0000, -3.0000, 31.9030],
    [50.0000, 2.5000, 0.0000, 58.0000, 24.0000, 15.0000, 19.4535],
    [50.0000, 2.5000, 0.0000, 50.0000, 3.1736, 0.5854, 1.0000],
    [50.0000, 2.5000, 0.0000, 50.0000, 3.2972, 0.0000, 1.0000],
    [50.0000, 2.5000, 0.0000, 50.0000, 1.8634, 0.5757, 1.0000],
    [50.0000, 2.5000, 0.0000, 50.0000, 3.2592, 0.3350, 1.0000],
    [60.2574, -34.0099, 36.2677, 60.4626, -34.1751, 39.4387, 1.2644],
    [63.0109, -31.0961, -5.8663, 62.8187, -29.7946, -4.0864, 1.2630],
    [61.2901, 3.7196, -5.3901, 61.4292, 2.2480, -4.9620, 1.8731],
    [35.0831, -44.1164, 3.7933, 35.0232, -40.0716, 1.5901, 1.8645],
    [22.7233, 20.0904, -46.6940, 23.0331, 14.9730, -42.5619, 2.0373],
    [36.4612, 47.8580, 18.3852, 36.2715, 50.5065, 21.2231, 1.4146],
    [90.8027, -2.0831, 1.4410, 91.1528, -1.6435, 0.0447, 1.4441],
    [90.9257, -0.5406, -0.9208, 88.6381, -0.8985, -0.7239, 1.5381],
    [6.7747, -0.2908, -2.4247, 5.8714, -0.0985, -2.2286, 0.6377],
    [2.0776, 0.0795, -1.1350, 0.9033, -0.0636, -0.5514, 0.9082],
])


def test_ciede2000_matches_sharmas_published_test_pairs():
    found = ciede2000(SHARMA[:, 0:3], SHARMA[:, 3:6])
    assert np.abs(found - SHARMA[:, 6]).max() < 1e-4  # the table's 4 decimals
    assert np.allclose(ciede2000(SHARMA[:, 3:6], SHARMA[:, 0:3]), found, atol=1e-9)  # symmetric
    assert np.all(ciede2000(SHARMA[:, 0:3], SHARMA[:, 0:3]) == 0.0)


def test_srgb_to_lab_of_white_and_primary_red():
    assert np.allclose(srgb_to_lab([1.0, 1.0, 1.0]), [100.0, 0.0, 0.0], atol=1e-3)
    assert np.allclose(srgb_to_lab([1.0, 0.0, 0.0]), [53.2408, 80.0925, 67.2032], atol=1e-2)
    assert np.allclose(srgb_to_lab([0.0, 0.0, 0.0]), 0.0, atol=1e-9)


def test_colour_stability_is_each_frames_difference_to_the_median_colour():
    base = np.array([60.0, 15.0, 20.0])
    shifted = base + [0.0, 4.0, -3.0]
    labs = np.array([base, base, shifted, base, [np.nan] * 3])
    found = actor_figures.colour_stability(labs)
    assert np.allclose(found[[0, 1, 3]], 0.0)
    assert found[2] == pytest.approx(float(ciede2000(shifted, base)))
    assert np.isnan(found[4])


def _regions_image(size=24, inner=8):
    """A skin square (region value 1) of side ``size - 2 * 4`` on a lips background (2); its
    one-pixel rim coloured differently from its core."""
    regions = np.full((size, size), 2.0, np.float32)
    regions[4:-4, 4:-4] = 1.0
    image = np.zeros((size, size, 3), np.uint8)
    image[...] = (200, 40, 40)  # lips
    image[4:-4, 4:-4] = (20, 200, 20)  # skin rim
    image[5:-5, 5:-5] = (180, 130, 110)  # skin core
    return image, regions, (regions >= 0).astype(np.float32)


def test_skin_colour_is_the_linear_mean_over_the_eroded_skin_pixels():
    image, regions, mask = _regions_image()
    core = srgb_to_lab(np.array([180, 130, 110]) / 255.0)
    assert np.allclose(actor_figures.skin_lab(image, regions, mask, erode=2), core, atol=1e-9)
    assert not np.allclose(actor_figures.skin_lab(image, regions, mask, erode=0), core, atol=1.0)  # the rim counts
    # half the skin black, half white: the mean is taken in linear light (0.5), not of the sRGB codes
    image[4:-4, 4:12] = 0
    image[4:-4, 12:-4] = 255
    assert np.allclose(actor_figures.skin_lab(image, regions, mask, erode=0), linear_to_lab([0.5, 0.5, 0.5]), atol=1e-9)
    mask[:] = 0.0
    assert np.isnan(actor_figures.skin_lab(image, regions, mask)).all()


def test_identity_pairs_skip_missing_faces_and_mouth_response_follows_the_lips():
    a, b = np.zeros(128), np.full(128, 0.1)
    found = actor_figures.paired_distances([a, None, a], [b, b, a])
    assert found[0] == pytest.approx(np.sqrt(128) * 0.1) and np.isnan(found[1]) and found[2] == 0.0
    marks, jaw = [], [0.1, 0.5, 0.9, 0.3, 0.7]
    for j in jaw:
        points = np.zeros((468, 2))
        points[[33, 133]] = [[0, 0], [20, 0]]
        points[[362, 263]] = [[40, 0], [60, 0]]  # IOD 40
        points[14] = [30, 10 + 20 * j]
        points[13] = [30, 10]
        marks.append(points.tolist())
    assert actor_figures.mouth_response(marks + [None], jaw + [0.0]) == pytest.approx(1.0)
    assert np.isnan(actor_figures.mouth_response(marks[:2], jaw[:2]))  # fewer than 3 faces


def test_the_renders_with_fitted_looks_get_their_own_face_figures():
    """MediaPipe's and dlib's figures of the fitted-look renders, under their own names."""
    from types import SimpleNamespace

    frames = 3
    rig = np.zeros((468, 2))
    rig[[33, 133, 362, 263]] = [[0, 0], [20, 0], [40, 0], [60, 0]]  # IOD 40
    records = [SimpleNamespace(landmarks=rig.tolist()) for _ in range(frames)]
    data = SimpleNamespace(records=records, jaw=[0.1, 0.5, 0.9])  # only what the face figures read
    analysis = {}
    for i, jaw in enumerate(data.jaw):
        marks = rig + 2.0  # 2 px off diagonally: sqrt(8) / 40 of the IOD
        marks[13], marks[14] = [30, 0], [30, 20 * jaw]  # the inner lips open with the jaw
        analysis[f"crop_{i:04d}.png"] = {"landmarks": rig.tolist(), "embedding": [0.0] * 128}
        analysis[f"{actor_model.FITTED}_{i:04d}.png"] = {"landmarks": marks.tolist(), "embedding": [0.05] * 128}
    figures = actor_model.fitted_look_faces(frames, data, analysis)
    assert set(figures) == {f"{key}_fitted_look" for key in ("landmark_error_pct_iod", "faces_found", "mouth_jaw_r",
                                                              "identity_distance", "identity_pairs")}
    assert figures["landmark_error_pct_iod_fitted_look"] == pytest.approx(100 * np.sqrt(8) / 40)
    assert figures["identity_distance_fitted_look"] == pytest.approx(0.05 * np.sqrt(128))
    assert figures["mouth_jaw_r_fitted_look"] == pytest.approx(1.0)
    assert figures["faces_found_fitted_look"] == figures["identity_pairs_fitted_look"] == frames
    assert actor_model.fitted_look_faces(frames, data, None) == {}  # no face analysis


def test_verdicts_compare_with_the_floor_and_the_default_model():
    actor = {"psnr_db": 23.0, "skin_colour_de2000_max": 3.5, "landmark_error_pct_iod": 5.9, "mouth_jaw_r": 0.92,
             "identity_distance": 0.28, "faces_found": 64}
    floor = {"landmark_error_pct_iod": 5.5, "mouth_jaw_r": 0.97}
    found = actor_figures.verdicts(actor, {"identity_distance": 0.25}, floor)
    assert found["psnr_db"]["met"] is True and found["skin_colour_de2000_max"]["met"] is False
    assert found["landmark_above_floor_pct_iod"]["value"] == pytest.approx(0.4) and found["landmark_above_floor_pct_iod"]["met"]
    assert found["mouth_jaw_r"]["met"] is True
    assert found["identity_distance"]["met"] is False  # under 0.3 but not below the default model's
    assert actor_figures.verdicts({**actor, "mouth_jaw_r": float("nan")}, None, floor)["mouth_jaw_r"]["met"] is None
    nothing = {**actor, "faces_found": 0, "landmark_error_pct_iod": float("nan"), "mouth_jaw_r": float("nan"),
               "identity_distance": float("nan")}
    found = actor_figures.verdicts(nothing, None, floor)  # no face in any output: failed, not unmeasured
    assert [found[k]["met"] for k in ("landmark_above_floor_pct_iod", "mouth_jaw_r", "identity_distance")] == [False] * 3
    assert "landmark_above_floor_pct_iod" not in actor_figures.verdicts({"psnr_db": 1.0, "skin_colour_de2000_max": 1.0}, None, floor)


def test_the_actor_models_renders_take_the_chosen_look_and_the_default_model_its_median(monkeypatch, tmp_path):
    commands = []
    monkeypatch.setattr(actor_model, "run_logged", lambda command, *rest: commands.append(command))
    looks = {"mean": ["--appearance", "mean"], "typical": ["--appearance", "typical"], "frame:12": ["--appearance", "frame:12"]}
    for look, options in looks.items():
        settings = actor_model.Settings(synthetic_actor=tmp_path, work=tmp_path, appearance=look)
        for name in ("actor", "actor_stabilised", "default"):
            commands.clear()
            actor_model.render(settings, tmp_path / "build", name, "m.safetensors")
            command = commands[0]
            at = command.index("--model") + 2
            assert command[at:at + 2] == (options if name.startswith("actor") else ["--appearance", "mean"]), (look, name)


def test_the_command_refuses_a_bad_look_before_any_work(tmp_path):
    done = subprocess.run([sys.executable, str(ROOT / "tools" / "evaluate_actor_model.py"), "--appearance", "brightest",
                           "--work", str(tmp_path / "work")], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert done.returncode == 2 and "bad appearance 'brightest'" in done.stderr
    assert not (tmp_path / "work").exists()


def test_the_figures_are_strict_json():
    found = actor_figures.plain({"a": float("nan"), "b": [np.float32(0.5), np.int64(3)], "c": (True, "x")})
    assert json.dumps(found, allow_nan=False) == '{"a": null, "b": [0.5, 3], "c": [true, "x"]}'


def test_outputs_over_grey_and_the_contact_sheet(tmp_path):
    rgba = np.array([[[255, 0, 0, 255], [255, 0, 0, 0], [0, 0, 255, 128]]], np.uint8)
    assert actor_model.over_grey(rgba).tolist() == [[[255, 0, 0], [128, 128, 128], [64, 64, 192]]]
    columns = [np.full((10, 16, 16, 3), c, np.uint8) for c in (0, 100, 200)]
    path = actor_model.contact_sheet(tmp_path / "sheet.png", columns, ["a", "b", "c"], frames=8)
    from PIL import Image

    with Image.open(path) as sheet:
        assert sheet.size == (3 * actor_model.THUMB, 18 + 8 * actor_model.THUMB)
        assert sheet.getpixel((actor_model.THUMB + 5, 18 + 5)) == (100, 100, 100)


# -- the truth shot ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def model():
    return load_head_model()


def handmade_actor(root, model, frames=2, size=384):
    """A synthetic actor folder in the real one's format: truth/actor.json, truth/held_out/
    ####.json (landmarks projected with the head model, as Blender's truth reader does) and
    the photos (noise, a white dot at the nose tip's landmark 1)."""
    from PIL import Image

    rng = np.random.default_rng(5)
    identity = {name: float(v) for name, v in zip(model.identity_names, rng.uniform(-0.5, 0.5, model.num_identity))}
    (root / "truth" / "held_out").mkdir(parents=True)
    (root / "held_out").mkdir()
    (root / "truth" / "actor.json").write_text(json.dumps({"identity": identity, "appearance": {}}))
    K = np.array([[900.0, 0.0, size / 2], [0.0, 900.0, size / 2], [0.0, 0.0, 1.0]])
    truths = []
    for number in range(1, frames + 1):
        expression = {"jawOpen": 0.2 * number, "eyeBlinkLeft": 0.5, "mouthSmileRight": 0.3}
        gaze = [0.1, -0.05, 0.1, -0.05]
        pose = {"neck": [0.05 * number, 0.1, 0.02], "head": [0.1, -0.15 * number, 0.05], "jaw": [0.06 * number, 0.0, 0.0],
                "eye.L": [gaze[0], 0.0, gaze[1]], "eye.R": [gaze[2], 0.0, gaze[3]]}
        head_frame = np.eye(4)
        head_frame[:3, :3] = rotations.axis_angle([0.05, 0.1 * number, -0.05]) @ WORLD_TO_CAMERA[:3, :3]
        head_frame[:3, 3] = [0.01 * number, 0.2, 0.8]
        values = np.array([identity[n] for n in model.identity_names])
        local = model.landmarks(values, np.array([expression.get(n, 0.0) for n in model.expression_names]),
                                {b: np.array(a) for b, a in pose.items()})
        camera = local @ head_frame[:3, :3].T + head_frame[:3, 3]
        landmarks = (camera @ K.T)[:, :2] / camera[:, 2:3]
        truth = {"split": "held_out", "frame": number, "image": f"held_out/{number:04d}.png", "expression": expression,
                 "pose": pose, "gaze": gaze, "camera": {"K": K.tolist(), "world_to_camera": head_frame.tolist()},
                 "head_frame_to_camera": head_frame.tolist(), "landmarks": landmarks.tolist()}
        (root / "truth" / "held_out" / f"{number:04d}.json").write_text(json.dumps(truth))
        photo = rng.integers(0, 60, (size, size, 3), dtype=np.uint8)
        x, y = np.round(landmarks[1] - 0.5).astype(int)  # the pixel whose centre is nearest
        photo[y - 1 : y + 2, x - 1 : x + 2] = 255
        Image.fromarray(photo).save(root / "held_out" / f"{number:04d}.png")
        truths.append(truth)
    return identity, truths


def test_the_truth_shot_has_the_fits_conventions_and_its_K_projects_onto_its_landmarks(model, tmp_path):
    identity, truths = handmade_actor(tmp_path / "actor", model)
    made = make_truth_shot(tmp_path / "actor", "held_out", model, crop_size=512, crop_scale=1.6)
    shot = made.shot
    assert shot.coefficient_names == list(model.identity_names) + list(ARKIT_52) and shot.resolution == (512, 512)
    for record, box, truth in zip(shot.frames, made.boxes, truths):
        photo_points = np.asarray(truth["landmarks"])[:NUM_FACE]
        assert box == crop_box(photo_points, 512, 1.6)  # the fit's crop rule
        assert np.allclose(record.landmarks, (photo_points - (box.x0, box.y0)) * box.size / box.side)
        # K of the crop projects the truth's camera-space points onto the crop's landmarks
        pose = {b: np.array(a) for b, a in truth["pose"].items()}
        values = np.array([identity[n] for n in model.identity_names])
        local = model.landmarks(values, record.coefficients[len(values):], pose)[:NUM_FACE]
        frame = np.asarray(truth["head_frame_to_camera"])
        camera = local @ frame[:3, :3].T + frame[:3, 3]
        assert np.abs((camera @ record.K.T)[:, :2] / camera[:, 2:3] - record.landmarks).max() < 1e-6
        # the head as the build poses it (head bone at rest, neck/jaw/eyes from the joints,
        # placed by head_camera) lands on the truth's landmarks: face points ride the head bone
        at_rest = {**pose, "head": np.zeros(3)}
        rot, trans = model.bone_transforms(np.array([at_rest[b] for b in model.bone_names])[None])
        head = model.bone_names.index("head")
        bone = np.eye(4)
        bone[:3, :3], bone[:3, 3] = rot[0, head], trans[0, head]
        placed = record.head_camera.matrix() @ np.linalg.inv(bone)
        posed = model.landmarks(values, record.coefficients[len(values):], at_rest)[:NUM_FACE] @ placed[:3, :3].T + placed[:3, 3]
        offsets = np.linalg.norm((posed @ record.K.T)[:, :2] / posed[:, 2:3] - record.landmarks, axis=1)
        assert np.median(offsets) < 1e-6
        assert np.allclose(record.world_to_camera, WORLD_TO_CAMERA)
        assert np.allclose(record.head_world.matrix(), np.linalg.inv(WORLD_TO_CAMERA) @ record.head_camera.matrix())
        for side in ("eye.L", "eye.R"):  # the fit's eye convention
            assert np.allclose(record.joints[side], joints(truth["gaze"])[side])
        assert np.allclose(record.joints["jaw"], rotations.euler_xyz(np.array(truth["pose"]["jaw"])))
        assert record.coefficients[len(values) + ARKIT_52.index("jawOpen")] == truth["expression"]["jawOpen"]


def test_the_written_truth_shot_reads_back_and_its_crops_show_the_photo_where_K_says(model, tmp_path):
    from PIL import Image

    handmade_actor(tmp_path / "actor", model)
    made = make_truth_shot(tmp_path / "actor", "held_out", model, crop_size=256, crop_scale=1.6, limit=1)
    shot_folder, crops = write_truth_shot(tmp_path / "truth", made)
    back = read_shot(shot_folder, check_passes=False)
    assert [r.frame for r in back.frames] == [1] and np.allclose(back.frames[0].K, made.shot.frames[0].K)
    with Image.open(crops / "0001.png") as image:
        crop = np.asarray(image.convert("L"), dtype=np.float64)
    assert crop.shape == (256, 256)
    bright = np.argwhere(crop > 150)
    centre = bright.mean(0)[::-1] + 0.5  # pixel centres, (x, y)
    assert np.linalg.norm(centre - made.shot.frames[0].landmarks[1]) < 1.5  # within the dot's rounding


def test_crop_settings_come_from_the_actor_folder(tmp_path):
    assert crop_settings(None) == {"crop_size": 512, "crop_scale": 1.6}
    (tmp_path / "actor.json").write_text(json.dumps({"settings": {"crop_size": 384, "build_resolution": 256}}))
    assert crop_settings(tmp_path) == {"crop_size": 384, "crop_scale": 1.6}
    with pytest.raises(FileNotFoundError, match="actor.json"):
        crop_settings(tmp_path / "missing")


@pytest.mark.skipif(not (ROOT / "data" / "synthetic_actor" / "truth" / "held_out").is_dir(), reason="no synthetic actor in data/")
def test_head_placement_agrees_with_blenders_head_to_camera_on_the_synthetic_actor(model):
    made = make_truth_shot(ROOT / "data" / "synthetic_actor", "held_out", model, limit=6)
    for record, truth in zip(made.shot.frames, made.truths):
        assert np.abs(record.head_camera.matrix() - np.asarray(truth["head_to_camera"])).max() < 1e-5
        rotation, _ = truth_head_to_camera(model, truth)
        assert np.allclose(record.head_camera.rotation, rotation)


@pytest.mark.blender
@pytest.mark.slow
def test_the_whole_evaluation_runs_on_two_handmade_frames(model, tmp_path):
    """Build (Blender, in a subprocess) + the worker with the default model; no face analysis."""
    handmade_actor(tmp_path / "actor", model)
    script = ROOT / "tools" / "evaluate_actor_model.py"
    bundled = ROOT / "neural_core" / "models" / "default.safetensors"  # stands in for an actor model
    done = subprocess.run([sys.executable, str(script), "--synthetic-actor", str(tmp_path / "actor"), "--model", str(bundled),
                           "--actor", str(tmp_path / "no_actor"), "--work", str(tmp_path / "work"), "--json",
                           str(tmp_path / "figures.json"), "--contact-sheet", str(tmp_path / "sheet.png"), "--no-analysis",
                           "--no-appearance-fit"],
                          capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    figures = json.loads((tmp_path / "figures.json").read_text())
    assert figures["frames"] == 2 and figures["resolution"] == 256 and figures["face_analysis"] is False
    assert figures["truth_shot_landmark_offset_px"] < 0.01  # the build posed the truth
    assert 5.0 < figures["default"]["psnr_db"] < 60.0 and "targets" in figures
    assert set(figures["model_info"]) == {"actor", "default"}
    # the same model rendered with the colour stabiliser: its skin colour figures beside the plain ones
    assert figures["actor"]["skin_colour_de2000_max_stabilised"] >= 0.0
    assert (tmp_path / "work" / "renders" / "actor_stabilised").is_dir()
    # and with its brightness mode (two frames: both hold the reference's brightness, within 8-bit rounding)
    assert 0.0 <= figures["actor"]["skin_colour_de2000_max_stabilised_brightness"] < 1.0
    assert 5.0 < figures["actor"]["psnr_db_stabilised_brightness"] < 60.0
    assert (tmp_path / "work" / "renders" / "actor_steady").is_dir()
    assert (tmp_path / "sheet.png").is_file()
