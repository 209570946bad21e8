"""The closed head's outer shape as a distance along rays from one centre point.

The skull (an ellipsoid) and the neck (a vertical elliptic cylinder capped at the neck
base) are both convex and both contain ``RAY_CENTRE``, so their union is star-shaped from
it: every ray leaves the surface exactly once. ``radius`` gives that exit distance with
a soft maximum, so the skull-neck junction is rounded, plus a bump for each ear.
All values are metres in the head frame (+Z up, face towards -Y, origin at the neck base).
"""

import numpy as np

RAY_CENTRE = np.array([0.0, 0.040, 0.210])  # inside skull and neck
SKULL_CENTRE = np.array([0.0, 0.050, 0.230])
SKULL_AXES = np.array([0.078, 0.100, 0.110])  # semi-axes: half width, half length, half height
NECK_AXIS_Y = 0.045  # the neck's vertical axis runs through (0, NECK_AXIS_Y)
NECK_AXES = np.array([0.054, 0.056])  # semi-axes of the neck section along X and Y
EAR_CENTRE_YZ = np.array([0.048, 0.205])  # depth and height of each ear's centre
EAR_SIGMA_YZ = np.array([0.012, 0.024])  # extent of the ear bump in depth and height
EAR_HEIGHT = 0.010  # how far the ear stands out from the skull
SOFTNESS = 10.0  # exponent of the soft maximum between skull and neck


def _ray_ellipsoid(origin, directions, centre, axes):
    """Exit distance [N] along unit rays [N, 3] from a point inside an ellipsoid."""
    o = (origin - centre) / axes
    d = directions / axes
    a = (d * d).sum(1)
    b = 2.0 * (d @ o)
    c = o @ o - 1.0
    return (-b + np.sqrt(b * b - 4 * a * c)) / (2 * a)


def _ray_neck(origin, directions):
    """Exit distance [N] from the neck cylinder (0 for rays pointing upwards)."""
    o = (origin[:2] - np.array([0.0, NECK_AXIS_Y])) / NECK_AXES
    d = directions[:, :2] / NECK_AXES
    a = np.maximum((d * d).sum(1), 1e-12)
    b = 2.0 * (d @ o)
    c = o @ o - 1.0
    side = (-b + np.sqrt(b * b - 4 * a * c)) / (2 * a)
    down = directions[:, 2] < -1e-9
    cap = np.where(down, -origin[2] / np.where(down, directions[:, 2], -1.0), 0.0)
    return np.where(down, np.minimum(side, cap), 0.0)


def radius(directions):
    """Distance [N] from ``RAY_CENTRE`` to the head surface along unit rays [N, 3]."""
    directions = np.atleast_2d(np.asarray(directions, dtype=np.float64))
    skull = _ray_ellipsoid(RAY_CENTRE, directions, SKULL_CENTRE, SKULL_AXES)
    neck = _ray_neck(RAY_CENTRE, directions)
    r = (skull ** SOFTNESS + neck ** SOFTNESS) ** (1.0 / SOFTNESS)
    point = RAY_CENTRE + directions * r[:, None]
    yz = (point[:, 1:] - EAR_CENTRE_YZ) / EAR_SIGMA_YZ
    side = np.abs(directions[:, 0]) ** 4
    return r + EAR_HEIGHT * side * np.exp(-0.5 * (yz * yz).sum(1))


def surface_points(directions):
    """Points [N, 3] on the head surface along unit rays [N, 3] from ``RAY_CENTRE``."""
    directions = np.atleast_2d(directions)
    return RAY_CENTRE + directions * radius(directions)[:, None]
