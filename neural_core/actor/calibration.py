"""Where MediaPipe sees the bundled head's landmarks, relative to the vertices they name.

MediaPipe's 478 points are index-for-index the canonical face's vertices, from which the
bundled head is built; but on a rendered head MediaPipe places them by appearance, not by
topology: lid points sit on the visible lid margin (3-4% of the inter-ocular distance
more open than our lid vertices), the outline follows the silhouette, a wide-open jaw
reads as less open than it is. Fitting vertices straight to detections therefore trades
real expressions for these biases (a closed eye fits as "open, less wide").

A calibration corrects the model instead of the data: for each landmark, an offset in the
head frame (metres) plus its change per unit of each ARKit key,

    detected_position(k) = vertex(k) + offset + sum_e expression_e * per_key[e]

estimated by ridge regression from synthetic footage whose truth is known
(``tools/calibrate_landmarks.py``: Cycles renders of the bundled head with another hidden
identity than any evaluation actor). The fitter then fits ``vertex + correction`` to the
detections and reports plain vertex values. File: ``data/landmark_calibration.npz``.
"""

from pathlib import Path

import numpy as np

from .head_model import NUM_LANDMARKS, HeadModelError, read_npz

DEFAULT_PATH = Path(__file__).resolve().parent / "data" / "landmark_calibration.npz"
# the same for MediaPipe's relative depth: each detection put at its own depth (``Face.depth``
# about the mean, scaled to the head's mean depth), not at its vertex's
DEPTH_PATH = Path(__file__).resolve().parent / "data" / "depth_calibration.npz"
FORMAT = "neural_face.landmark_calibration"
KIND = "landmark calibration"  # how errors name the file
VERSION = 1


class LandmarkCalibration:
    """offset [478, 3] and per_key [E, 478, 3] (metres, head frame), noise [478] (metres);
    see the module docstring."""

    def reliability(self, low=0.25, high=4.0):
        """[478] weights ~ 1 / noise, median 1, clipped to [low, high] (ones without noise)."""
        if self.noise is None:
            return np.ones(NUM_LANDMARKS)
        return np.clip(np.median(self.noise) / np.maximum(self.noise, 1e-9), low, high)

    def __init__(self, offset, per_key, expression_names, source="", noise=None):
        self.offset = np.asarray(offset, dtype=np.float64)
        self.per_key = np.asarray(per_key, dtype=np.float64)
        # [478] metres: RMS of what the calibration leaves unexplained per landmark (MediaPipe's
        # scatter about the corrected position); None = equal for all
        self.noise = None if noise is None else np.asarray(noise, dtype=np.float64)
        self.expression_names = tuple(expression_names)
        self.source = source

    def save(self, path):
        """Write the calibration atomically (float32, no pickle)."""
        from ..contract.atomic import write_atomically

        def write(temporary):
            with open(temporary, "wb") as handle:  # a file object: savez would append ".npz" to a name
                np.savez_compressed(handle, format=np.array(FORMAT), version=np.array(VERSION),
                                    offset=self.offset.astype(np.float32), per_key=self.per_key.astype(np.float32),
                                    expression_names=np.array(self.expression_names), source=np.array(self.source),
                                    noise=(self.noise if self.noise is not None else np.zeros(0)).astype(np.float32))

        write_atomically(path, write)


def load_calibration(path=None):
    """The calibration at ``path`` (default: the bundled one). Raises HeadModelError naming
    the file and field for a missing, unreadable or malformed file."""
    path = Path(path) if path is not None else DEFAULT_PATH
    arrays = read_npz(path, KIND)

    def fail(message, field):
        return HeadModelError(message, file=path, field=field, kind=KIND)

    for field in ("format", "version", "offset", "per_key", "expression_names"):
        if field not in arrays:
            raise fail("missing", field)
    if str(arrays["format"]) != FORMAT:
        raise fail(f"is {str(arrays['format'])!r}, expected {FORMAT!r}", "format")
    if int(arrays["version"]) != VERSION:
        raise fail(f"version {int(arrays['version'])}; this build reads {VERSION}", "version")
    names = [str(n) for n in arrays["expression_names"]]
    if arrays["offset"].shape != (NUM_LANDMARKS, 3):
        raise fail(f"shape {arrays['offset'].shape}, expected ({NUM_LANDMARKS}, 3)", "offset")
    if arrays["per_key"].shape != (len(names), NUM_LANDMARKS, 3):
        raise fail(f"shape {arrays['per_key'].shape}, expected ({len(names)}, {NUM_LANDMARKS}, 3)", "per_key")
    if not (np.isfinite(arrays["offset"]).all() and np.isfinite(arrays["per_key"]).all()):
        raise fail("holds NaN or infinity", "offset/per_key")
    noise = arrays.get("noise")
    if noise is not None and noise.size and (noise.shape != (NUM_LANDMARKS,) or not np.isfinite(noise).all()):
        raise fail(f"shape {noise.shape} or values wrong, expected ({NUM_LANDMARKS},) finite", "noise")
    return LandmarkCalibration(arrays["offset"], arrays["per_key"], names, str(arrays.get("source", "")),
                               noise if noise is not None and noise.size else None)


def estimate(detected_head, vertex_head, expressions, expression_names, ridge=1.0, source=""):
    """Ridge regression of the detection-minus-vertex offsets.

    detected_head [N, 478, 3]: each detection back-projected to its vertex's depth and put
    in the head frame (metres); vertex_head [N, 478, 3]: the true vertices there;
    expressions [N, E]: the true ARKit values. ``ridge`` pulls the per-key terms to 0
    (the constant offset is free). The offset along each camera ray is unobserved in one
    view; the varied head turns of the footage make it observable.
    """
    features = np.concatenate([np.ones((len(expressions), 1)), expressions], 1)  # [N, 1 + E]
    targets = (detected_head - vertex_head).reshape(len(features), -1)
    penalty = np.diag(np.r_[1e-9, np.full(expressions.shape[1], ridge)])
    weights = np.linalg.solve(features.T @ features + penalty, features.T @ targets)
    left = (targets - features @ weights).reshape(len(features), NUM_LANDMARKS, 3)
    noise = np.sqrt((left ** 2).sum(-1).mean(0))
    weights = weights.reshape(1 + expressions.shape[1], NUM_LANDMARKS, 3)
    return LandmarkCalibration(weights[0], weights[1:], expression_names, source, noise)
