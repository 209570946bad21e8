"""Eyeball geometry (pure numpy): a sphere whose front pole looks down -Y.

Rings sit at fixed angles from the front pole so the pupil and the iris are whole
faces (material regions): pupil up to ``PUPIL_ANGLE``, iris up to ``IRIS_ANGLE``.
Coordinates are metres relative to the eyeball centre (the object's origin).
"""

import numpy as np

from .mesh import EYE_RADIUS, REGION

SEGMENTS = 24  # vertices around each ring
PUPIL_ANGLE = 0.17  # radians from the front pole (about 4 mm pupil)
IRIS_ANGLE = 0.50  # radians (about 11.5 mm iris)
RING_ANGLES = (0.09, PUPIL_ANGLE, 0.33, IRIS_ANGLE) + tuple(np.linspace(0.7, np.pi - 0.25, 9))


def eyeball(radius=EYE_RADIUS):
    """(vertices [V, 3], faces list of tuples, regions [F], uvs list of [n, 2] arrays)."""
    azimuth = np.linspace(0, 2 * np.pi, SEGMENTS, endpoint=False)
    verts = [np.array([[0.0, -radius, 0.0]])]
    ring_start = []
    for alpha in RING_ANGLES:
        ring_start.append(1 + len(ring_start) * SEGMENTS)
        ring = np.stack([np.sin(alpha) * np.cos(azimuth), -np.cos(alpha) * np.ones(SEGMENTS),
                         np.sin(alpha) * np.sin(azimuth)], axis=1) * radius
        verts.append(ring)
    back = 1 + len(RING_ANGLES) * SEGMENTS
    verts.append(np.array([[0.0, radius, 0.0]]))

    def uv(alpha, phi):  # polar layout: front pole in the centre of the square
        r = 0.5 * alpha / np.pi
        return (0.5 + r * np.cos(phi), 0.5 + r * np.sin(phi))

    def region(alpha):
        if alpha <= PUPIL_ANGLE + 1e-9:
            return REGION["pupil"]
        return REGION["iris"] if alpha <= IRIS_ANGLE + 1e-9 else REGION["sclera"]

    faces, regions, uvs = [], [], []
    angles = (0.0,) + RING_ANGLES
    for j in range(SEGMENTS):  # front fan
        k = (j + 1) % SEGMENTS
        faces.append((0, ring_start[0] + k, ring_start[0] + j))
        regions.append(region(angles[1]))
        uvs.append([uv(0, (azimuth[j] + azimuth[k]) / 2), uv(angles[1], azimuth[k] if k else 2 * np.pi),
                    uv(angles[1], azimuth[j])])
    for r in range(len(RING_ANGLES) - 1):
        a, b = ring_start[r], ring_start[r + 1]
        for j in range(SEGMENTS):
            k = (j + 1) % SEGMENTS
            faces.append((a + j, a + k, b + k, b + j))
            regions.append(region(angles[r + 2]))
            uvs.append([uv(angles[r + 1], azimuth[j]), uv(angles[r + 1], azimuth[k]),
                        uv(angles[r + 2], azimuth[k]), uv(angles[r + 2], azimuth[j])])
    last = ring_start[-1]
    for j in range(SEGMENTS):
        k = (j + 1) % SEGMENTS
        faces.append((last + j, last + k, back))
        regions.append(REGION["sclera"])
        uvs.append([uv(angles[-1], azimuth[j]), uv(angles[-1], azimuth[k]), uv(np.pi, azimuth[j])])
    faces = [tuple(reversed(f)) for f in faces]  # outward normals
    uvs = [np.array(u)[::-1] for u in uvs]
    return np.concatenate(verts), faces, np.array(regions), uvs
