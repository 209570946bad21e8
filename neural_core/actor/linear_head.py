"""The bundled head's landmarks as the fitter sees them: affine in the identity and ARKit keys.

With the jaw and neck bones at rest (jaw opening comes from the ``jawOpen`` key, head
motion from the rigid head pose), the 468 face landmarks are *affine* in the identity and
expression keys (:class:`LinearHead`); only the 10 iris points depend on the gaze. The
per-key tables the fit's priors use (:data:`ANTAGONISTS`, :data:`PRIOR_SCALE`) live here
with the keys they name.
"""

import numpy as np

from . import rotations
from .head_model import BONES, EYE_SIDES, NUM_FACE, NUM_LANDMARKS

# ARKit's eyeLook* values describe the gaze: 1 = the eye turned this far (radians), as the
# bundled head's eye rig reads them (25 degrees up/down, 30 degrees in/out)
LOOK_FULL_UP = np.radians(25.0)
LOOK_FULL_SIDE = np.radians(30.0)
# keys that rarely act together; co-activation is penalised (a and b -> weight * a * b)
ANTAGONISTS = (("eyeBlinkLeft", "eyeWideLeft"), ("eyeBlinkRight", "eyeWideRight"), ("jawLeft", "jawRight"),
               ("mouthLeft", "mouthRight"), ("mouthSmileLeft", "mouthFrownLeft"),
               ("mouthSmileRight", "mouthFrownRight"), ("browDownLeft", "browOuterUpLeft"),
               ("browDownRight", "browOuterUpRight"), ("mouthPucker", "mouthStretchLeft"),
               ("mouthPucker", "mouthStretchRight"))
# per-key scale of the expression prior (FitSettings.expression_prior; others 1). Most keys move
# the landmarks less than MediaPipe misplaces them, so a strong prior keeps them from soaking
# up its errors; the large, frequent actions that landmarks see well (blinks, the jaw) get a
# weak one; keys landmarks barely see at all get more (docs/actor.md, "The expression prior")
PRIOR_SCALE = {"eyeBlinkLeft": 0.05, "eyeBlinkRight": 0.05, "jawOpen": 0.05, "tongueOut": 4.0, "cheekPuff": 3.0}


def gaze_pose(gaze):
    """[B, 4] (eye.L X, Z, eye.R X, Z) -> {bone: [B, 3]} Euler angles for the head model."""
    zero = np.zeros(len(gaze))
    return {"eye.L": np.stack([gaze[:, 0], zero, gaze[:, 1]], -1),
            "eye.R": np.stack([gaze[:, 2], zero, gaze[:, 3]], -1)}


class LinearHead:
    """The head model with the jaw and neck at rest: face points affine in the keys.

    With a :class:`~.calibration.LandmarkCalibration` the points are where MediaPipe would
    see the landmarks (vertex + offset + per-key change); without one, the vertices. A depth
    calibration does the same for the points MediaPipe's relative depth is compared with
    (``depth_mean``, ``depth_expression_basis``; without one, the same points as the landmarks').
    """

    def __init__(self, model, calibration=None, depth_calibration=None):
        self.model = model
        self.I, self.E = model.num_identity, model.num_expression
        self.mean = model.face_mean  # [468, 3]
        self.identity_basis = np.ascontiguousarray(model.face_identity.transpose(1, 2, 0))  # [468, 3, I]
        self.expression_basis = np.ascontiguousarray(model.face_expression.transpose(1, 2, 0))  # [468, 3, E]
        self.iris_offset = np.zeros((len(EYE_SIDES) * 5, 3))
        self.reliability = np.ones(NUM_LANDMARKS) if calibration is None else calibration.reliability()
        self.calibrated = calibration is not None
        if calibration is not None:
            if tuple(calibration.expression_names) != tuple(model.expression_names):
                raise ValueError("the landmark calibration's expression keys differ from the head model's")
            self.mean = self.mean + calibration.offset[:NUM_FACE]
            self.expression_basis = self.expression_basis + calibration.per_key[:, :NUM_FACE].transpose(1, 2, 0)
            self.iris_offset = calibration.offset[np.concatenate([model.iris_landmarks[e] for e in
                                                                  range(len(EYE_SIDES))])]
        self.iris_rows = np.concatenate([model.iris_landmarks[e] for e in range(len(EYE_SIDES))])
        # where MediaPipe's relative depth places the face points: the same points unless a
        # depth calibration says otherwise
        self.depth_mean, self.depth_expression_basis = self.mean, self.expression_basis
        if depth_calibration is not None:
            if tuple(depth_calibration.expression_names) != tuple(model.expression_names):
                raise ValueError("the depth calibration's expression keys differ from the head model's")
            self.depth_mean = model.face_mean + depth_calibration.offset[:NUM_FACE]
            self.depth_expression_basis = (np.ascontiguousarray(model.face_expression.transpose(1, 2, 0))
                                           + depth_calibration.per_key[:, :NUM_FACE].transpose(1, 2, 0))
        names = list(model.expression_names)
        # eyeLook keys per eye: (up, down, toward the head's +X, toward its -X)
        self.look = {side: [names.index(f"eyeLook{d}{side}") for d in
                            (("Up", "Down", "Out", "In") if side == "Left" else ("Up", "Down", "In", "Out"))]
                     for side in ("Left", "Right")}
        self.look_columns = np.array(self.look["Left"] + self.look["Right"])
        self.antagonists = np.array([(names.index(a), names.index(b)) for a, b in ANTAGONISTS])
        self.prior_scale = np.array([PRIOR_SCALE.get(n, 1.0) for n in names])

    def look_values(self, gaze):
        """(values [B, E] holding only the eyeLook keys, d values / d gaze [B, E, 4]).

        The eyeLook keys follow the gaze (eye.L X, Z, eye.R X, Z): X is up (+) / down,
        Z turns towards the head's +X (the left eye's out, the right eye's in).
        """
        B = len(gaze)
        values = np.zeros((B, self.E))
        jacobian = np.zeros((B, self.E, 4))
        for e, side in enumerate(("Left", "Right")):
            up, down, plus_x, minus_x = self.look[side]
            for column, angle, full, sign in ((up, gaze[:, 2 * e], LOOK_FULL_UP, 1), (down, gaze[:, 2 * e], LOOK_FULL_UP, -1),
                                              (plus_x, gaze[:, 2 * e + 1], LOOK_FULL_SIDE, 1),
                                              (minus_x, gaze[:, 2 * e + 1], LOOK_FULL_SIDE, -1)):
                raw = sign * angle / full
                values[:, column] = np.clip(raw, 0.0, 1.0)
                inside = (raw > 0) & (raw < 1)
                jacobian[:, column, 2 * e + (0 if column in (up, down) else 1)] = np.where(inside, sign / full, 0.0)
        return values, jacobian

    def face(self, identity, expression):
        """identity [B, I], expression [B, E] -> [B, 468, 3] head-frame points."""
        return (self.mean + combine(self.identity_basis, identity) + combine(self.expression_basis, expression))

    def iris(self, identity, gaze):
        """(points [B, 10, 3], d points / d identity [B, 10, 3, I]) in ``iris_rows`` order."""
        m = self.model
        points, jacobian = [], []
        pose = gaze_pose(gaze)
        for e, side in enumerate(EYE_SIDES):
            rest = m.bone_rest[BONES.index(f"eye.{side}")]
            turn = rest @ rotations.euler_xyz(pose[f"eye.{side}"]) @ rest.T  # [B, 3, 3]
            turned = np.einsum("bij,pj->bpi", turn, m.eye_points)  # [B, 5, 3]
            centre = m.eye_centre_mean[e] + identity @ m.eye_centre_identity[:, e]  # [B, 3]
            scale = 1.0 + identity @ m.eye_scale_identity  # [B]
            points.append(centre[:, None] + scale[:, None, None] * turned)
            jacobian.append(m.eye_centre_identity[:, e].T[None, None] + turned[..., None] * m.eye_scale_identity)
        return np.concatenate(points, 1) + self.iris_offset, np.concatenate(jacobian, 1)

    def points(self, identity, expression, gaze):
        """[B, 478, 3] head-frame landmarks (MediaPipe order)."""
        out = np.empty((len(expression), NUM_LANDMARKS, 3))
        out[:, :NUM_FACE] = self.face(identity, expression)
        out[:, self.iris_rows] = self.iris(identity, gaze)[0]
        return out


def combine(basis, values):
    """basis [N, 3, K] weighted by values [B, K] -> [B, N, 3] (one BLAS product)."""
    N = basis.shape[0]
    return (values @ basis.reshape(N * 3, -1).T).reshape(len(values), N, 3)
