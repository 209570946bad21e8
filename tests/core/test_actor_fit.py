"""The actor fitter on landmarks made by the head model itself (no MediaPipe): its solver,
its Jacobians, its calibration file, and recovery of known values."""

import numpy as np
import pytest

from neural_core.actor import calibration, rotations
from neural_core.actor.fit import FitSettings, RigidStart, fit_actor
from neural_core.actor.head_model import HeadModelError, load_head_model
from neural_core.actor.linear_head import LinearHead, gaze_pose
from neural_core.actor.problems import FRONTAL, FrameProblem, FrameState, IdentityProblem
from neural_core.actor.solver import solve

SIZE = (512, 512)
FOCAL = 700.0


@pytest.fixture(scope="module")
def model():
    return load_head_model()


def render_landmarks(model, identity, expression, rotation, translation, gaze, noise=0.0, rng=None):
    """[478, 2] pixels of the head posed with these values (what a perfect detector sees)."""
    pose = {k: v[0] for k, v in gaze_pose(np.asarray(gaze, float)[None]).items()}
    cam = model.landmarks(identity, expression, pose) @ (rotations.axis_angle(rotation) @ FRONTAL).T + translation
    pixels = FOCAL * cam[:, :2] / cam[:, 2:3] + np.array(SIZE) / 2.0
    return pixels + (rng.normal(0, noise, pixels.shape) if noise else 0.0)


def test_rotation_vector_inverts_axis_angle():
    rng = np.random.default_rng(1)
    vectors = np.concatenate([rng.normal(0, 1, (50, 3)), [[0, 0, 0], [1e-9, 0, 0], [0, 0, 3.1]]])
    vectors = vectors[np.linalg.norm(vectors, axis=1) < 3.12]
    back = rotations.rotation_vector(rotations.axis_angle(vectors))
    np.testing.assert_allclose(rotations.axis_angle(back), rotations.axis_angle(vectors), atol=1e-9)


class BoxedLinear:
    """min |A x - b|^2 with 0 <= x <= 1, batched; the state is x itself."""

    def __init__(self, A, b):
        self.A, self.b, self.robust_rows = A, b, None

    def evaluate(self, x):
        return np.einsum("bmp,bp->bm", self.A, x) - self.b, self.A

    def step_bounds(self, x):
        return -x, 1.0 - x

    def retract(self, x, delta, accept):
        return np.where(accept[:, None], np.clip(x + delta, 0.0, 1.0), x)


def test_solver_matches_scipy_bounded_least_squares_with_active_bounds():
    from scipy.optimize import lsq_linear

    rng = np.random.default_rng(0)
    A = rng.normal(size=(4, 30, 6))
    b = rng.normal(size=(4, 30)) * 3.0  # far outside the box: several unknowns end on a bound
    result = solve(BoxedLinear(A, b), np.full((4, 6), 0.5), iterations=100, tolerance=1e-12)
    for k in range(4):
        expected = lsq_linear(A[k], b[k], bounds=(0.0, 1.0)).x
        assert ((expected < 1e-6) | (expected > 1 - 1e-6)).any()  # the bounds are active
        np.testing.assert_allclose(result.state[k], expected, atol=1e-5)


def test_a_problem_solves_the_same_alone_as_in_a_batch():
    """A converged problem is not stepped any further while the rest of its batch iterates, so
    its result does not depend on which problems share its batch (the fit's threads split them)."""
    rng = np.random.default_rng(0)
    A = rng.normal(size=(6, 30, 6)) * rng.uniform(0.1, 10.0, size=(6, 1, 1))
    b = rng.normal(size=(6, 30)) * 3.0
    start = np.full((6, 6), 0.5)
    # a loose tolerance: problems are declared converged while steps would still lower their cost
    together = solve(BoxedLinear(A, b), start, iterations=30, tolerance=1e-2)
    assert together.converged.all()
    iterations = set()
    for k in range(6):
        alone = solve(BoxedLinear(A[k:k + 1], b[k:k + 1]), start[k:k + 1], iterations=30, tolerance=1e-2)
        iterations.add(alone.iterations)
        np.testing.assert_allclose(together.state[k], alone.state[0], rtol=0, atol=1e-12)
    assert len(iterations) > 1  # some problems converged while others went on


@pytest.mark.parametrize("depth_weight", [0.0, 0.7])
def test_frame_jacobian_matches_finite_differences(model, depth_weight):
    rng = np.random.default_rng(2)
    # with depth: MediaPipe's depth compared with the depth calibration's points (not the landmarks')
    head = LinearHead(model, depth_calibration=calibration.load_calibration(calibration.DEPTH_PATH)
                      if depth_weight else None)
    identity = rng.uniform(-0.5, 0.5, model.num_identity)
    expression = np.clip(rng.normal(0.3, 0.2, (2, model.num_expression)), 0.05, 0.95)
    expression[:, head.look_columns] = 0.0
    state = FrameState(expression, rotations.axis_angle(rng.normal(0, 0.2, (2, 3))) @ FRONTAL,
                       np.array([[0.01, 0.05, 0.6], [-0.02, 0.04, 0.7]]), rng.uniform(-0.2, 0.2, (2, 4)),
                       np.log([650.0, 720.0]))
    detected = np.stack([render_landmarks(model, identity, expression[0] * 0.5, [0.1, 0.2, 0], [0, 0.05, 0.6],
                                          [0.1, 0, 0.1, 0])] * 2)
    neighbours = (state, state, np.ones((2, 2)))
    depth = rng.normal(0.0, 30.0, (2, 478))  # MediaPipe's relative depth, pixels
    problem = FrameProblem(head, identity, detected, [SIZE] * 2, FitSettings(video=True, depth_weight=depth_weight),
                           own_focal=True, focal_hint=[700.0, 700.0], neighbours=neighbours, depth=depth)
    r, J = problem.evaluate(state)
    assert r.shape[1] == J.shape[1] == (956 + 468 // 4 if depth_weight else 956) + 52 + 10 + 4 + 1 + 2 * (52 + 10)
    rigid = RigidStart(problem)  # the rigid start's unknowns: rotation, translation, focal
    r_rigid, J_rigid = rigid.evaluate(state)
    np.testing.assert_array_equal(r_rigid, r)
    np.testing.assert_array_equal(J_rigid, J[..., list(range(52, 58)) + [62]])
    step = 1e-6
    for column in list(range(0, model.num_expression, 7)) + list(range(model.num_expression, problem.P)):
        delta = np.zeros((2, problem.P))
        delta[:, column] = step
        shifted = problem.retract(state, delta, np.ones(2, dtype=bool))
        numeric = (problem.evaluate(shifted)[0] - r) / step
        if column in head.look_columns:
            continue
        np.testing.assert_allclose(J[:, :, column], numeric, atol=2e-3 * max(1.0, np.abs(numeric).max()),
                                   err_msg=f"column {column}")


def test_identity_jacobian_matches_finite_differences(model):
    rng = np.random.default_rng(3)
    head = LinearHead(model)
    frames = FrameState(np.zeros((3, model.num_expression)), np.stack([FRONTAL] * 3),
                        np.array([[0, 0.05, 0.6]] * 3), rng.uniform(-0.2, 0.2, (3, 4)), np.log([700.0] * 3))
    detected = np.stack([render_landmarks(model, np.zeros(28), np.zeros(52), [0, 0.1 * k, 0], [0, 0.05, 0.6],
                                          [0, 0, 0, 0]) for k in range(3)])
    problem = IdentityProblem(head, frames, detected, [SIZE] * 3, FitSettings(video=True), shared_focal=True,
                              focal_hint=700.0)
    state = (rng.uniform(-0.3, 0.3, (1, model.num_identity)), np.array([np.log(680.0)]))
    r, J = problem.evaluate(state)
    for column in range(model.num_identity + 1):
        delta = np.zeros((1, model.num_identity + 1))
        delta[0, column] = 1e-6
        numeric = (problem.evaluate(problem.retract(state, delta, np.array([True])))[0] - r) / 1e-6
        np.testing.assert_allclose(J[0, :, column], numeric[0], atol=1e-3 * max(1.0, np.abs(numeric).max()))


def test_fit_recovers_pose_jaw_and_shape_from_perfect_landmarks(model):
    rng = np.random.default_rng(4)
    identity = rng.uniform(-0.6, 0.6, model.num_identity)
    names = list(model.expression_names)
    truths, detections = [], []
    for k in range(12):
        expression = np.zeros(model.num_expression)
        expression[names.index("jawOpen")] = k / 11.0
        expression[names.index("eyeBlinkLeft")] = expression[names.index("eyeBlinkRight")] = float(k % 3 == 0)
        rotation = rng.normal(0, 0.2, 3)
        translation = np.array([0.0, 0.03, 0.6]) + rng.normal(0, 0.02, 3)
        truths.append((expression, rotation))
        detections.append(render_landmarks(model, identity, expression, rotation, translation, np.zeros(4),
                                           noise=0.3, rng=rng))
    detections.insert(5, None)  # a frame without a face stays None
    progress = []
    fit = fit_actor(detections, [SIZE] * len(detections), FitSettings(), focal_hints=[FOCAL] * len(detections),
                    model=model, calibration=None, progress=lambda done, total: progress.append((done, total)))
    assert fit.frames[5] is None and progress[-1][0] == progress[-1][1]
    fitted = [f for f in fit.frames if f is not None]
    assert all(f.converged and f.residual < 1.0 for f in fitted)
    jaw = [f.expression[names.index("jawOpen")] for f in fitted]
    assert np.corrcoef(jaw, [t[0][names.index("jawOpen")] for t in truths])[0, 1] > 0.98
    angles = [np.degrees(np.linalg.norm(rotations.rotation_vector(
        rotations.axis_angle(f.rotation).T @ rotations.axis_angle(t[1])))) for f, t in zip(fitted, truths)]
    assert np.median(angles) < 1.5  # per-photo focal lengths leave a little perspective ambiguity
    rest_fit = model.landmarks(fit.identity)[:468]
    rest_true = model.landmarks(identity)[:468]
    from neural_core.evaluation.fitting import similarity_rms

    assert similarity_rms(rest_fit, rest_true) < 0.002  # 2 mm
    look = [f.expression[names.index("eyeLookUpLeft")] for f in fitted]
    assert all(0.0 <= v <= 1.0 for v in look)


def test_landmark_depth_steadies_the_head_turn_of_noisy_landmarks(model):
    """MediaPipe's relative depth is a second view of the pose: with noisy 2D landmarks and
    a less noisy depth, the fit that weighs the depth reads the rotation closer to the truth."""
    rng = np.random.default_rng(6)
    identity = rng.uniform(-0.5, 0.5, model.num_identity)
    detections, depths, truths = [], [], []
    for _ in range(16):
        rotation = rng.normal(0, 0.25, 3)
        translation = np.array([0.0, 0.03, 0.6]) + rng.normal(0, 0.02, 3)
        cam = model.landmarks(identity, None) @ (rotations.axis_angle(rotation) @ FRONTAL).T + translation
        pixels = FOCAL * cam[:, :2] / cam[:, 2:3] + np.array(SIZE) / 2.0
        detections.append(pixels + rng.normal(0, 2.0, (478, 2)))
        # MediaPipe's depth: along the line of sight to the face, in pixels at the face's depth
        axis = np.r_[(pixels[:468].mean(0) - np.array(SIZE) / 2.0) / FOCAL, 1.0]
        along = cam @ (axis / np.linalg.norm(axis))
        depth = FOCAL * (along - along.mean()) / along.mean()
        depths.append(depth + 50.0 + rng.normal(0, 1.0, 478))  # (its origin is MediaPipe's: any)
        truths.append(rotation)

    def median_error(weight):
        fit = fit_actor(detections, [SIZE] * 16, FitSettings(depth_weight=weight), focal_hints=[FOCAL] * 16,
                        model=model, calibration=None, depths=depths, depth_calibration=None)
        return np.median([np.degrees(np.linalg.norm(rotations.rotation_vector(
            rotations.axis_angle(f.rotation).T @ rotations.axis_angle(t)))) for f, t in zip(fit.frames, truths)])

    without, weighed = median_error(0.0), median_error(1.0)
    assert weighed < 0.7 * without, (without, weighed)


def test_calibration_estimate_recovers_a_known_offset_and_round_trips(model, tmp_path):
    rng = np.random.default_rng(5)
    offset = rng.normal(0, 0.002, (478, 3))
    per_key = np.zeros((model.num_expression, 478, 3))
    per_key[3] = rng.normal(0, 0.003, (478, 3))
    expressions = rng.uniform(0, 1, (600, model.num_expression))
    vertices = rng.normal(0, 0.05, (600, 478, 3))
    detected = vertices + offset + np.einsum("ne,epc->npc", expressions, per_key) + rng.normal(0, 1e-4, vertices.shape)
    result = calibration.estimate(detected, vertices, expressions, model.expression_names, ridge=1e-3)
    np.testing.assert_allclose(result.offset, offset, atol=5e-4)
    np.testing.assert_allclose(result.per_key[3], per_key[3], atol=5e-4)
    assert np.median(result.noise) < 5e-4 and result.reliability().shape == (478,)
    path = tmp_path / "cal.npz"
    result.save(path)
    loaded = calibration.load_calibration(path)
    np.testing.assert_allclose(loaded.offset, result.offset, atol=1e-7)
    assert loaded.expression_names == tuple(model.expression_names)


def test_bad_calibration_files_name_the_file_and_field(tmp_path):
    with pytest.raises(HeadModelError, match="landmark calibration .*missing.npz: no such file"):
        calibration.load_calibration(tmp_path / "missing.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(HeadModelError, match="junk.npz"):
        calibration.load_calibration(tmp_path / "junk.npz")
    np.savez(tmp_path / "wrong.npz", format=np.array(calibration.FORMAT), version=np.array(1),
             offset=np.zeros((10, 3)), per_key=np.zeros((52, 478, 3)), expression_names=np.array(["a"] * 52))
    with pytest.raises(HeadModelError, match="offset"):
        calibration.load_calibration(tmp_path / "wrong.npz")


def test_the_bundled_calibration_loads_and_matches_the_head_model(model):
    cal = calibration.load_calibration()
    assert cal.expression_names == tuple(model.expression_names)
    assert 0.0 < np.median(np.linalg.norm(cal.offset, axis=1)) < 0.01  # millimetres, not centimetres
    LinearHead(model, cal)  # accepted by the fitter


def test_a_check_that_raises_stops_the_fit_between_iterations(model):
    detections = [render_landmarks(model, np.zeros(28), np.zeros(52), [0, 0.1, 0], [0, 0.03, 0.6], np.zeros(4))] * 3
    calls = []

    def check():
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt("stop")

    with pytest.raises(KeyboardInterrupt):
        fit_actor(detections, [SIZE] * 3, FitSettings(), model=model, calibration=None, check=check)
    assert len(calls) == 3


def test_temporal_neighbours_stay_inside_a_clip():
    from neural_core.actor.fit import _neighbours

    state = FrameState(np.zeros((5, 2)), np.zeros((5, 3, 3)), np.zeros((5, 3)), np.zeros((5, 4)), np.zeros(5))
    usable = [0, 1, 2, 3, 5]  # input frame 4 has no face
    _, _, one_clip = _neighbours(state, usable)
    assert one_clip.tolist() == [[0, 1], [1, 1], [1, 1], [1, 0], [0, 0]]
    _, _, clips = _neighbours(state, usable, segments=[0, 0, 1, 1, 1, 1])  # the second clip starts at input frame 2
    assert clips.tolist() == [[0, 1], [1, 0], [0, 1], [1, 0], [0, 0]]


def test_frames_solved_in_two_threads_or_batches_match_one_thread(model):
    """The frame solves are independent given the identity: two threads, or batches of 4 frames, give
    the same fit (within the solver's tolerance: each share stops iterating when all of its own
    frames have converged)."""
    rng = np.random.default_rng(9)
    identity = rng.uniform(-0.5, 0.5, model.num_identity)
    detections = []
    for k in range(9):
        expression = np.clip(rng.normal(0, 0.3, model.num_expression), 0, 1) * (rng.random(model.num_expression) < 0.2)
        detections.append(render_landmarks(model, identity, expression, rng.normal(0, 0.2, 3), [0, 0.03, 0.6], np.zeros(4),
                                           noise=0.3, rng=rng))
    for video in (False, True):
        fits = [fit_actor(detections, [SIZE] * 9, FitSettings(video=video, threads=t, batch=b), focal_hints=[FOCAL] * 9,
                          model=model, calibration=None) for t, b in ((1, 32), (2, 32), (1, 4))]
        for other in fits[1:]:
            np.testing.assert_allclose(other.identity, fits[0].identity, atol=2e-3)
            for one, two in zip(fits[0].frames, other.frames):
                np.testing.assert_allclose(two.expression, one.expression, atol=5e-3)
                np.testing.assert_allclose(two.rotation, one.rotation, atol=1e-3)


def test_true_landmarks_are_the_truth_plus_noise_scaled_by_the_iod(model):
    from neural_core.evaluation.fitting import true_landmarks

    points = render_landmarks(model, np.zeros(model.num_identity), np.zeros(model.num_expression), np.zeros(3),
                              np.array([0.0, 0.0, 0.6]), np.zeros(4))
    items = [(None, {"landmarks": points.tolist()})] * 2
    exact = true_landmarks(items)
    assert np.array_equal(exact[0], points)
    iod = np.linalg.norm(points[33] - points[263])
    noisy = true_landmarks(items, noise_percent=2.0)
    spread = np.concatenate([n - points for n in noisy]).std() * 100.0 / iod
    assert 1.8 < spread < 2.2 and not np.array_equal(noisy[0], noisy[1])


def test_cached_detections_are_reused_only_for_the_same_images(tmp_path, monkeypatch):
    from neural_core.evaluation import fitting

    items = [(tmp_path / "a.png", {}), (tmp_path / "b.png", {})]
    points = np.arange(478 * 2, dtype=float).reshape(478, 2)
    calls = []

    def detect(found_items, video=False, mirror=False, views=1):
        calls.append([str(p) for p, _ in found_items] + [views])
        return [points, None], [(64, 48), (64, 48)], 0.01, [np.ones(478), None], [np.array([0.5, -0.5]), None]

    monkeypatch.setattr(fitting, "detect", detect)
    cache = tmp_path / "cache.npz"
    first = fitting.cached_detect(items, cache)
    again = fitting.cached_detect(items, cache)
    assert len(calls) == 1  # the second call read the file
    np.testing.assert_array_equal(again[0][0], points)
    assert again[0][1] is None and again[3][1] is None and again[4][1] is None
    assert again[1] == [(64, 48), (64, 48)] and again[2] == first[2]
    fitting.cached_detect(items[:1], cache)  # other images: detected afresh
    assert len(calls) == 2
    fitting.cached_detect(items[:1], cache, views=3)  # other views: detected afresh
    fitting.cached_detect(items[:1], cache, views=3)
    assert len(calls) == 3 and calls[-1][-1] == 3


def test_fit_figures_count_spurious_keys_in_the_all_keys_error(model):
    """The ten-key error looks only at the keys the truth moves most; the all-keys error also
    counts values the fit put on keys the truth left at 0."""
    from types import SimpleNamespace

    from neural_core.evaluation.fitting import summarise

    E = model.num_expression
    truth = np.zeros((4, E))
    truth[:, :10] = np.linspace(0.0, 1.0, 4)[:, None] * np.linspace(0.5, 1.0, 10)  # ten keys that move
    fitted = truth.copy()
    fitted[:, 20:] = 0.3  # spurious values on keys the truth never moves
    rows = [{"fitted": f, "truth": t, "fit_vs_truth": 1.0, "detection_vs_truth": 2.0, "fit_vs_detection": 0.5,
             "rotation_error_deg": 1.0} for f, t in zip(fitted, truth)]
    fit = SimpleNamespace(identity=np.zeros(model.num_identity))
    figures = summarise(model, fit, rows, np.zeros(model.num_identity))
    assert figures["top10_mae"] == 0.0
    assert figures["all_keys_mae"] == pytest.approx(0.3 * (E - 20) / E)


def test_fit_figures_tell_the_gaze_behind_closed_lids_apart(model):
    """The ten-key error over the frames whose eyes show, and the share of it that is the
    eyeLook keys of frames whose true blink is closed (a gaze no image shows)."""
    from types import SimpleNamespace

    from neural_core.evaluation.fitting import summarise

    names = list(model.expression_names)
    rng = np.random.default_rng(0)
    truth = np.zeros((6, model.num_expression))
    moving = ["eyeBlinkLeft", "eyeBlinkRight", "jawOpen", "eyeLookUpLeft", "eyeLookUpRight", "eyeLookDownLeft",
              "eyeLookDownRight", "eyeLookInLeft", "eyeLookOutRight", "mouthSmileLeft"]
    for name in moving:
        truth[:, names.index(name)] = rng.uniform(0.2, 0.6, 6)
    truth[:2, [names.index("eyeBlinkLeft"), names.index("eyeBlinkRight")]] = [[1.0, 0.95], [0.8, 0.9]]  # two closed
    fitted = truth.copy()
    looks = [names.index(n) for n in moving if n.startswith("eyeLook")]
    fitted[:2, looks] = 0.0  # the closed eyes look straight ahead
    fitted[2:, names.index("jawOpen")] += 0.1  # the open frames' jaw is off by 0.1
    rows = [{"fitted": f, "truth": t, "fit_vs_truth": 1.0, "detection_vs_truth": 2.0, "fit_vs_detection": 0.5,
             "rotation_error_deg": 1.0} for f, t in zip(fitted, truth)]
    figures = summarise(model, SimpleNamespace(identity=np.zeros(model.num_identity)), rows, np.zeros(model.num_identity))
    assert sorted(figures["top10_keys"]) == sorted(moving) and figures["closed_eye_frames"] == 2
    assert figures["top10_mae_open_eyes"] == pytest.approx(0.1 / 10)
    closed_gaze = truth[:2, looks].sum() / 60
    assert figures["top10_closed_eye_gaze"] == pytest.approx(closed_gaze)
    assert figures["top10_mae"] == pytest.approx(closed_gaze + 0.1 * 4 / 60)
