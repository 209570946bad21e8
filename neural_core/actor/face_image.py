"""A frame's face region as the image refinements read it: grey, resampled to a common scale
and locally normalised (high-pass over local contrast).

Shared by the pose and jaw refinement (:mod:`.photometric`) and the gaze (:mod:`.gaze_image`):
each frame's region is resampled once (:func:`face_region`) and filtered once per reader
(:func:`normalise`); :func:`sample` reads it bilinearly.
"""

from dataclasses import dataclass

import numpy as np

from .head_model import NUM_FACE
from .problems import EYE_CORNERS

IOD_PIXELS = 140.0  # each face is resampled so its outer eye corners lie this many pixels apart
MARGIN = 0.15  # the face region: the fitted landmarks' bounding box grown by this fraction per side
HIGH_PASS = 2.5  # px (at IOD_PIXELS): Gaussian sigma of the blur the high-pass subtracts
CONTRAST = 6.0  # px: Gaussian sigma of the local RMS the high-pass is divided by
PRESMOOTH = 1.0  # px: Gaussian sigma applied first (smooth bilinear samples)
FLOOR = 1e-4  # local variance floor (grey in [0, 1]): flat regions stay near 0


@dataclass
class FaceImage:
    """A frame's locally normalised grey face region.

    values [H, W] float16; a point at image pixel coordinates p (x right, y down, pixel
    centres at +0.5) lies at ``(p - origin) * scale`` in it.
    """

    values: np.ndarray
    origin: np.ndarray  # [2] image pixel coordinates of the region's corner
    scale: float  # region pixels per image pixel

    def to_region(self, pixels):
        return (pixels - self.origin) * self.scale


def grey(image):
    """[H, W] or [H, W, C] image of any dtype -> [H, W] float32 grey in [0, 1]."""
    values = np.asarray(image)
    if values.ndim == 3:
        values = values[..., :3].mean(-1) if values.shape[-1] >= 3 else values[..., 0]
    if values.dtype.kind in "ui":
        return values.astype(np.float32) / np.iinfo(values.dtype).max
    return values.astype(np.float32)


def prepare_face(image, points, iod, high_pass=HIGH_PASS):
    """:class:`FaceImage` of ``image`` around the fitted landmarks ``points`` [>=468, 2] (pixels).

    iod: the face's inter-ocular distance in pixels *as if seen from the front* at its depth
    (:func:`frontal_iod`): the scale follows the face's distance, not its turn, so a feature
    is filtered at the same size in every frame. high_pass: the Gaussian sigma (region pixels)
    of the blur subtracted (the gaze reads its eyes with a gentler one: gaze_image.py)."""
    region, low, scale = face_region(image, points, iod)
    return FaceImage(normalise(region, high_pass), low, scale)


def face_region(image, points, iod):
    """(region [H, W] float64: the grey face region resampled to ``IOD_PIXELS`` between the
    eyes and smoothed, its corner in image pixels [2], region pixels per image pixel) for
    :func:`prepare_face`, whose arguments it takes; made once where two filterings need it."""
    from scipy.ndimage import gaussian_filter, map_coordinates

    points = np.asarray(points, dtype=np.float64)[:NUM_FACE]
    scale = IOD_PIXELS / max(float(iod), 1e-6)
    low, high = points.min(0), points.max(0)
    grow = (high - low) * MARGIN
    low, high = low - grow, high + grow
    shape = np.maximum(np.ceil((high - low) * scale).astype(int), 1)  # (width, height)
    values = grey(image)
    height, width = values.shape
    # the source window (whole pixels, clipped to the image), blurred first when shrinking
    first = np.clip(np.floor(low).astype(int) - 4, 0, [width, height])
    last = np.clip(np.ceil(high).astype(int) + 4, 0, [width, height])
    window = values[first[1]:last[1], first[0]:last[0]]
    if window.size == 0:
        window, first = np.zeros((1, 1), np.float32), np.zeros(2, int)
    if scale < 1.0:
        window = gaussian_filter(window, 0.5 / scale)
    columns = low[0] + (np.arange(shape[0]) + 0.5) / scale - 0.5 - first[0]
    rows = low[1] + (np.arange(shape[1]) + 0.5) / scale - 0.5 - first[1]
    grid = np.meshgrid(rows, columns, indexing="ij")
    region = map_coordinates(window, grid, order=1, mode="nearest").astype(np.float64)
    return gaussian_filter(region, PRESMOOTH), low, scale


def normalise(region, high_pass=HIGH_PASS):
    """[H, W] float16: ``region`` (:func:`face_region`) less its blur of sigma ``high_pass``,
    over its local RMS (sigma ``CONTRAST``)."""
    from scipy.ndimage import gaussian_filter

    detail = region - gaussian_filter(region, high_pass)
    return (detail / np.sqrt(gaussian_filter(detail * detail, CONTRAST) + FLOOR)).astype(np.float16)


def frontal_iod(vertices, frame):
    """Pixels between the outer eye corners of head-frame ``vertices`` [468, 3] were the face
    turned to the camera at the depth ``frame`` (:class:`~.fit.FrameFit`) puts it."""
    camera = vertices[list(EYE_CORNERS)] @ frame.rotation_matrix().T + frame.translation
    return frame.focal * float(np.linalg.norm(vertices[EYE_CORNERS[0]] - vertices[EYE_CORNERS[1]])) / camera[:, 2].mean()


def sample(values, points):
    """Bilinear samples of ``values`` [H, W] at region points [N, 2] (x, y)."""
    from scipy.ndimage import map_coordinates

    return map_coordinates(values, [points[:, 1] - 0.5, points[:, 0] - 0.5], order=1, mode="nearest")
