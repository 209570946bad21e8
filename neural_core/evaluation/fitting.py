"""How well the actor fitter recovers a synthetic actor's hidden truth.

The synthetic actor (``tools/make_synthetic_actor.py``) is Cycles renders of the bundled
head with a hidden identity; ``truth/`` keeps the values it was posed with. The fitter
sees only the images. Every figure below is measured against that truth, beside the same
figure for MediaPipe's own detections (the floor: MediaPipe places face-outline points on
the silhouette, which a fixed vertex does not follow).
"""

import json
import time
from pathlib import Path

import numpy as np

from ..actor import rotations
from ..actor.problems import EYE_CORNERS, view_axis

BLINKS = ("eyeBlinkLeft", "eyeBlinkRight")
CLOSED_BLINK = 0.7  # a frame whose true blink reaches this (either eye) shows no iris: its gaze is not in the image


def load_split(root, split):
    """[(image path, truth dict)] of one split (``train``, ``held_out`` or ``video``)."""
    root = Path(root)
    items = []
    for path in sorted((root / "truth" / split).glob("*.json")):
        truth = json.loads(path.read_text())
        items.append((root / truth["image"], truth))
    return items


def detect(items, video=False, mirror=False, views=1):
    """(detections [478, 2] or None per item, image sizes, seconds per frame, MediaPipe's
    relative depths [478] or None per item, the image's eye cues [2] or None per item
    (``actor.eye_closure``)); ``mirror``: averaged with the mirrored image's detection, as
    the actor workflow detects; ``views``: :class:`~..actor.landmarks.LandmarkDetector`'s."""
    from PIL import Image

    from ..actor.landmarks import LandmarkDetector

    detections, depths, cues, sizes, spent = [], [], [], [], 0.0
    with LandmarkDetector(video=video, mirror=mirror, views=views) as detector:
        for path, _ in items:
            image = np.asarray(Image.open(path).convert("RGB"))
            started = time.perf_counter()
            found = detector.detect(image, label=str(path))
            spent += time.perf_counter() - started
            detections.append(None if found.face is None else found.face.points)
            depths.append(None if found.face is None else found.face.depth)
            cues.append(None if found.face is None else found.face.eye_cues)
            sizes.append((image.shape[1], image.shape[0]))
    return detections, sizes, spent / max(len(items), 1), depths, cues


def read_image(path):
    """[H, W, 3] uint8 RGB of an image file."""
    from PIL import Image

    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


def cached_detect(items, cache=None, mirror=True, views=1):
    """:func:`detect` (photo mode), its results kept in the .npz ``cache`` and reused when that
    file lists the same images (no pickles: frames without a face are NaN rows)."""
    names = np.array([str(path) for path, _ in items])
    if cache and Path(cache).is_file():
        with np.load(cache, allow_pickle=False) as saved:
            same_views = int(saved["views"]) == views if "views" in saved else views == 1
            if saved["names"].tolist() == names.tolist() and bool(saved["mirror"]) == mirror and same_views:
                found = saved["found"]
                detections = [saved["points"][i] if found[i] else None for i in range(len(names))]
                depths = [saved["depths"][i] if found[i] else None for i in range(len(names))]
                cues = [saved["cues"][i] if found[i] else None for i in range(len(names))]
                return detections, [tuple(s) for s in saved["sizes"].tolist()], float(saved["seconds"]), depths, cues
    detections, sizes, seconds, depths, cues = detect(items, video=False, mirror=mirror, views=views)
    if cache:
        found = np.array([d is not None for d in detections])

        def stacked(values, shape):
            return np.stack([np.full(shape, np.nan) if v is None else np.asarray(v, dtype=np.float64) for v in values])

        np.savez(cache, names=names, mirror=np.array(mirror), views=np.array(views), found=found, sizes=np.array(sizes),
                 seconds=np.array(seconds),
                 points=stacked(detections, (478, 2)), depths=stacked(depths, (478,)), cues=stacked(cues, (2,)))
    return detections, sizes, seconds, depths, cues


def image_sizes(items):
    """(width, height) of each item's image."""
    from PIL import Image

    sizes = []
    for path, _ in items:
        with Image.open(path) as image:
            sizes.append(image.size)
    return sizes


def true_landmarks(items, noise_percent=0.0, seed=0):
    """The truth's projected vertices [478, 2] per item, plus independent Gaussian noise of
    ``noise_percent`` of each frame's inter-ocular distance per coordinate: a detector
    without MediaPipe's placement errors, to see what the fitter itself recovers."""
    rng = np.random.default_rng(seed)
    out = []
    for _, truth in items:
        points = np.asarray(truth["landmarks"], dtype=np.float64)
        iod = np.linalg.norm(points[EYE_CORNERS[0]] - points[EYE_CORNERS[1]])
        out.append(points + rng.normal(0.0, noise_percent * iod / 100.0, points.shape))
    return out


def truth_head_to_camera(model, truth):
    """(R [3, 3], t [3]) of the truth's head bone (neck and head turned) in the camera."""
    pose = np.zeros((len(model.bone_names), 3))
    for b, name in enumerate(model.bone_names):
        pose[b] = truth["pose"].get(name, (0.0, 0.0, 0.0))
    rot, trans = model.bone_transforms(pose[None])
    head = model.bone_names.index("head")
    camera = np.asarray(truth["head_frame_to_camera"], dtype=np.float64)
    return camera[:3, :3] @ rot[0, head], camera[:3, :3] @ trans[0, head] + camera[:3, 3]


def rotation_error_deg(a, b):
    """Angle of ``a^T b`` in degrees."""
    return float(np.degrees(np.linalg.norm(rotations.rotation_vector(a.T @ b))))


def similarity_rms(a, b):
    """RMS distance between point sets [N, 3] after the best similarity transform of ``a``."""
    ca, cb = a - a.mean(0), b - b.mean(0)
    u, s, vt = np.linalg.svd(ca.T @ cb)
    d = np.sign(np.linalg.det(u @ vt))
    s[-1] *= d
    u[:, -1] *= d
    scale = s.sum() / (ca * ca).sum()
    aligned = scale * ca @ (u @ vt)
    return float(np.sqrt(((aligned - cb) ** 2).sum(1).mean()))


def pearson(a, b):
    a, b = np.asarray(a, float), np.asarray(b, float)
    if a.std() == 0 or b.std() == 0:
        return float("nan")
    return float(np.corrcoef(a, b)[0, 1])


def fitted_pixels(model, fit, frame_fit):
    """[478, 2] projected landmarks of one fitted frame."""
    from ..actor.linear_head import gaze_pose

    pose = {k: v[0] for k, v in gaze_pose(frame_fit.gaze[None]).items()}
    local = model.landmarks(fit.identity, frame_fit.expression, pose)
    cam = local @ frame_fit.rotation_matrix().T + frame_fit.translation
    return frame_fit.focal * cam[:, :2] / cam[:, 2:3] + np.array(frame_fit.size) / 2.0


def _median_percent(points, truth, visible):
    iod = np.linalg.norm(truth[EYE_CORNERS[0]] - truth[EYE_CORNERS[1]])
    return float(np.median(np.linalg.norm(points - truth, axis=1)[visible]) * 100.0 / iod)


def frame_metrics(model, fit, items, detections):
    """Per-frame landmark and rotation errors, and the value tables for the key metrics."""
    names = list(model.expression_names)
    rows = []
    for (path, truth), frame_fit, detected in zip(items, fit.frames, detections):
        if frame_fit is None or not frame_fit.converged:
            continue
        true_px = np.asarray(truth["landmarks"], dtype=np.float64)
        visible = np.asarray(truth.get("landmark_visible", [True] * len(true_px)), dtype=bool)
        fitted = fitted_pixels(model, fit, frame_fit)
        rot_true, _ = truth_head_to_camera(model, truth)
        rows.append({
            "image": str(path), "fit_vs_truth": _median_percent(fitted, true_px, visible),
            "detection_vs_truth": _median_percent(detected, true_px, visible),
            "fit_vs_detection": frame_fit.residual,
            "rotation_error_deg": rotation_error_deg(frame_fit.rotation_matrix(), rot_true),
            "fitted": frame_fit.expression, "truth": np.array([truth["expression"][n] for n in names]),
            "pixels": fitted,
        })
    return rows


def summarise(model, fit, rows, truth_identity):
    """The acceptance figures (docs/actor.md) from :func:`frame_metrics` rows."""
    names = list(model.expression_names)
    fitted = np.stack([r["fitted"] for r in rows])
    truth = np.stack([r["truth"] for r in rows])
    top = np.argsort(-truth.std(0))[:10]
    top_looks = [i for i in top if names[i].startswith("eyeLook")]
    closed = truth[:, [names.index(n) for n in BLINKS]].max(1) >= CLOSED_BLINK
    zero = np.zeros(model.num_expression)
    neutral_fit = model.landmarks(fit.identity, zero)[:468]
    neutral_true = model.landmarks(truth_identity, zero)[:468]
    return {
        "frames": len(rows),
        "landmarks_fit_vs_truth_pct_iod": float(np.median([r["fit_vs_truth"] for r in rows])),
        "landmarks_mediapipe_vs_truth_pct_iod": float(np.median([r["detection_vs_truth"] for r in rows])),
        "fit_residual_pct_iod": float(np.median([r["fit_vs_detection"] for r in rows])),
        "top10_keys": [names[i] for i in top],
        "top10_mae": float(np.abs(fitted[:, top] - truth[:, top]).mean()),
        # the same over the frames whose eyes show (true blinks < CLOSED_BLINK), and the part of
        # top10_mae that is the eyeLook keys of the others: a gaze behind closed lids, which the
        # synthetic actor draws at random and no image shows
        "top10_mae_open_eyes": float(np.abs(fitted[~closed][:, top] - truth[~closed][:, top]).mean()) if (~closed).any()
        else float("nan"),
        "top10_closed_eye_gaze": float(np.abs(fitted[closed][:, top_looks] - truth[closed][:, top_looks]).sum()
                                       / max(fitted[:, top].size, 1)),
        "closed_eye_frames": int(closed.sum()),
        "all_keys_mae": float(np.abs(fitted - truth).mean()),  # over all 52 keys: spurious activations count here
        "jawOpen_r": pearson(fitted[:, names.index("jawOpen")], truth[:, names.index("jawOpen")]),
        "blink_r": [pearson(fitted[:, names.index(n)], truth[:, names.index(n)]) for n in BLINKS],
        "rotation_error_deg_median": float(np.median([r["rotation_error_deg"] for r in rows])),
        "neutral_shape_rms_mm": 1000.0 * similarity_rms(neutral_fit, neutral_true),
    }


def static_jitter(rows, items):
    """RMS (px) of the fitted landmarks about their mean over the longest run of frames whose
    truth does not move (the video's static stretch); None when there is none."""
    keys = [json.dumps([t["expression"], t["pose"], t["head_frame_to_camera"]], sort_keys=True) for _, t in items]
    best, start = (0, 0), 0
    for i in range(1, len(keys) + 1):
        if i == len(keys) or keys[i] != keys[start]:
            if i - start > best[1] - best[0]:
                best = (start, i)
            start = i
    if best[1] - best[0] < 3:
        return None
    by_image = {r["image"]: r["pixels"] for r in rows}
    stretch = [by_image.get(str(items[i][0])) for i in range(*best)]
    stretch = np.stack([p for p in stretch if p is not None])
    return float(np.sqrt(((stretch - stretch.mean(0)) ** 2).sum(-1).mean()))


def calibration_samples(model, items, detections, identity, depths=None):
    """(detected [N, 478, 3], vertices [N, 478, 3], expressions [N, E]) in the head frame.

    Each detection is put at its true vertex's depth on its camera ray (with ``depths``,
    MediaPipe's relative depths: at its own depth along the line of sight to the face, as
    the fit reads it, the landmarks' mean depth being the true vertices'), then everything
    is moved into the frame of the truth's (rigid) head bone, the frame the fitter works in.
    """
    names = list(model.expression_names)
    detected, vertices, expressions = [], [], []
    for k, ((_, truth), found) in enumerate(zip(items, detections)):
        if found is None or (depths is not None and depths[k] is None):
            continue
        pose = np.zeros((len(model.bone_names), 3))
        for b, name in enumerate(model.bone_names):
            pose[b] = truth["pose"].get(name, (0.0, 0.0, 0.0))
        expression = np.array([truth["expression"][n] for n in names])
        camera = np.asarray(truth["head_frame_to_camera"], dtype=np.float64)
        cam = model.landmarks(identity, expression, pose) @ camera[:3, :3].T + camera[:3, 3]
        K = np.asarray(truth["camera"]["K"])
        rays = np.c_[found, np.ones(len(found))] @ np.linalg.inv(K).T
        along = rays * cam[:, 2:3]  # on each ray at its vertex's camera depth
        if depths is not None:  # at MediaPipe's depth: along the line of sight, pixels at the face's depth
            axis = view_axis(np.asarray(found)[None], K[:2, 2][None], np.array([K[0, 0]]))[0]
            mean = (cam @ axis).mean()
            wanted = mean + (depths[k] - depths[k].mean()) * mean / K[0, 0]
            along = rays * (wanted / (rays @ axis))[:, None]
        rot, shift = truth_head_to_camera(model, truth)
        detected.append((along - shift) @ rot)
        vertices.append((cam - shift) @ rot)
        expressions.append(expression)
    return np.stack(detected), np.stack(vertices), np.stack(expressions)
