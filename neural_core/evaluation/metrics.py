"""The evaluation's measures (numpy; scipy for SSIM), on plain arrays and shot records.

Landmarks are MediaPipe face-mesh indexed points [468, 2] in pixels (x right, y down), or
None for a frame where no face was found. ``records`` are the shot format's FrameRecords
(``coefficients`` [n], ``landmarks`` [468, 2] projected from the rig, or None).
"""

import math

import numpy as np

EYE_RIGHT = (33, 133)  # MediaPipe corners of the subject's right eye
EYE_LEFT = (362, 263)  # ... of the subject's left eye
LIDS = {"Right": (159, 145, 33, 133), "Left": (386, 374, 362, 263)}  # upper, lower, corner, corner
LIPS_INNER = (13, 14)  # inner upper and lower lip, on the mid-line
OPEN_EYE_GAP = 0.35  # lid gap / eye width of an open eye: eye closure 0 there, 1 when shut


def masked_psnr(output, target, mask):
    """PSNR in dB of [3, H, W] images in [0, 1] over the pixels where mask [H, W] > 0.5."""
    m = mask > 0.5
    mse = float(((output - target) ** 2)[:, m].mean())
    return 10 * math.log10(1.0 / max(mse, 1e-10))


def masked_ssim(output, target, mask, sigma=1.5):
    """Mean SSIM (Gaussian window of ``sigma`` pixels, luminance of sRGB) of [3, H, W]
    images in [0, 1] over the pixels where mask [H, W] > 0.5."""
    from scipy.ndimage import gaussian_filter

    weights = np.array([0.299, 0.587, 0.114])[:, None, None]
    x, y = (output * weights).sum(0), (target * weights).sum(0)

    def blur(a):
        return gaussian_filter(a, sigma)

    mx, my = blur(x), blur(y)
    vx, vy, cxy = blur(x * x) - mx**2, blur(y * y) - my**2, blur(x * y) - mx * my
    c1, c2 = 0.01**2, 0.03**2
    ssim = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx**2 + my**2 + c1) * (vx + vy + c2))
    return float(ssim[mask > 0.5].mean())


def pearson(a, b):
    """Pearson r of two sequences; nan with fewer than 3 values or a constant one."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    if len(a) < 3 or a.std() < 1e-9 or b.std() < 1e-9:
        return float("nan")
    return float(np.corrcoef(a, b)[0, 1])


def inter_ocular(points):
    """Distance between the two eye centres (mean of each eye's corners), in the points' unit."""
    right = points[list(EYE_RIGHT)].mean(0)
    left = points[list(EYE_LEFT)].mean(0)
    return float(np.linalg.norm(left - right))


def eye_closure(points, side):
    """1 - (lid gap / eye width) / OPEN_EYE_GAP of the subject's ``side`` ("Left"/"Right") eye."""
    upper, lower, a, b = LIDS[side]
    width = np.linalg.norm(points[a] - points[b])
    return 1.0 - float(np.linalg.norm(points[upper] - points[lower]) / max(width, 1e-6)) / OPEN_EYE_GAP


def mouth_opening(points):
    """Inner-lip gap over the inter-ocular distance."""
    return float(np.linalg.norm(points[LIPS_INNER[0]] - points[LIPS_INNER[1]]) / max(inter_ocular(points), 1e-6))


def identity_distances(embeddings):
    """(every pairwise distance, each one's distance to the first) of dlib embeddings
    (lists of 128 floats; None = no face, skipped)."""
    found = np.array([e for e in embeddings if e is not None], dtype=np.float64).reshape(-1, 128)
    pairs = [float(np.linalg.norm(a - b)) for i, a in enumerate(found) for b in found[i + 1 :]]
    to_first = [float(np.linalg.norm(e - found[0])) for e in found[1:]]
    return pairs, to_first


def median_text(values):
    return f"{np.median(values):.3f}" if len(values) else "n/a"


def landmark_errors(marks, records):
    """Per frame: median distance of the detected 468 landmarks to the rig's, over the rig's
    inter-ocular distance (frames without a detection or without rig landmarks skipped)."""
    errors = []
    for detected, record in zip(marks, records):
        if detected is None or record.landmarks is None:
            continue
        rig = np.asarray(record.landmarks)
        errors.append(float(np.median(np.linalg.norm(np.array(detected) - rig, axis=1)) / inter_ocular(rig)))
    return errors


def expression_values(shot, records):
    """Per frame {"jaw": jawOpen, "Left": eyeBlinkLeft, "Right": eyeBlinkRight} from the
    shot's coefficients (nan where the shot has no such coefficient)."""
    names = list(shot.coefficient_names)
    index = {key: names.index(name) if name in names else None
             for key, name in (("jaw", "jawOpen"), ("Left", "eyeBlinkLeft"), ("Right", "eyeBlinkRight"))}
    return [{key: float("nan") if i is None else float(r.coefficients[i]) for key, i in index.items()} for r in records]


def expression_response(marks, records, values):
    """Pearson r of the detected mouth opening with jawOpen and of each eye's closure with
    its blink value, over the frames where a face was found: {"jaw", "Left", "Right", "frames"}."""
    measured = {"jaw": [], "Left": [], "Right": []}
    wanted = {"jaw": [], "Left": [], "Right": []}
    for found, record, value in zip(marks, records, values):
        if found is None or record.landmarks is None:
            continue
        detected = np.array(found)
        measured["jaw"].append(mouth_opening(detected))
        for side in ("Left", "Right"):
            measured[side].append(eye_closure(detected, side))
        for key in wanted:
            wanted[key].append(value[key])
    response = {key: pearson(measured[key], wanted[key]) for key in measured}
    response["frames"] = len(measured["jaw"])
    return response


def held_frames(notes, records):
    """Frame numbers of the shot whose input is held constant (the temporal check's frames).

    ``notes``: the sample folder's ``frames.json`` (a dict) or None. When it names them
    (``"held_frames"``, written by the Blender side that built the shot), those; else every
    frame whose coefficients, joints, head pose and camera equal the previous frame's, with that
    previous frame.
    """
    if notes and notes.get("held_frames"):
        return [int(f) for f in notes["held_frames"]]
    held = set()
    for before, after in zip(records, records[1:]):
        if _same_input(before, after):
            held.update((before.frame, after.frame))
    return sorted(held)


def _same_input(a, b):
    return (np.array_equal(a.coefficients, b.coefficients) and np.array_equal(a.K, b.K)
            and np.array_equal(a.head_camera.rotation, b.head_camera.rotation)
            and np.array_equal(a.head_camera.translation, b.head_camera.translation)
            and a.joints.keys() == b.joints.keys() and all(np.array_equal(a.joints[k], b.joints[k]) for k in a.joints))
