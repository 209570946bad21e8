"""Smooth spatial fields over the head (pure numpy) used by the shape keys and skinning.

Every function takes vertex positions ``points`` [N, 3] (head frame, metres) and returns
weights [N] in 0..1 or displacements [N, 3] in metres. Landmark positions come from the
canonical face, so a field evaluated on mirrored points gives the mirrored field: the
Right shape keys are built that way from the Left ones (``mirrored``).
"""

import numpy as np

from . import canonical

MIRROR = np.array([-1.0, 1.0, 1.0])
JAW_PIVOT = np.array([0.0, 0.036, 0.196])  # hinge of the jaw (in front of the ears)
JAW_OPEN_ANGLE = 0.35  # radians the jaw turns for jawOpen = 1

_FACE = canonical.load_canonical_face()
LM = _FACE.vertices  # [468, 3] landmark positions, head frame


def smoothstep(x):
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


def band(x, start, end):
    """0 below ``start``, 1 above ``end``, smooth in between (start > end flips it)."""
    return smoothstep((np.asarray(x) - start) / (end - start))


def gauss(points, centre, sigma):
    """Gaussian bump [N]; sigma is a scalar or a per-axis [3] extent, metres."""
    d = (points - np.asarray(centre)) / np.asarray(sigma)
    return np.exp(-0.5 * (d * d).sum(1))


def mirrored(field_left):
    """The Right twin of a Left field: f_R(p) = M f_L(M p), M = diag(-1, 1, 1)."""
    def field_right(points, *args):
        return field_left(points * MIRROR, *args) * MIRROR
    return field_right


def _curve(indices):
    """A lid or lip contour as x-sorted arrays for interpolation by x."""
    pts = LM[list(indices)]
    order = np.argsort(pts[:, 0])
    return pts[order]


def along(points, contour):
    """Contour point [N, 3] at each point's x (clamped to the contour's ends)."""
    x = np.clip(points[:, 0], contour[0, 0], contour[-1, 0])
    return np.stack([np.interp(x, contour[:, 0], contour[:, k]) for k in range(3)], axis=1)


def outside_x(points, contour):
    """How far [N] each point lies beyond the contour's x range, metres."""
    return np.maximum(contour[0, 0] - points[:, 0], 0) + np.maximum(points[:, 0] - contour[-1, 0], 0)


UPPER_LID_L = _curve(canonical.EYE_LEFT_UPPER)
LOWER_LID_L = _curve(canonical.EYE_LEFT_LOWER)
EYE_CENTRE_L = (UPPER_LID_L.mean(0) + LOWER_LID_L.mean(0)) / 2
UPPER_LIP_IN = _curve(canonical.LIPS_INNER_UPPER)
LOWER_LIP_IN = _curve(canonical.LIPS_INNER_LOWER)


def eye_area_l(points):
    """Weight [N] of being near the left eye (fades over a few cm)."""
    reach = outside_x(points, UPPER_LID_L)
    dist = np.linalg.norm((points - EYE_CENTRE_L) * [0.6, 1.0, 1.0], axis=1)
    return (1 - band(reach, 0.0, 0.012)) * (1 - band(dist, 0.02, 0.032))


def upper_lid_l(points):
    """Weight [N] of the left upper lid: 1 on the lid contour, fading up to the brow."""
    up, low = along(points, UPPER_LID_L), along(points, LOWER_LID_L)
    height = (points[:, 2] - low[:, 2]) / np.maximum(up[:, 2] - low[:, 2], 1e-4)
    above = points[:, 2] - up[:, 2]
    w = band(height, 0.4, 0.9) * (1 - band(above, 0.002, 0.013))
    return w * eye_area_l(points)


def lower_lid_l(points):
    """Weight [N] of the left lower lid: 1 on the lid contour, fading to the cheek."""
    up, low = along(points, UPPER_LID_L), along(points, LOWER_LID_L)
    height = (points[:, 2] - low[:, 2]) / np.maximum(up[:, 2] - low[:, 2], 1e-4)
    below = low[:, 2] - points[:, 2]
    w = (1 - band(height, 0.1, 0.6)) * (1 - band(below, 0.002, 0.012))
    return w * eye_area_l(points)


def lid_gap_l(points):
    """Vector [N, 3] from the upper to the lower left lid contour at each x."""
    return along(points, LOWER_LID_L) - along(points, UPPER_LID_L)


def mouth_split(points):
    """Weight [N] of the lower jaw side: 1 below the lip line (and the surface from the
    lip line back to the jaw hinge), 0 above, with a thin blend band at the lips."""
    mid = (along(points, UPPER_LIP_IN) + along(points, LOWER_LIP_IN)) / 2
    # separating surface: through the jaw hinge line and the lip line
    front = mid[:, 1]
    t = (points[:, 1] - JAW_PIVOT[1]) / np.minimum(front - JAW_PIVOT[1], -1e-3)
    height = JAW_PIVOT[2] + (mid[:, 2] - JAW_PIVOT[2]) * t
    lateral = outside_x(points, UPPER_LIP_IN)
    width = 0.0018 + 0.5 * lateral
    return 1 - band(points[:, 2] - height, -width, width)


def jaw_weight(points):
    """Skinning weight [N] of the jaw bone: the lower face, chin and lower lip, but not
    the neck below the jaw line nor anything behind the hinge."""
    split = mouth_split(points)
    # jaw line: from below the chin back up to the jaw angle; the neck is under it
    chin = LM[canonical.CHIN] + [0.0, 0.006, -0.002]
    angle = np.array([0.0, 0.030, 0.140])
    direction = (angle - chin)[1:] / np.linalg.norm((angle - chin)[1:])
    normal = np.array([-direction[1], direction[0]])  # points up-forward
    if normal[1] < 0:
        normal = -normal
    above_jawline = (points[:, 1:] - chin[1:]) @ normal
    in_front = 1 - band(points[:, 1], JAW_PIVOT[1] - 0.012, JAW_PIVOT[1] + 0.004)
    return split * band(above_jawline, -0.008, 0.006) * in_front


def rotate_x(points, pivot, angle):
    """Points [N, 3] turned by ``angle`` radians about the X axis through ``pivot``."""
    c, s = np.cos(angle), np.sin(angle)
    p = points - pivot
    return pivot + np.stack([p[:, 0], c * p[:, 1] - s * p[:, 2], s * p[:, 1] + c * p[:, 2]], 1)


def mouth_area(points, scale=1.0):
    """Weight [N] around the lips (the whole mouth region), ``scale`` widens it."""
    centre = (LM[canonical.UPPER_LIP_INNER] + LM[canonical.LOWER_LIP_INNER]) / 2
    return gauss(points, centre, np.array([0.024, 0.02, 0.014]) * scale)


def corner_l(points, sigma=0.011):
    """Weight [N] around the left mouth corner."""
    return gauss(points, LM[canonical.MOUTH_CORNER_LEFT], sigma)


def front_only(points):
    """Weight [N]: 1 on the face, 0 behind the ears (keeps fields off the skull's back)."""
    return 1 - band(points[:, 1], 0.0, 0.03)
