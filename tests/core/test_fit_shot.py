"""neural_core.actor.fit_shot: an actor fit as a shot folder v1 plus aligned crops.

The fit runs on landmarks made with the head model itself (no MediaPipe, no calibration),
so the fitted projection is known.
"""

import json
import struct

import numpy as np
import pytest

from neural_core.actor import rotations
from neural_core.actor.fit import ActorFit, FitSettings, FrameFit, fit_actor
from neural_core.actor.fit_shot import (WORLD_TO_CAMERA, CropBox, crop_box, crop_image, make_fit_shot, projected_vertices,
                                        write_crop, write_fit_shot)
from neural_core.actor.head_model import load_head_model
from neural_core.actor.linear_head import gaze_pose
from neural_core.actor.problems import FRONTAL, interocular
from neural_core.contract.rig import profiles
from neural_core.contract.rig.arkit import ARKIT_52
from neural_core.contract.shot import read_shot
from tests.conftest import ROOT


@pytest.fixture(scope="module")
def model():
    return load_head_model()


def synthetic_frames(model, count=4, seed=3):
    """Truth and [478, 2] pixel landmarks of ``count`` photos (640 x 480) of one identity."""
    rng = np.random.default_rng(seed)
    identity = rng.uniform(-0.4, 0.4, model.num_identity)
    names = list(model.expression_names)
    truth, detections = [], []
    for i in range(count):
        expression = np.zeros(model.num_expression)
        expression[names.index("jawOpen")] = 0.1 * i
        expression[names.index("mouthSmileLeft")] = 0.3
        rotation = rng.normal(0.0, 0.12, 3)
        translation = np.array([0.01 * i, 0.12, 0.55 + 0.02 * i])
        gaze = np.zeros(4)
        pose = {bone: angles[0] for bone, angles in gaze_pose(gaze[None]).items()}
        local = model.landmarks(identity, expression, pose)
        camera = local @ (rotations.axis_angle(rotation) @ FRONTAL).T + translation
        focal = 700.0
        detections.append(focal * camera[:, :2] / camera[:, 2:3] + (320.0, 240.0))
        truth.append(dict(expression=expression, rotation=rotation, translation=translation))
    return identity, truth, detections


@pytest.fixture(scope="module")
def fitted(model):
    identity, truth, detections = synthetic_frames(model)
    fit = fit_actor(detections, [(640, 480)] * len(detections), FitSettings(), focal_hints=[700.0] * len(detections),
                    model=model, calibration=None)
    return fit, detections


def test_shot_landmarks_are_the_fitted_projection_in_crop_pixels(model, fitted, tmp_path):
    fit, detections = fitted
    result = make_fit_shot(fit, model, crop_size=256, crop_scale=1.5)
    write_fit_shot(tmp_path / "shot", result)  # the contract's writer validates
    shot = read_shot(tmp_path / "shot")
    assert shot.frame_numbers() == [1, 2, 3, 4] and shot.resolution == (256, 256) and shot.passes == {}
    for record, index, box in zip(shot.frames, result.inputs, result.crops):
        frame = fit.frames[index]
        assert frame.converged and frame.residual < 1.0  # the fit reproduces synthetic landmarks (priors aside)
        photo_px = projected_vertices(model, fit.identity, frame)
        # the shot's landmarks are the fitted projection, moved into the crop
        np.testing.assert_allclose(record.landmarks, box.to_crop(photo_px[:468]), atol=1e-9)
        # and close to the landmarks the fit was given (1% of the inter-ocular distance)
        given = box.to_crop(detections[index])
        assert np.median(np.linalg.norm(given[:468] - record.landmarks, axis=1)) < 0.01 * interocular(given)
        # K of the crop maps the head (head_camera) onto the crop's landmarks
        pose = {bone: angles[0] for bone, angles in gaze_pose(frame.gaze[None]).items()}
        local = model.landmarks(fit.identity, frame.expression, pose)[:468]
        camera = local @ record.head_camera.rotation.T + record.head_camera.translation
        projected = camera @ record.K.T
        np.testing.assert_allclose(projected[:, :2] / projected[:, 2:3], record.landmarks, atol=1e-6)
        # and the world path agrees: world_to_camera @ head_world == head_camera
        np.testing.assert_allclose(record.world_to_camera @ record.head_world.matrix(), record.head_camera.matrix(), atol=1e-12)
        np.testing.assert_allclose(record.world_to_camera, WORLD_TO_CAMERA)
        np.testing.assert_allclose(record.coefficients, np.concatenate([fit.identity, frame.expression]))


def test_crop_intrinsics_scale_and_shift_the_photo_camera(model, fitted):
    fit, _ = fitted
    frame = fit.frames[0]
    box = CropBox(x0=100, y0=-20, side=300, size=600)
    record = make_fit_shot(ActorFit(fit.identity, [frame], fit.identity_names, fit.expression_names), model).shot.frames[0]
    K = box.matrix() @ frame.intrinsics()
    assert K[0, 0] == pytest.approx(2.0 * frame.focal) and K[1, 1] == pytest.approx(2.0 * frame.focal)
    assert K[0, 2] == pytest.approx(2.0 * (320.0 - 100)) and K[1, 2] == pytest.approx(2.0 * (240.0 + 20))
    assert record.K[0, 0] > 0 and record.K[2].tolist() == [0.0, 0.0, 1.0]


def test_coefficients_are_named_as_the_exporter_and_the_default_model_name_them(model, fitted):
    fit, _ = fitted
    shot = make_fit_shot(fit, model).shot
    exported = profiles.match_profile("arkit52", list(model.identity_names) + list(ARKIT_52), ["neck", "head", "jaw", "eye.L", "eye.R"])
    assert shot.rig_profile == "arkit52"
    assert shot.coefficient_names == exported.coefficient_names
    with open(ROOT / "neural_core" / "models" / "default.safetensors", "rb") as handle:  # the header alone: no torch
        header = json.loads(handle.read(struct.unpack("<Q", handle.read(8))[0]))
    conditional = json.loads(header["__metadata__"]["conditional"])
    assert shot.coefficient_names == list(conditional["coefficient_names"])


def test_eye_joints_are_the_gaze_euler_angles_and_jaw_neck_rest(model, fitted):
    fit, _ = fitted
    frame = fit.frames[1]
    frame = FrameFit(frame.expression, frame.rotation, frame.translation, np.array([0.1, -0.2, 0.05, 0.3]), frame.focal,
                     frame.size, frame.residual, True)
    record = make_fit_shot(ActorFit(fit.identity, [frame], fit.identity_names, fit.expression_names), model).shot.frames[0]
    np.testing.assert_allclose(record.joints["eye.L"], rotations.euler_xyz([0.1, 0.0, -0.2]))
    np.testing.assert_allclose(record.joints["eye.R"], rotations.euler_xyz([0.05, 0.0, 0.3]))
    np.testing.assert_allclose(record.joints["jaw"], np.eye(3))
    np.testing.assert_allclose(record.joints["neck"], np.eye(3))
    # the iris landmarks of the projection follow the gaze (eye +X looks up: the iris moves up in the image)
    still = FrameFit(frame.expression, frame.rotation, frame.translation, np.zeros(4), frame.focal, frame.size)
    assert projected_vertices(model, fit.identity, frame)[473, 1] < projected_vertices(model, fit.identity, still)[473, 1]


def test_frames_without_a_face_or_a_converged_fit_are_left_out(model, fitted, tmp_path):
    fit, _ = fitted
    bad = fit.frames[2]
    flagged = FrameFit(bad.expression, bad.rotation, bad.translation, bad.gaze, bad.focal, bad.size, residual=9.5,
                       converged=False)
    frames = [None, fit.frames[0], flagged, fit.frames[1]]
    labels = [{"file": f"p{i}.jpg", "index": i} for i in range(4)]
    result = make_fit_shot(ActorFit(fit.identity, frames, fit.identity_names, fit.expression_names), model,
                           source={"actor": "A"}, labels=labels)
    assert result.inputs == [1, 3]
    assert [r.frame for r in result.shot.frames] == [1, 2]
    assert result.left_out[0] == (0, "no usable face")
    assert result.left_out[1][0] == 2 and "did not converge" in result.left_out[1][1] and "9.50" in result.left_out[1][1]
    entries = result.shot.source["frames"]
    assert [(e["frame"], e["input"], e["file"]) for e in entries] == [(1, 1, "p1.jpg"), (2, 3, "p3.jpg")]
    assert result.shot.source["actor"] == "A"
    write_fit_shot(tmp_path / "shot", result)


def test_crop_box_is_centred_and_scaled():
    points = np.array([[100.0, 200.0], [180.0, 300.0]])
    box = crop_box(points, size=512, scale=2.0)
    assert box.side == 200 and box.size == 512
    assert (box.x0, box.y0) == (40, 150)
    np.testing.assert_allclose(box.to_crop([[140.0, 250.0]]), [[256.0, 256.0]])


def test_crop_pixels_land_where_the_box_maps_them(tmp_path):
    from PIL import Image

    image = np.zeros((120, 160, 3), np.uint8)
    image[:, :] = (30, 60, 90)
    image[50:54, 70:74] = (255, 255, 255)  # a 4 x 4 white block centred at photo pixel (72, 52)
    box = CropBox(x0=40, y0=-30, side=100, size=200)  # reaches past the top edge
    crop = crop_image(image, box)
    assert crop.shape == (200, 200, 3) and crop.dtype == np.uint8
    bright = np.argwhere(crop.sum(-1) > 600)
    centre = bright.mean(0)[::-1] + 0.5  # (x, y) of the block's centre in crop pixels
    np.testing.assert_allclose(centre, box.to_crop([72.0, 52.0]), atol=0.6)
    assert crop[:50].max() == 0  # above the photo: black
    assert tuple(crop[120, 20]) == (30, 60, 90)
    path = write_crop(tmp_path / "0001.png", image, box)
    with Image.open(path) as saved:
        assert saved.mode == "RGB" and saved.size == (200, 200)
        np.testing.assert_array_equal(np.asarray(saved), crop)
    assert [p.name for p in tmp_path.iterdir()] == ["0001.png"]  # no temporary left
