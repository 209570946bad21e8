"""Fitting the bundled head to one actor's landmarks: one identity, per-frame expression and pose.

See :mod:`.problems` for the unknowns and residuals and :mod:`.solver` for the solver
(every frame's problem at once). The fit starts each frame as a rigid frontal head at the
depth its eye corners give, solves the rigid pose alone, then alternates (block
coordinate descent): all frames with the identity fixed, then the identity (and a video's
shared focal length) over a subset of frames held fixed. A frame whose median residual stays above ``max_median_residual`` is flagged as not
converged and left out of the identity solve and of everything downstream.
"""

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from . import rotations
from .linear_head import LinearHead
from .problems import EYE_CORNERS, FRONTAL, FrameProblem, FrameState, IdentityProblem, interocular
from .solver import solve


@dataclass
class FitSettings:
    """Weights are in the residual's unit (percent of the inter-ocular distance)."""

    video: bool = False  # frames are consecutive video frames: shared focal, temporal smoothness
    outline_weight: float = 0.3  # weight of the face-outline landmarks (others 1)
    robust_scale: float = 1.0  # soft_l1 scale: residuals beyond ~1% IOD count less than squared
    expression_prior: float = 10.0  # pulls every ARKit value towards 0 (scaled per key: linear_head.PRIOR_SCALE)
    gaze_prior: float = 10.0  # per radian: pulls the eyes towards straight ahead (iris points are ~1 px signals)
    antagonist_prior: float = 5.0  # penalises co-activation of opposite keys (blink and wide, smile and frown)
    identity_prior: float = 1.0  # pulls every identity key towards 0
    focal_prior: float = 10.0  # pulls log(focal) towards the hint (EXIF or default): landmarks barely fix it
    depth_weight: float = 0.3  # MediaPipe's relative landmark depth, per pixel at the face's depth; 0: unused
    depth_stride: int = 4  # the depth of every this-many-th face landmark is used (1: +50% fit time, no better)
    smooth_expression: float = 3.0  # video: per unit change of a key between frames
    smooth_rotation: float = 60.0  # video: per radian of rotation-vector change
    smooth_translation: float = 300.0  # video: per metre of translation change
    smooth_gaze: float = 10.0  # video: per radian of gaze change
    rounds: int = 2  # alternations of per-frame and identity solves
    identity_frames: int = 48  # frames used by the identity solve (evenly spaced)
    max_median_residual: float = 6.0  # percent IOD: above it a frame is flagged, not used
    iterations: int = 8  # solver iterations per solve (fewer when every problem has converged)
    coarse_iterations: int = 5  # iterations of the rigid start (expression and gaze held at 0)
    threads: int = 2  # frame solves run in this many threads, each on a contiguous share of the frames
    batch: int = 32  # frames solved together (one thread's share goes in batches of at most this many)
    eye_closure_weight: float = 1.0  # how far a blink moves towards the image's closed reading (eye_closure.py); 0: landmarks alone
    far_eye_turn_deg: float = 45.0  # a head turned further hides its far eye: it takes the near eye's blink (eye_closure.py)
    photometric_rounds: int = 3  # rounds of the pose read from the image (photometric.py); 0: the landmark pose
    photometric_iterations: int = 8  # Gauss-Newton iterations per frame and round (fewer once converged)
    photometric_step_gain: float = 4.0  # each Gauss-Newton step is tried this many times longer first (photometric.py)
    photometric_jaw_rounds: int = 3  # then rounds of jawOpen read from the image, the pose held (photometric.py); 0: off
    photometric_gaze: bool = True  # then the gaze read from the image, the pose held (gaze_image.py); False: the landmark fit's


@dataclass
class FrameFit:
    """One frame's fitted values."""

    expression: np.ndarray  # [52] ARKit values in [0, 1]
    rotation: np.ndarray  # [3] rotation vector: head frame -> camera is axis_angle(rotation) @ FRONTAL
    translation: np.ndarray  # [3] head origin in camera coordinates, metres
    gaze: np.ndarray  # [4] eye.L X, eye.L Z, eye.R X, eye.R Z Euler angles (radians)
    focal: float  # focal length, pixels
    size: tuple  # (width, height) of the image, pixels
    residual: float = np.nan  # median landmark distance to the detection, percent of IOD
    converged: bool = True  # False: flagged (residual too large or the solver failed)

    def rotation_matrix(self):
        """[3, 3] head frame -> camera."""
        return rotations.axis_angle(self.rotation) @ FRONTAL

    def turn_deg(self, centre):
        """The head's turn from the camera about its vertical axis, in degrees, seen from
        ``centre`` [3] (a head-frame point, e.g. between the eyes): 0 facing the camera, + with
        the camera on the head's +X side (its left eye's)."""
        towards = -(np.asarray(centre, dtype=np.float64) + self.rotation_matrix().T @ self.translation)  # head frame
        return float(np.degrees(np.arctan2(towards[0], -towards[1])))  # the head faces -Y

    def intrinsics(self):
        """[3, 3] K in pixels (principal point at the image centre)."""
        width, height = self.size
        return np.array([[self.focal, 0.0, width / 2.0], [0.0, self.focal, height / 2.0], [0.0, 0.0, 1.0]])


@dataclass
class ActorFit:
    """The fit of one actor: a shared identity and one :class:`FrameFit` per input frame."""

    identity: np.ndarray  # [28] identity key values in [-1, 1]
    frames: list  # FrameFit per input frame (None where no face was detected)
    identity_names: tuple = ()
    expression_names: tuple = ()
    warnings: list = field(default_factory=list)
    notes: list = field(default_factory=list)  # what the fit did, for the log (e.g. the eye closure read from the image)


def default_focal(width, height):
    """A 50 mm-equivalent focal length in pixels (36 mm film width over the longer side)."""
    return 50.0 / 36.0 * max(width, height)


def _initial_state(head, identity, detected, sizes, focal):
    """Frontal heads at the depth where their eye corners are as far apart as detected."""
    B = len(detected)
    rest = head.face(identity[None], np.zeros((1, head.E)))[0]
    corners = rest[list(EYE_CORNERS)]
    iod_m = np.linalg.norm(corners[0] - corners[1])
    depth = focal * iod_m / np.maximum(interocular(detected), 1e-6)
    centre_px = detected[:, list(EYE_CORNERS)].mean(1)
    eyes = np.stack([(centre_px[:, 0] - sizes[:, 0] / 2) * depth / focal,
                     (centre_px[:, 1] - sizes[:, 1] / 2) * depth / focal, depth], -1)
    return FrameState(np.zeros((B, head.E)), np.broadcast_to(FRONTAL, (B, 3, 3)).copy(),
                      eyes - FRONTAL @ corners.mean(0), np.zeros((B, 4)), np.log(focal))


def _neighbours(state, usable, segments=None):
    """(previous, next, mask [B, 2]) of each usable frame among consecutive video frames;
    ``segments`` (per input frame a clip id, or None): frames of two clips are not neighbours."""
    index = np.asarray(usable)
    clip = np.zeros(len(index), dtype=np.int64) if segments is None else np.asarray(segments)[index]
    follows = (index[1:] == index[:-1] + 1) & (clip[1:] == clip[:-1])
    before = np.r_[False, follows]
    after = np.r_[follows, False]
    order = np.arange(len(index))
    return (state.select(np.maximum(order - 1, 0)), state.select(np.minimum(order + 1, len(index) - 1)),
            np.stack([before, after], 1).astype(np.float64))


class _PartStopped(Exception):
    """Another part's check raised: this part stops too."""


class _SharedCheck:
    """The caller's check shared by the threads of one solve: called under a lock; once it
    has raised in one thread, every thread's next check stops that thread."""

    def __init__(self, check):
        self.check, self.failure = check, None
        self.lock = threading.Lock()

    def __call__(self):
        with self.lock:
            if self.failure is not None:
                raise _PartStopped()
            if self.check is None:
                return
            try:
                self.check()
            except BaseException as error:
                self.failure = error
                raise


def _spread(count, wanted):
    """Indices of up to ``wanted`` of ``count`` items, evenly spaced."""
    return np.unique(np.linspace(0, count - 1, min(count, wanted)).round().astype(int))


class RigidStart:
    """The frame problem with expression and gaze held: its steps are only the rotation,
    translation and focal columns (7 unknowns instead of 63, so each solver iteration costs
    a fraction of a full one)."""

    def __init__(self, problem):
        self.problem = problem
        E = problem.head.E
        self.columns = np.r_[E:E + 6, E + 10]  # rotation, translation, log focal
        self.robust_rows = problem.robust_rows

    def evaluate(self, state):
        r, J = self.problem.evaluate(state, rigid=True)
        return r, np.ascontiguousarray(J[..., self.columns])

    def step_bounds(self, state):
        low, high = self.problem.step_bounds(state)
        return low[:, self.columns], high[:, self.columns]

    def retract(self, state, delta, accept):
        full = np.zeros((len(delta), self.problem.P))
        full[:, self.columns] = delta
        return self.problem.retract(state, full, accept)


def fit_actor(detections, sizes, settings=None, focal_hints=None, model=None, progress=None, calibration="default",
              check=None, segments=None, depths=None, depth_calibration="default", eye_cues=None):
    """Fit the bundled head to every frame's landmarks.

    detections: per frame a [478, 2] array of pixel landmarks, or None (no usable face).
    sizes: per frame (width, height) in pixels. focal_hints: per frame a focal length in
    pixels or None (EXIF; a video uses the first hint for all frames). progress: called as
    ``progress(done, total)`` after each solver stage. calibration: a
    :class:`~.calibration.LandmarkCalibration`, ``"default"`` (the bundled one) or None
    (fit the vertices themselves). check: called before every solver iteration (a cancel
    token's check that raises stops the fit). segments: video, per frame the clip it comes
    from (temporal smoothness stays inside a clip; all clips share the focal length); None:
    one clip. depths: per frame MediaPipe's relative depth [478] (pixels, ``landmarks.Face.depth``)
    or None; None: landmarks only. depth_calibration: where MediaPipe's depth places the
    face points (a :class:`~.calibration.LandmarkCalibration`, ``"default"``: the bundled one, or
    None: where the landmark calibration does). eye_cues: per frame the image's eye cues [2]
    (``landmarks.Face.eye_cues``) or None; with them each blink also follows the closed eyes the
    image shows (:mod:`.eye_closure`, ``settings.eye_closure_weight``). A frame turned more than
    ``settings.far_eye_turn_deg`` from the camera gives its far eye the near eye's blink.
    Returns an :class:`ActorFit`.
    """
    from .calibration import DEPTH_PATH, load_calibration
    from .head_model import load_head_model

    settings = settings or FitSettings()
    model = model or load_head_model()
    if depth_calibration == "default":
        depth_calibration = load_calibration(DEPTH_PATH) if depths is not None and calibration is not None else None
    head = LinearHead(model, load_calibration() if calibration == "default" else calibration, depth_calibration)
    count = len(detections)
    hints = list(focal_hints) if focal_hints is not None else [None] * count
    usable = [i for i, d in enumerate(detections) if d is not None]
    identity = np.zeros(head.I)
    if not usable:
        return ActorFit(identity, [None] * count, model.identity_names, model.expression_names)
    detected = np.stack([np.asarray(detections[i], dtype=np.float64) for i in usable])
    size = np.array([sizes[i] for i in usable], dtype=np.float64)
    hint = np.array([hints[i] or default_focal(*sizes[i]) for i in usable])
    if settings.video:
        hint[:] = hint[0]
    depth = None
    if depths is not None:
        depth = np.stack([np.full(478, np.nan) if depths[i] is None else np.asarray(depths[i], dtype=np.float64)
                          for i in usable])
    stages, done = 2 * settings.rounds + 2, 0

    def report():
        nonlocal done
        done += 1
        if progress:
            progress(done, stages)

    def frames_problem(state, rows=slice(None), neighbours=None):
        """The frame problem of the usable frames ``rows``; ``neighbours``: ``_neighbours`` of
        the whole ``state`` (video; computed here when not given)."""
        if settings.video:
            previous, following, mask = neighbours or _neighbours(state, usable, segments)
            neighbours = (previous.select(rows), following.select(rows), mask[rows])
        return FrameProblem(head, identity, detected[rows], size[rows], settings, own_focal=not settings.video,
                            focal_hint=hint[rows], neighbours=neighbours,
                            depth=None if depth is None else depth[rows])

    def solve_frames(state, rigid=False):
        """Every frame's solve, the frames split over ``settings.threads`` threads. Given the
        identity and the neighbours' values (fixed during a solve) the frames are independent."""
        neighbours = _neighbours(state, usable, segments) if settings.video else None

        def batch(rows, part_check):
            problem = frames_problem(state, rows, neighbours)
            problem = RigidStart(problem) if rigid else problem
            return solve(problem, state.select(rows), scale=settings.robust_scale, robust_rows=problem.robust_rows,
                         iterations=settings.coarse_iterations if rigid else settings.iterations, check=part_check).state

        def part(rows, part_check):
            """One thread's share, in batches: a solve's arrays grow with its frames (a 64-frame
            Jacobian is ~40 MB, past the size the allocator reuses, and every evaluation
            faults its pages in afresh: 3x slower)."""
            pieces = np.array_split(rows, -(-len(rows) // max(1, settings.batch)))
            return FrameState.concatenate([batch(piece, part_check) for piece in pieces])

        parts = [rows for rows in np.array_split(np.arange(len(usable)), max(1, settings.threads)) if len(rows)]
        if len(parts) == 1:
            return part(parts[0], check)
        shared = _SharedCheck(check)
        with ThreadPoolExecutor(len(parts), thread_name_prefix="neural-face-fit") as pool:
            futures = [pool.submit(part, rows, shared) for rows in parts]
        if shared.failure is not None:  # (the pool has waited for every part)
            raise shared.failure  # the caller's own exception (a cancel), not the other parts' stops
        return FrameState.concatenate([f.result() for f in futures])  # any other error of a part is raised here

    state = _initial_state(head, identity, detected, size, hint)
    state = solve_frames(state, rigid=True)
    report()
    for _ in range(settings.rounds):
        state = solve_frames(state)
        report()
        chosen = _spread(len(usable), settings.identity_frames)
        fixed = IdentityProblem(head, state.select(chosen), detected[chosen], size[chosen], settings,
                                shared_focal=settings.video, focal_hint=hint[0])
        identity_state = solve(fixed, (identity[None], state.log_focal[:1].copy()), scale=settings.robust_scale,
                               robust_rows=fixed.robust_rows, iterations=settings.iterations, check=check).state
        identity = identity_state[0][0].copy()
        if settings.video:
            state.log_focal = np.full(len(usable), identity_state[1][0])
        report()
    state = solve_frames(state)
    report()
    actor = _results(model, head, identity, state, detected, size, usable, count, settings, frames_problem(state))
    from .eye_closure import EYE_CORNERS, copy_near_blinks, far_eyes, fuse_blinks

    far = far_eyes(actor.frames, model.eye_centre_mean.mean(0), settings.far_eye_turn_deg)
    if eye_cues is not None and settings.eye_closure_weight > 0:
        cues = np.array([np.full(len(EYE_CORNERS), np.nan) if c is None else c for c in eye_cues], dtype=np.float64)
        for eye in range(len(EYE_CORNERS)):
            cues[far == eye, eye] = np.nan  # a hidden eye's patch shows skin
        notes = fuse_blinks(actor.frames, cues, model.expression_names, settings.eye_closure_weight)
        actor.notes.extend(f"eye closure from the image: {note}" for note in notes)
    copied = copy_near_blinks(actor.frames, far, model.expression_names)
    if copied:
        actor.notes.append(f"eye closure: {copied} frame(s) turned more than {settings.far_eye_turn_deg:g} deg from the "
                           "camera: the far eye takes the near eye's blink")
    return actor


def _results(model, head, identity, state, detected, size, usable, count, settings, problem):
    residual, _ = problem.evaluate(state)
    landmark = residual[:, :2 * 478].reshape(len(usable), 478, 2) / problem.weights.reshape(len(usable), 478, 2)
    distance = np.linalg.norm(landmark, axis=-1) * (100.0 / np.maximum(interocular(detected), 1e-6))[:, None]
    frames = [None] * count
    flagged = []
    looks, _ = head.look_values(state.gaze)  # the eyeLook keys follow the fitted gaze
    for row, i in enumerate(usable):
        median = float(np.median(distance[row]))
        ok = bool(np.isfinite(median) and median <= settings.max_median_residual)
        frames[i] = FrameFit(expression=state.expression[row] + looks[row],
                             rotation=rotations.rotation_vector(state.turn[row] @ FRONTAL.T),
                             translation=state.translation[row].copy(), gaze=state.gaze[row].copy(),
                             focal=float(np.exp(state.log_focal[row])), size=tuple(int(v) for v in size[row]),
                             residual=median, converged=ok)
        if not ok:
            flagged.append(i)
    actor = ActorFit(identity, frames, model.identity_names, model.expression_names)
    if flagged:
        actor.warnings.append(f"{len(flagged)} frame(s) did not converge and are left out: "
                              + ", ".join(str(i) for i in flagged[:10]) + (" ..." if len(flagged) > 10 else ""))
    return actor
