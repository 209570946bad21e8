"""The pose read from the image (actor/photometric.py) and the face mesh's texture space it
samples in (actor/texture_space.py): the bundled file, the rasterised texels, the face
regions, and recovery of known head poses from images rendered with a known texture."""

import sys
from pathlib import Path

import numpy as np
import pytest

from neural_core.actor import face_image, photometric, rotations
from neural_core.actor.fit import ActorFit, FitSettings, FrameFit
from neural_core.actor.fit_shot import projected_vertices
from neural_core.actor.head_model import HeadModelError, load_head_model
from neural_core.actor.linear_head import LinearHead
from neural_core.actor.texture_space import TexelMap, load_face_mesh

ROOT = Path(__file__).resolve().parents[2]
SIZE = (256, 256)
JAW = list(load_head_model().expression_names).index("jawOpen")
FOCAL = 900.0


@pytest.fixture(scope="module")
def model():
    return load_head_model()


def test_the_bundled_face_mesh_equals_a_fresh_export_of_the_canonical_obj():
    sys.path.insert(0, str(ROOT / "tools"))
    try:
        import export_face_mesh
    finally:
        sys.path.remove(str(ROOT / "tools"))
    fresh, bundled = export_face_mesh.arrays(), load_face_mesh()
    np.testing.assert_array_equal(bundled.triangles, fresh["triangles"])
    np.testing.assert_array_equal(bundled.uvs, fresh["uvs"])
    assert bundled.triangles.shape == (898, 3)


def test_a_bad_face_mesh_file_names_the_file_and_field(tmp_path):
    mesh = load_face_mesh()
    path = tmp_path / "mesh.npz"
    np.savez(path, format=np.array("neural_face.face_mesh"), version=np.array(1), triangles=mesh.triangles,
             uvs=mesh.uvs + 2.0)
    with pytest.raises(HeadModelError, match=r"mesh\.npz: field 'uvs': must lie in \[0, 1\]"):
        load_face_mesh(path)
    with pytest.raises(HeadModelError, match="no such file"):
        load_face_mesh(tmp_path / "missing.npz")


def test_each_texel_is_a_blend_of_its_triangle_corners_at_its_own_place():
    mesh = load_face_mesh()
    texels = TexelMap(mesh, 64)
    assert 1000 < len(texels) < 64 * 64
    np.testing.assert_allclose(np.asarray(texels.weights.sum(1)).ravel(), 1.0, atol=1e-9)
    assert texels.barycentric.min() >= -1e-9
    # blending the corners' UVs puts every texel back at its own centre
    corners = np.stack([mesh.uvs[:, 0], 1.0 - mesh.uvs[:, 1]], 1) * 64
    np.testing.assert_allclose(texels.weights @ corners, np.stack([texels.columns, texels.rows], 1) + 0.5, atol=1e-6)


def test_a_face_region_keeps_an_image_point_where_to_region_says():
    image = np.zeros((200, 300), np.uint8)
    image[120, 170] = 255  # a bright pixel: centre (170.5, 120.5) in pixel coordinates
    points = np.array([[100.0, 60.0], [240.0, 180.0]] * 234)
    face = face_image.prepare_face(image, points, iod=70.0)  # scale 2: the region is upsampled
    assert face.scale == pytest.approx(face_image.IOD_PIXELS / 70.0)
    peak = np.unravel_index(np.argmax(face.values.astype(np.float32)), face.values.shape)
    expected = face.to_region(np.array([170.5, 120.5]))
    assert abs(peak[1] + 0.5 - expected[0]) <= 1.0 and abs(peak[0] + 0.5 - expected[1]) <= 1.0


def frame_at(rotation, translation, jaw=0.0):
    expression = np.zeros(52)
    expression[JAW] = jaw
    return FrameFit(expression=expression, rotation=np.asarray(rotation, float), translation=np.asarray(translation, float),
                    gaze=np.zeros(4), focal=FOCAL, size=SIZE)


def render(model, texels, texture, frame, gain):
    """[H, W] float image of the neutral head with ``texture`` [N] on its texels (background 0.5)."""
    from scipy.interpolate import griddata

    vertices = LinearHead(model).face(np.zeros((1, 28)), frame.expression[None])[0]
    camera = vertices @ frame.rotation_matrix().T + frame.translation
    pixels = texels.weights @ (FOCAL * camera[:, :2] / camera[:, 2:3] + np.array(SIZE) / 2.0)
    ys, xs = np.mgrid[0:SIZE[1], 0:SIZE[0]] + 0.5
    image = griddata(pixels, texture, (xs, ys), method="linear", fill_value=0.5)
    return gain * image + 0.1 * xs / SIZE[0]  # each frame its own exposure and a shading ramp


@pytest.fixture(scope="module")
def rendered(model):
    """(true frames, images): eight views of the neutral head with one smooth random texture,
    each its own exposure."""
    from scipy.ndimage import gaussian_filter

    rng = np.random.default_rng(3)
    fine = TexelMap(load_face_mesh(), 256)
    texture = 0.5 + 8.0 * gaussian_filter(rng.normal(size=(256, 256)), 12.0)[fine.rows, fine.columns]
    frames = [frame_at(rotations.rotation_vector(rotations.axis_angle(rng.normal(0, 0.08, 3))), np.array([0.0, 0.2, 0.75]))
              for _ in range(8)]
    return frames, [render(model, fine, texture, f, gain) for f, gain in zip(frames, rng.uniform(0.7, 1.3, 8))]


def angle(a, b):
    return np.degrees(np.linalg.norm(rotations.rotation_vector(a.T @ b)))


def refiner_for(model, frames, images, jaw=None):
    head = LinearHead(model)
    vertices = [head.face(np.zeros((1, 28)), f.expression[None])[0] for f in frames]
    faces = [face_image.prepare_face(image, projected_vertices(model, np.zeros(28), f), face_image.frontal_iod(v, f))
             for image, f, v in zip(images, frames, vertices)]
    return photometric.PoseRefiner(vertices, frames, faces, jaw=jaw)


@pytest.mark.parametrize("axis", [0, 1, 2])
def test_against_the_texture_a_turned_frame_returns_to_its_true_pose(model, rendered, axis):
    """The texture from frames at their true poses; one frame then turned 1.5 degrees (about
    the camera's x, y or z axis): the solve brings it back to within 0.2 degrees."""
    frames, images = rendered
    refiner = refiner_for(model, frames, images)
    refiner.build_texture()
    step = np.zeros(6)
    step[axis] = np.radians(1.5)
    refiner.rotation[2], refiner.translation[2] = refiner._moved(2, refiner.vertices[2].mean(0), step)
    assert angle(refiner.rotation[2], frames[2].rotation_matrix()) == pytest.approx(1.5)
    refiner.refine(2, FitSettings().photometric_iterations, FitSettings().photometric_step_gain)
    assert angle(refiner.rotation[2], frames[2].rotation_matrix()) < 0.2


def test_a_longer_step_is_taken_only_where_it_lowers_the_cost(model, rendered):
    """Against a texture as sharp as the frames the plain step is right: a step 1000 times
    longer must be refused, and the frame still comes back."""
    frames, images = rendered
    refiner = refiner_for(model, frames, images)
    refiner.build_texture()
    refiner.rotation[2], refiner.translation[2] = refiner._moved(2, refiner.vertices[2].mean(0), [0, 0.026, 0, 0, 0, 0])
    refiner.refine(2, FitSettings().photometric_iterations, 1000.0)
    assert angle(refiner.rotation[2], frames[2].rotation_matrix()) < 0.2


@pytest.fixture(scope="module")
def fine_detail(model):
    """(true frames, images, texture built from the images blurred by 4 px): a texture of fine
    detail (2-texel blur) averaged less sharply than the frames show it, as a real actor's
    texture is (its frames' poses are a little off)."""
    from scipy.ndimage import gaussian_filter

    rng = np.random.default_rng(5)
    fine = TexelMap(load_face_mesh(), 256)
    texture = 0.5 + 1.5 * gaussian_filter(rng.normal(size=(256, 256)), 2.0)[fine.rows, fine.columns]
    frames = [frame_at(rotations.rotation_vector(rotations.axis_angle(rng.normal(0, 0.08, 3))), np.array([0.0, 0.2, 0.75]))
              for _ in range(8)]
    images = [render(model, fine, texture, f, gain) for f, gain in zip(frames, rng.uniform(0.7, 1.3, 8))]
    blurred = refiner_for(model, frames, [gaussian_filter(image, 4.0) for image in images])
    blurred.build_texture()
    return frames, images, (blurred.texture, blurred.weight)


def test_against_a_blurrier_texture_the_longer_step_brings_the_frame_back(model, fine_detail):
    """The frame's sharp gradients overstate the curvature: plain Gauss-Newton steps cover a
    few percent of the way (measured: 0.77 degrees of 1.5 left after the default iterations),
    the longer ones most of it (0.32)."""
    frames, images, (texture, weight) = fine_detail
    left, longer = {}, FitSettings().photometric_step_gain
    for gain in (longer, 1.0):
        refiner = refiner_for(model, frames, images)
        refiner.texture, refiner.weight = texture, weight
        refiner.rotation[2], refiner.translation[2] = refiner._moved(2, refiner.vertices[2].mean(0),
                                                                     [0, np.radians(1.5), 0, 0, 0, 0])
        refiner.refine(2, FitSettings().photometric_iterations, gain)
        left[gain] = angle(refiner.rotation[2], frames[2].rotation_matrix())
    assert left[longer] < 0.45 and left[1.0] > 0.6, left


def test_frames_fitted_at_their_true_pose_stay_there(model, rendered):
    frames, images = rendered
    fit = ActorFit(np.zeros(28), list(frames), model.identity_names, model.expression_names)
    read = []
    refined = photometric.refine_poses(fit, lambda i: read.append(i) or images[i], model, FitSettings(photometric_rounds=3))
    assert read == list(range(8))  # each image read once, in order
    moved = [angle(a.rotation_matrix(), b.rotation_matrix()) for a, b in zip(refined.frames, frames)]
    assert np.median(moved) < 0.5 and max(moved) < 1.0, moved  # measured: median 0.32, max 0.7 (the texture follows)
    assert fit.frames[0] is frames[0] and refined.frames[0] is not frames[0]  # the input fit is not changed
    assert refined.notes[-3].startswith("pose from the image: 8 frame(s) refined in 3 round(s)")
    assert refined.notes[-2].startswith("jaw from the image: 3 round(s), jawOpen moved by 0.0")  # (all closed, and stay so)
    assert refined.notes[-1].startswith("gaze from the image: ")
    assert all(f.expression[JAW] >= 0.0 for f in refined.frames)


def test_no_rounds_leave_the_fit_as_it_is(model):
    fit = ActorFit(np.zeros(28), [frame_at(np.zeros(3), [0, 0, 0.7])] * 3, model.identity_names, model.expression_names)
    assert photometric.refine_poses(fit, None, model, FitSettings(photometric_rounds=0)) is fit


def test_a_check_that_raises_stops_the_refinement(model):
    fit = ActorFit(np.zeros(28), [frame_at(np.zeros(3), [0, 0.1, 0.7])] * 3, model.identity_names, model.expression_names)

    class Cancelled(Exception):
        pass

    def check():
        raise Cancelled()

    with pytest.raises(Cancelled):
        photometric.refine_poses(fit, lambda i: np.zeros((256, 256)), model, FitSettings(), check=check)


@pytest.fixture(scope="module")
def jaws(model):
    """(true frames, images): eight views of the head with the jaw open 0-0.8, one texture."""
    from scipy.ndimage import gaussian_filter

    rng = np.random.default_rng(7)
    fine = TexelMap(load_face_mesh(), 256)
    texture = 0.5 + 8.0 * gaussian_filter(rng.normal(size=(256, 256)), 6.0)[fine.rows, fine.columns]
    frames = [frame_at(rotations.rotation_vector(rotations.axis_angle(rng.normal(0, 0.08, 3))), np.array([0.0, 0.2, 0.75]),
                       jaw=opening) for opening in np.linspace(0.0, 0.8, 8)]
    return frames, [render(model, fine, texture, f, gain) for f, gain in zip(frames, rng.uniform(0.7, 1.3, 8))]


def jaw_refiner(model, frames, images, misread):
    """A PoseRefiner whose frames were read with the jaw values ``misread`` [K] (the images'
    regions and vertices placed accordingly)."""
    misread_frames = []
    for frame, value in zip(frames, misread):
        expression = frame.expression.copy()
        expression[JAW] = value
        misread_frames.append(FrameFit(expression=expression, rotation=frame.rotation, translation=frame.translation,
                                       gaze=frame.gaze, focal=frame.focal, size=frame.size))
    return refiner_for(model, misread_frames, images,
                       jaw=(np.array(misread, dtype=float), LinearHead(model).expression_basis[:, :, JAW]))


def test_against_the_texture_a_misread_jaw_returns_to_its_true_opening(model, jaws):
    """The texture from frames at their true jaw; one frame's jaw then read 0.25 too open or
    too closed: the solve (pose held) brings it back to within 0.05."""
    frames, images = jaws
    truth = np.array([f.expression[JAW] for f in frames])
    for error in (0.25, -0.25):
        refiner = jaw_refiner(model, frames, images, truth)
        refiner.build_texture()
        rotation = refiner.rotation[4].copy()
        refiner.jaw_values[4] += error
        refiner.vertices[4] = refiner.vertices[4] + error * refiner.jaw_basis
        refiner.refine_jaw(4, FitSettings().photometric_iterations, FitSettings().photometric_step_gain)
        assert abs(refiner.jaw_values[4] - truth[4]) < 0.05, (error, refiner.jaw_values[4], truth[4])
        assert np.array_equal(refiner.rotation[4], rotation)  # the pose is held
        at_truth = refiner.vertices[4] - (refiner.jaw_values[4] - truth[4]) * refiner.jaw_basis
        true_vertices = LinearHead(model).face(np.zeros((1, 28)), frames[4].expression[None])[0]
        assert np.allclose(at_truth, true_vertices, atol=1e-9)  # the vertices follow the value


def test_the_jaw_stays_within_0_and_1(model, jaws):
    frames, images = jaws
    truth = np.array([f.expression[JAW] for f in frames])
    refiner = jaw_refiner(model, frames, images, truth)
    refiner.build_texture()
    refiner.jaw_values[0] = 0.0  # truth 0: any step below is clipped
    refiner.refine_jaw(0, FitSettings().photometric_iterations, 1000.0)
    assert 0.0 <= refiner.jaw_values[0] < 0.05
    with pytest.raises(ValueError, match="jaw="):
        refiner_for(model, frames, images).refine_jaw(0, 8, 4.0)


def test_the_workflow_reads_misread_jaws_from_the_images(model, jaws):
    """Each frame's jaw misread by up to 0.2 (as MediaPipe's detections do): after the pose
    and jaw rounds the mean error is under half; without jaw rounds the values stay."""
    frames, images = jaws
    truth = np.array([f.expression[JAW] for f in frames])
    misread = np.clip(truth + np.random.default_rng(1).uniform(-0.2, 0.2, len(truth)), 0.0, 1.0)
    fit = ActorFit(np.zeros(28), [FrameFit(expression=np.where(np.arange(52) == JAW, m, 0.0), rotation=f.rotation,
                                           translation=f.translation, gaze=f.gaze, focal=f.focal, size=f.size)
                                  for f, m in zip(frames, misread)], model.identity_names, model.expression_names)
    refined = photometric.refine_poses(fit, lambda i: images[i], model, FitSettings())
    after = np.array([f.expression[JAW] for f in refined.frames])
    assert np.abs(after - truth).mean() < 0.5 * np.abs(misread - truth).mean(), (after, truth, misread)
    kept = photometric.refine_poses(fit, lambda i: images[i], model, FitSettings(photometric_jaw_rounds=0))
    assert np.array_equal([f.expression[JAW] for f in kept.frames], misread)
    assert not any(n.startswith("jaw from the image") for n in kept.notes)
