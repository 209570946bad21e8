"""The least-squares problems of fitting the bundled head to detected landmarks.

:mod:`.fit` runs them with :mod:`.solver`. Residuals are in percent of the detected
inter-ocular distance (IOD), so 1.0 = 1% IOD whatever the image size.

The head itself, its landmarks affine in the keys, is :class:`.linear_head.LinearHead`.

Camera: OpenCV axes (+X right, +Y down, +Z forward), pinhole, square pixels, principal
point at the image centre. The head frame maps to the camera by ``R``, ``t``
(``x_cam = R x_head + t``); ``FRONTAL`` is the upright head facing the camera.
"""

import numpy as np

from . import rotations
from .head_model import NUM_FACE, NUM_LANDMARKS
from .linear_head import combine

# head frame (+Z up, face towards -Y, +X the head's left) -> camera axes, facing the camera
FRONTAL = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])
# MediaPipe's face-outline landmarks: they follow the silhouette, not fixed vertices
FACE_OVAL = (10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400, 377,
             152, 148, 176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109)
EYE_CORNERS = (33, 263)  # outer eye corners; their distance is the inter-ocular distance (IOD)
GAZE_LIMIT = 0.6  # radians: eye bone X / Z angles are bounded to +-this
GAZE_STEP = 1e-6  # radians: forward-difference step for the iris points' gaze derivative


def interocular(points):
    """[..., 478, 2] -> [...] distance between the outer eye corners (pixels)."""
    return np.linalg.norm(points[..., EYE_CORNERS[0], :] - points[..., EYE_CORNERS[1], :], axis=-1)


def project(points, focal, centre):
    """[B, N, 3] camera points, focal [B], principal point [B, 2] -> [B, N, 2] pixels."""
    return focal[:, None, None] * points[..., :2] / points[..., 2:3] + centre[:, None]


def projection_jacobian(points, focal):
    """d pixel / d camera point: [B, N, 3] -> [B, N, 2, 3]."""
    z = points[..., 2]
    out = np.zeros(points.shape[:-1] + (2, 3))
    out[..., 0, 0] = out[..., 1, 1] = focal[:, None] / z
    out[..., :, 2] = -focal[:, None, None] * points[..., :2] / (z * z)[..., None]
    return out


def skew_rows(q, rows, out=None):
    """Rows ``a`` of ``rows`` [..., R, 3] times ``-[q]x`` (the derivative of ``exp(w) q`` at
    w = 0): ``q x a`` per row, written into ``out`` when given (np.cross is 3x slower)."""
    out = np.empty(rows.shape) if out is None else out
    q = q[..., None, :]
    out[..., 0] = q[..., 1] * rows[..., 2] - q[..., 2] * rows[..., 1]
    out[..., 1] = q[..., 2] * rows[..., 0] - q[..., 0] * rows[..., 2]
    out[..., 2] = q[..., 0] * rows[..., 1] - q[..., 1] * rows[..., 0]
    return out


def _per_landmark(rows, basis):
    """rows [B, N, 2, 3] times basis [N, 3, K] per landmark -> [B, N, 2, K] (batched BLAS)."""
    B, N = rows.shape[:2]
    stacked = np.ascontiguousarray(rows.transpose(1, 0, 2, 3)).reshape(N, B * 2, 3)
    return (stacked @ basis).reshape(N, B, 2, -1).transpose(1, 0, 2, 3)


def landmark_weights(outline_weight, detected, reliability=None):
    """[B, 956] per-row weight, scaled to percent of the IOD: the calibration's reliability of
    each landmark when given, else 1 with the outline rows down-weighted."""
    if reliability is not None:
        weights = np.asarray(reliability, dtype=np.float64)
    else:
        weights = np.ones(NUM_LANDMARKS)
        weights[list(FACE_OVAL)] = outline_weight
    scale = 100.0 / np.maximum(interocular(detected), 1e-6)  # [B]
    return np.repeat(weights, 2)[None] * scale[:, None]


def depth_inputs(settings, depth, detected):
    """(rows: the face landmarks whose depth the fit uses, MediaPipe's depth of those rows about
    its mean [B, D], weights [B, 1]), or (None, None, None) when no depth is given or its
    weight is 0; a frame without depth (NaN) weighs 0."""
    if depth is None or settings.depth_weight <= 0:
        return None, None, None
    rows = np.arange(0, NUM_FACE, settings.depth_stride)
    chosen = np.asarray(depth, dtype=np.float64)[:, rows]
    have = np.isfinite(chosen).all(1)
    centred = np.where(have[:, None], chosen - np.nanmean(chosen, 1, keepdims=True), 0.0)
    weights = np.where(have, settings.depth_weight * 100.0 / np.maximum(interocular(detected), 1e-6), 0.0)
    return rows, centred, weights[:, None]


def view_axis(detected, centre, focal):
    """[B, 3] unit camera ray through the centre of each frame's detected face points
    (detected [B, 478, 2] pixels, principal point centre [B, 2], focal [B] pixels)."""
    ray = np.concatenate([(detected[:, :NUM_FACE].mean(1) - centre) / focal[:, None], np.ones((len(focal), 1))], 1)
    return ray / np.linalg.norm(ray, axis=1, keepdims=True)


def relative_depth(z, dz, focal, target, weights):
    """Residuals [B, D] of depths ``z`` [B, D] (metres, along the line of sight) about their
    mean, in pixels at the mean depth (``focal`` [B] / mean z), against ``target`` [B, D],
    times ``weights`` [B, 1].
    ``dz`` [B, D, K]: d z / d unknowns, turned in place into the residuals' Jacobian (no
    temporaries of its size). Also returns the weighted relative depth, the residuals'
    derivative with respect to log focal."""
    mean = z.mean(1, keepdims=True)
    relative = focal[:, None] * (z - mean) / mean  # pixels at the mean depth
    # d (f (z_i - m) / m) = f/m (dz_i - dm) - f (z_i - m)/m^2 dm = (f/m) (dz_i - (z_i / m) dm)
    mean_dz = dz.mean(1)  # [B, K]
    for b in range(len(z)):  # per frame: [D, K] blocks stay in cache
        dz[b] -= np.outer(z[b] / mean[b], mean_dz[b])
        dz[b] *= weights[b] * focal[b] / mean[b]
    return weights * (relative - target), weights * relative


class FrameState:
    """Per-frame unknowns of a batch of B frames (arrays, copied on every change)."""

    def __init__(self, expression, turn, translation, gaze, log_focal):
        self.expression = expression  # [B, E] ARKit values in [0, 1]
        self.turn = turn  # [B, 3, 3] head frame -> camera rotation
        self.translation = translation  # [B, 3] head origin in the camera, metres
        self.gaze = gaze  # [B, 4] eye.L X, Z, eye.R X, Z (radians)
        self.log_focal = log_focal  # [B] log of the focal length in pixels

    def arrays(self):
        return self.expression, self.turn, self.translation, self.gaze, self.log_focal

    def select(self, keep):
        return FrameState(*(a[keep] for a in self.arrays()))

    @staticmethod
    def concatenate(states):
        """One state of the frames of ``states``, in order."""
        return FrameState(*(np.concatenate(parts) for parts in zip(*(s.arrays() for s in states))))


class FrameProblem:
    """Every frame's expression, pose, gaze (and, for photos, focal) with the identity fixed.

    A step ``delta`` is ``[expression (E), rotation (3, applied as exp(w) R), translation (3),
    gaze (4), log focal (1)]``; the focal column is held at 0 unless ``own_focal`` (photos).
    ``neighbours``: (previous, next) :class:`FrameState` of the same frames' video
    neighbours with a [B, 2] mask of which exist (temporal smoothness), or None.
    """

    def __init__(self, head, identity, detected, sizes, settings, *, own_focal, focal_hint, neighbours=None,
                 depth=None):
        self.head, self.settings, self.own_focal = head, settings, own_focal
        self.identity = np.broadcast_to(identity, (len(detected), head.I))
        self.detected = np.asarray(detected, dtype=np.float64)  # [B, 478, 2]
        self.centre = np.asarray(sizes, dtype=np.float64) / 2.0  # [B, 2]
        self.weights = landmark_weights(settings.outline_weight, self.detected,
                                        head.reliability if head.calibrated else None)  # [B, 956]
        self.log_focal_hint = np.log(np.asarray(focal_hint, dtype=np.float64))  # [B]
        self.neighbours = neighbours
        self.face_identity = head.face(self.identity, np.zeros((len(detected), head.E)))  # [B, 468, 3]
        E = head.E
        self.P = E + 3 + 3 + 4 + 1
        blocks = [(slice(0, E), settings.smooth_expression), (slice(E, E + 3), settings.smooth_rotation),
                  (slice(E + 3, E + 6), settings.smooth_translation), (slice(E + 6, E + 10), settings.smooth_gaze)]
        self.smooth_blocks = blocks if neighbours is not None else []
        self.depth_rows, self.depth, self.depth_weights = depth_inputs(settings, depth, self.detected)
        if self.depth_rows is not None:
            # MediaPipe's depth runs along the line of sight to the face, not the camera's axis
            # (off-centre faces would read as pitched or turned): the ray through the detected
            # face's centre, at the hinted focal length (data, so the Jacobian stays exact)
            self.depth_axis = view_axis(self.detected, self.centre, np.exp(self.log_focal_hint))  # [B, 3]
            self.depth_basis = head.depth_expression_basis[self.depth_rows]  # [D, 3, E]
            self.depth_identity = (head.depth_mean[self.depth_rows]
                                   + combine(head.identity_basis[self.depth_rows], self.identity))  # [B, D, 3]
        depth_count = 0 if self.depth_rows is None else len(self.depth_rows)
        self.robust_rows = slice(0, 2 * NUM_LANDMARKS + depth_count)

    def _points(self, state):
        points = np.empty((len(state.expression), NUM_LANDMARKS, 3))
        looks, _ = self.head.look_values(state.gaze)
        points[:, :NUM_FACE] = self.face_identity + combine(self.head.expression_basis, state.expression + looks)
        iris, _ = self.head.iris(self.identity, state.gaze)
        points[:, self.head.iris_rows] = iris
        return points

    def evaluate(self, state, rigid=False):
        """(residuals [B, M], Jacobian [B, M, P]); ``rigid``: the expression and gaze columns
        of the Jacobian are left at 0 (for :class:`RigidStart`, which does not use them)."""
        head, s = self.head, self.settings
        B, E = len(state.expression), head.E
        local = self._points(state)
        cam = local @ np.swapaxes(state.turn, 1, 2) + state.translation[:, None]
        focal = np.exp(state.log_focal)
        pixels = project(cam, focal, self.centre)
        w = self.weights.reshape(B, NUM_LANDMARKS, 2)
        pairs = head.antagonists
        rows = [((pixels - self.detected) * w).reshape(B, -1), s.expression_prior * head.prior_scale * state.expression,
                s.antagonist_prior * state.expression[:, pairs[:, 0]] * state.expression[:, pairs[:, 1]],
                s.gaze_prior * state.gaze,
                (s.focal_prior * (state.log_focal - self.log_focal_hint))[:, None]]
        d_proj = projection_jacobian(cam, focal) * w[..., None]  # [B, 478, 2, 3]
        d_local = d_proj @ state.turn[:, None]  # d pixel / d head-frame point [B, 478, 2, 3]
        D = 0 if self.depth_rows is None else len(self.depth_rows)
        J = np.zeros((B, 2 * NUM_LANDMARKS + D + E + len(pairs) + 4 + 1, self.P))
        landmark = J[:, :2 * NUM_LANDMARKS].reshape(B, NUM_LANDMARKS, 2, self.P)
        skew_rows(cam - state.translation[:, None], d_proj, out=landmark[..., E:E + 3])
        landmark[..., E + 3:E + 6] = d_proj
        looks, look_jacobian = head.look_values(state.gaze)
        if not rigid:
            landmark[:, :NUM_FACE, :, :E] = _per_landmark(d_local[:, :NUM_FACE], head.expression_basis)
            self._gaze_columns(state, local, d_local, look_jacobian, landmark, landmark[..., E + 6:E + 10])
        if self.own_focal:
            landmark[..., E + 10] = (pixels - self.centre[:, None]) * w
        start = 2 * NUM_LANDMARKS
        if D:
            rows.insert(1, self._depth(state, focal, looks, None if rigid else look_jacobian, J[:, start:start + D]))
            start += D
        J[:, start:start + E, :E] = np.diag(head.prior_scale) * s.expression_prior
        rows_pairs = np.arange(len(pairs)) + start + E
        J[:, rows_pairs, pairs[:, 0]] = s.antagonist_prior * state.expression[:, pairs[:, 1]]
        J[:, rows_pairs, pairs[:, 1]] = s.antagonist_prior * state.expression[:, pairs[:, 0]]
        rows_gaze = start + E + len(pairs) + np.arange(4)
        J[:, rows_gaze, E + 6 + np.arange(4)] = s.gaze_prior
        J[:, -1, E + 10] = s.focal_prior
        if self.neighbours is not None:
            r_smooth, J_smooth = self._smoothness(state)
            rows.append(r_smooth)
            J = np.concatenate([J, J_smooth], 1)
        return np.concatenate(rows, 1), J

    def _gaze_columns(self, state, local, d_local, look_jacobian, landmark, out):
        """d pixel / d gaze [B, 478, 2, 4] into ``out`` (zeros): the iris points turn with the
        eyes (forward differences), and the eyeLook keys follow the gaze (their lid motion is
        the gaze's; ``landmark`` [B, 478, 2, P] holds the expression columns)."""
        head = self.head
        iris_rows = head.iris_rows
        base = local[:, iris_rows]
        block = np.empty((len(local), len(iris_rows), 2, 4))
        for k in range(4):
            moved = state.gaze.copy()
            moved[:, k] += GAZE_STEP
            shift = (head.iris(self.identity, moved)[0] - base) / GAZE_STEP  # [B, 10, 3]
            block[..., k] = (d_local[:, iris_rows] @ shift[..., None])[..., 0]
        out[:, iris_rows] = block
        cols = head.look_columns  # d pixel / d those keys (already in ``landmark``) times d keys / d gaze
        out[:, :NUM_FACE] += landmark[:, :NUM_FACE][..., cols] @ look_jacobian[:, None, cols]

    def _depth(self, state, focal, looks, look_jacobian, jacobian):
        """Residuals [B, D] of the chosen landmarks' depth about their mean, in pixels at the
        mean depth (``focal / mean z``), against MediaPipe's; their Jacobian [B, D, P] is
        written into ``jacobian`` (zeros; the expression and gaze columns left at 0 when
        ``look_jacobian`` is None). The points are the head's depth points
        (:attr:`LinearHead.depth_mean`), face only; depth is along :attr:`depth_axis`."""
        head, E = self.head, self.head.E
        basis, axis = self.depth_basis, self.depth_axis  # [D, 3, E], [B, 3]
        turned = (self.depth_identity + combine(basis, state.expression + looks)) @ np.swapaxes(state.turn, 1, 2)
        z = turned @ axis[..., None]  # [B, D, 1] depth along the axis (plus the translation's, below)
        z = z[..., 0] + (state.translation * axis).sum(1, keepdims=True)
        dz = jacobian  # first d z / d step, then scaled in place (no temporaries of this size)
        a = axis[:, None]  # d z / d w of exp(w) R: turned x axis (see skew_rows)
        dz[..., E] = turned[..., 1] * a[..., 2] - turned[..., 2] * a[..., 1]
        dz[..., E + 1] = turned[..., 2] * a[..., 0] - turned[..., 0] * a[..., 2]
        dz[..., E + 2] = turned[..., 0] * a[..., 1] - turned[..., 1] * a[..., 0]
        dz[..., E + 3:E + 6] = a
        if look_jacobian is not None:
            toward = (axis[:, None] @ state.turn)[:, 0]  # [B, 3] d z / d head-frame point
            dz[..., :E] = np.tensordot(toward, basis, axes=([1], [1]))
            cols = head.look_columns
            dz[..., E + 6:E + 10] = dz[..., cols] @ look_jacobian[:, cols]
        residual, weighted_relative = relative_depth(z, dz, focal, self.depth, self.depth_weights)
        if self.own_focal:
            dz[..., E + 10] = weighted_relative
        return residual

    def _smoothness(self, state):
        """Residuals towards the previous and next frame (zero where there is none)."""
        B = len(state.expression)
        parts, jacobians = [], []
        mask = self.neighbours[2]
        for side, other in enumerate(self.neighbours[:2]):
            on = mask[:, side][:, None]
            relative = rotations.rotation_vector(np.einsum("bij,bkj->bik", state.turn, other.turn))
            values = [state.expression - other.expression, relative, state.translation - other.translation,
                      state.gaze - other.gaze]
            for (block, weight), value in zip(self.smooth_blocks, values):
                parts.append(weight * value * on)
                width = block.stop - block.start
                jac = np.zeros((B, width, self.P))
                jac[:, :, block] = np.eye(width) * weight * on[..., None]
                jacobians.append(jac)
        return np.concatenate(parts, 1), np.concatenate(jacobians, 1)

    def step_bounds(self, state):
        B, E = len(state.expression), self.head.E
        low, high = np.full((B, self.P), -np.inf), np.full((B, self.P), np.inf)
        low[:, :E], high[:, :E] = -state.expression, 1.0 - state.expression
        low[:, self.head.look_columns] = high[:, self.head.look_columns] = 0.0  # set by the gaze
        low[:, E + 5] = 0.05 - state.translation[:, 2]  # stay in front of the camera
        low[:, E + 6:E + 10], high[:, E + 6:E + 10] = -GAZE_LIMIT - state.gaze, GAZE_LIMIT - state.gaze
        if self.own_focal:
            size = 2.0 * self.centre.max(1)
            low[:, E + 10] = np.log(0.2 * size) - state.log_focal
            high[:, E + 10] = np.log(20.0 * size) - state.log_focal
        else:
            low[:, E + 10] = high[:, E + 10] = 0.0
        return low, high

    def retract(self, state, delta, accept):
        E = self.head.E
        a = accept[:, None]
        turn = np.einsum("bij,bjk->bik", rotations.axis_angle(delta[:, E:E + 3]), state.turn)
        return FrameState(
            expression=np.where(a, np.clip(state.expression + delta[:, :E], 0.0, 1.0), state.expression),
            turn=np.where(a[..., None], turn, state.turn),
            translation=np.where(a, state.translation + delta[:, E + 3:E + 6], state.translation),
            gaze=np.where(a, np.clip(state.gaze + delta[:, E + 6:E + 10], -GAZE_LIMIT, GAZE_LIMIT), state.gaze),
            log_focal=np.where(accept, state.log_focal + delta[:, E + 10], state.log_focal))


class IdentityProblem:
    """The identity keys (and a video's shared ``log focal``) over frames held fixed: one
    problem (batch of 1) whose residual rows are every given frame's landmarks.

    ``frames``: a :class:`FrameState` of F frames, with their detections [F, 478, 2] and
    image sizes [F, 2]. The state is ``(identity [1, I], log_focal [1])``. (MediaPipe's depth
    is not used here: it did not move the identity's figures, docs/actor.md.)
    """

    def __init__(self, head, frames, detected, sizes, settings, *, shared_focal, focal_hint=None):
        self.head, self.frames, self.settings, self.shared_focal = head, frames, settings, shared_focal
        self.detected = np.asarray(detected, dtype=np.float64)
        self.centre = np.asarray(sizes, dtype=np.float64) / 2.0
        self.weights = landmark_weights(settings.outline_weight, self.detected,
                                        head.reliability if head.calibrated else None)
        self.log_focal_hint = np.log(focal_hint) if focal_hint else 0.0
        F = len(self.detected)
        self.robust_rows = slice(0, F * 2 * NUM_LANDMARKS)
        looks, _ = head.look_values(frames.gaze)
        self.expression_part = combine(head.expression_basis, frames.expression + looks)

    def evaluate(self, state):
        identity, log_focal = state
        head, s, frames = self.head, self.settings, self.frames
        F, I = len(self.detected), head.I
        ident = np.broadcast_to(identity[0], (F, I))
        local = np.empty((F, NUM_LANDMARKS, 3))
        local[:, :NUM_FACE] = head.face(ident, np.zeros((F, head.E))) + self.expression_part
        iris, d_iris = head.iris(ident, frames.gaze)
        local[:, head.iris_rows] = iris
        cam = local @ np.swapaxes(frames.turn, 1, 2) + frames.translation[:, None]
        focal = np.exp(log_focal[0]) * np.ones(F) if self.shared_focal else np.exp(frames.log_focal)
        pixels = project(cam, focal, self.centre)
        w = self.weights.reshape(F, NUM_LANDMARKS, 2)
        d_local = (projection_jacobian(cam, focal) * w[..., None]) @ frames.turn[:, None]
        J = np.zeros((F, NUM_LANDMARKS, 2, I + 1))
        J[:, :NUM_FACE, :, :I] = _per_landmark(d_local[:, :NUM_FACE], head.identity_basis)
        J[:, head.iris_rows, :, :I] = d_local[:, head.iris_rows] @ d_iris
        if self.shared_focal:
            J[..., I] = (pixels - self.centre[:, None]) * w
        rows = [((pixels - self.detected) * w).reshape(-1), s.identity_prior * identity[0],
                [s.focal_prior * (log_focal[0] - self.log_focal_hint) if self.shared_focal else 0.0]]
        prior = np.zeros((I + 1, I + 1))
        prior[:I, :I] = np.eye(I) * s.identity_prior
        prior[I, I] = s.focal_prior if self.shared_focal else 0.0
        return np.concatenate(rows)[None], np.concatenate([J.reshape(-1, I + 1), prior])[None]

    def step_bounds(self, state):
        identity, log_focal = state
        I = self.head.I
        low, high = np.empty((1, I + 1)), np.empty((1, I + 1))
        low[0, :I], high[0, :I] = -1.0 - identity[0], 1.0 - identity[0]
        if self.shared_focal:
            size = 2.0 * self.centre.max()
            low[0, I], high[0, I] = np.log(0.2 * size) - log_focal[0], np.log(20.0 * size) - log_focal[0]
        else:
            low[0, I] = high[0, I] = 0.0
        return low, high

    def retract(self, state, delta, accept):
        identity, log_focal = state
        if not accept[0]:
            return state
        I = self.head.I
        return np.clip(identity + delta[:, :I], -1.0, 1.0), log_focal + delta[:, I]
