"""Rotation matrices (pure numpy), batched over any leading dimensions.

Angles are radians. ``euler_xyz`` follows Blender's ``rotation_mode = "XYZ"`` (the pose
bones of the bundled head): X is applied first, then Y, then Z, R = Rz @ Ry @ Rx.
``axis_angle`` is a rotation vector (axis times angle, as ``scipy``'s ``Rotation.from_rotvec``).
"""

import numpy as np


def euler_xyz(angles):
    """[..., 3] Euler angles (X, Y, Z), radians -> [..., 3, 3] rotation matrices."""
    a = np.asarray(angles, dtype=np.float64)
    cx, cy, cz = np.cos(a[..., 0]), np.cos(a[..., 1]), np.cos(a[..., 2])
    sx, sy, sz = np.sin(a[..., 0]), np.sin(a[..., 1]), np.sin(a[..., 2])
    out = np.empty(a.shape[:-1] + (3, 3))
    out[..., 0, 0] = cy * cz
    out[..., 0, 1] = sx * sy * cz - cx * sz
    out[..., 0, 2] = cx * sy * cz + sx * sz
    out[..., 1, 0] = cy * sz
    out[..., 1, 1] = sx * sy * sz + cx * cz
    out[..., 1, 2] = cx * sy * sz - sx * cz
    out[..., 2, 0] = -sy
    out[..., 2, 1] = sx * cy
    out[..., 2, 2] = cx * cy
    return out


def axis_angle(vector):
    """[..., 3] rotation vectors (unit axis x angle in radians) -> [..., 3, 3] matrices.

    Rodrigues' formula; exact (series-free) and smooth through the zero rotation.
    """
    v = np.asarray(vector, dtype=np.float64)
    theta2 = (v * v).sum(-1)
    theta = np.sqrt(theta2)
    small = theta2 < 1e-12
    safe = np.where(small, 1.0, theta)
    # sin(t)/t and (1 - cos(t))/t^2, with their Taylor limits near zero
    a = np.where(small, 1.0 - theta2 / 6.0, np.sin(safe) / safe)
    b = np.where(small, 0.5 - theta2 / 24.0, (1.0 - np.cos(safe)) / (safe * safe))
    k = np.zeros(v.shape[:-1] + (3, 3))
    k[..., 0, 1], k[..., 0, 2] = -v[..., 2], v[..., 1]
    k[..., 1, 0], k[..., 1, 2] = v[..., 2], -v[..., 0]
    k[..., 2, 0], k[..., 2, 1] = -v[..., 1], v[..., 0]
    return np.eye(3) + a[..., None, None] * k + b[..., None, None] * (k @ k)


def rotation_vector(matrix):
    """[..., 3, 3] rotation matrices -> [..., 3] rotation vectors (inverse of ``axis_angle``).

    Angles in [0, pi]; accurate near 0; near pi the axis comes from the symmetric part.
    """
    m = np.asarray(matrix, dtype=np.float64)
    cos = np.clip((np.trace(m, axis1=-2, axis2=-1) - 1.0) / 2.0, -1.0, 1.0)
    theta = np.arccos(cos)
    w = np.stack([m[..., 2, 1] - m[..., 1, 2], m[..., 0, 2] - m[..., 2, 0], m[..., 1, 0] - m[..., 0, 1]], -1)
    sin = np.sin(theta)
    small = sin < 1e-6
    factor = np.where(small, 0.5 + theta * theta / 12.0, theta / (2.0 * np.where(small, 1.0, sin)))
    out = factor[..., None] * w
    near_pi = small & (theta > 3.0)
    if np.any(near_pi):
        sym = (m[near_pi] + np.eye(3)) / 2.0
        axis = np.stack([s[:, np.argmax(np.diag(s))] / np.sqrt(max(np.max(np.diag(s)), 1e-12)) for s in sym])
        out[near_pi] = axis * theta[near_pi][:, None]
    return out
