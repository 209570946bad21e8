"""The figures of an actor model's outputs (numpy; :mod:`.actor_model` runs the steps that
make them): masked PSNR, skin colour stability, MediaPipe's and dlib's face figures, and the
verdicts against issue 14's targets.

``data`` below is :class:`.actor_model.Frames`: the built truth shot read back (targets,
masks, regions, records, jaw).
"""

import numpy as np

from ..worker.colour_stabiliser import SKIN_ERODE_PX, skin_pixels  # the render's stabiliser reads skin as this does
from . import metrics
from .colour import ciede2000, linear_to_lab, srgb_to_linear

TARGETS = {  # issue 14's "Done when" for the actor model
    "psnr_db": ">= 22",
    "psnr_db_fitted_look": ">= 22",
    "landmark_above_floor_pct_iod": "<= 0.5",
    "mouth_jaw_r": ">= 0.9",
    "identity_distance": "<= 0.3 and below the default model's",
    "skin_colour_de2000_max": "<= 3",
}


def skin_lab(image, regions, mask, erode=SKIN_ERODE_PX):
    """CIELAB [3] of the mean skin colour of an sRGB uint8 image [H, W, 3]: the pixels where
    ``regions`` [H, W] is skin and ``mask`` [H, W] > 0.5, eroded by ``erode`` pixels,
    averaged in linear light. NaN [3] when no such pixel is left."""
    skin = skin_pixels(regions, mask, erode)
    if not skin.any():
        return np.full(3, np.nan)
    return linear_to_lab(srgb_to_linear(np.asarray(image, dtype=np.float64)[skin] / 255.0).mean(0))


def colour_stability(labs):
    """CIEDE2000 [N] of each frame's colour (CIELAB [N, 3]; NaN rows skipped and kept NaN)
    to the shot's median colour (per-channel median over the frames)."""
    labs = np.asarray(labs, dtype=np.float64)
    found = ~np.isnan(labs).any(1)
    out = np.full(len(labs), np.nan)
    if found.any():
        out[found] = ciede2000(labs[found], np.median(labs[found], axis=0))
    return out


def paired_distances(embeddings, references):
    """Per frame the distance between two lists of dlib embeddings (128 floats or None);
    NaN where either is None."""
    return np.array([np.nan if a is None or b is None else float(np.linalg.norm(np.subtract(a, b)))
                     for a, b in zip(embeddings, references)])


def landmark_error_pct(marks, records):
    """Median over the frames where a face was found of the per-frame landmark error (% of the
    rig's inter-ocular distance), and how many frames that was."""
    errors = metrics.landmark_errors(marks, records)
    return (float(np.median(errors) * 100.0) if errors else float("nan")), len(errors)


def mouth_response(marks, jaw):
    """Pearson r of the detected mouth opening with jawOpen [N], over the frames with a face."""
    pairs = [(metrics.mouth_opening(np.asarray(m)), j) for m, j in zip(marks, jaw) if m is not None]
    return metrics.pearson(*zip(*pairs)) if len(pairs) >= 3 else float("nan")


def nan_stat(values, how):
    values = np.asarray(values, dtype=np.float64)
    values = values[~np.isnan(values)]
    return float(how(values)) if len(values) else float("nan")


def measure(images, data, analysis=None, prefix=None):
    """The figures of one set of images (uint8 [N, H, W, 3]: a model's outputs, or the crops)
    against ``data`` (:class:`.actor_model.Frames`); ``analysis``: face_analysis results, ``prefix``: their
    file prefix for these images (None: MediaPipe/dlib figures left out)."""
    images = np.asarray(images)
    psnr = [metrics.masked_psnr(image.transpose(2, 0, 1) / 255.0, target.transpose(2, 0, 1) / 255.0, mask)
            for image, target, mask in zip(images, data.targets, data.masks)]
    colour = colour_stability([skin_lab(i, r, m) for i, r, m in zip(images, data.regions, data.masks)])
    out = {"psnr_db": float(np.mean(psnr)), "psnr_db_median": float(np.median(psnr)),
           "skin_colour_de2000_max": nan_stat(colour, np.max), "skin_colour_de2000_median": nan_stat(colour, np.median),
           "skin_colour_de2000_p95": nan_stat(colour, lambda v: np.percentile(v, 95))}
    if analysis is not None and prefix is not None:
        out.update(face_figures(len(images), data, analysis, prefix))
    return out


def face_figures(count, data, analysis, prefix):
    """MediaPipe's and dlib's figures of the ``count`` analysed images named ``prefix_NNNN.png``:
    landmark error, faces found, mouth response and (not for the crops themselves) identity,
    each image against its frame's crop."""
    marks = [analysis[f"{prefix}_{i:04d}.png"]["landmarks"] for i in range(count)]
    error, found = landmark_error_pct(marks, data.records)
    out = {"landmark_error_pct_iod": error, "faces_found": found, "mouth_jaw_r": mouth_response(marks, data.jaw)}
    if prefix != "crop":
        embeddings = [analysis[f"{prefix}_{i:04d}.png"]["embedding"] for i in range(count)]
        crops = [analysis[f"crop_{i:04d}.png"]["embedding"] for i in range(count)]
        distances = paired_distances(embeddings, crops)
        out.update(identity_distance=nan_stat(distances, np.median), identity_pairs=int(np.sum(~np.isnan(distances))))
    return out


def verdicts(actor, default, floor):
    """{target name: {"value", "target", "met"}} of the actor model's figures ``actor``
    against issue 14's targets; ``default``: the default model's figures (or None);
    ``floor``: the ground-truth crops' figures. ``met`` is None where a value is NaN,
    False where MediaPipe found no face in any output."""
    blind = actor.get("faces_found") == 0

    def entry(name, value, met, **extra):
        met = (False if blind and "faces_found" in extra else None) if value is None or np.isnan(value) else bool(met)
        return {"value": value, "target": TARGETS[name], "met": met, **extra}

    out = {"psnr_db": entry("psnr_db", actor["psnr_db"], actor["psnr_db"] >= 22.0),
           **({"psnr_db_fitted_look": entry("psnr_db_fitted_look", actor["psnr_db_fitted_look"], actor["psnr_db_fitted_look"] >= 22.0,
                                            mean_look_same_pixels=actor["psnr_db_mean_look_right_half"])}
              if "psnr_db_fitted_look" in actor else {}),
           "skin_colour_de2000_max": entry("skin_colour_de2000_max", actor["skin_colour_de2000_max"],
                                           actor["skin_colour_de2000_max"] <= 3.0)}
    if "landmark_error_pct_iod" in actor:
        above = actor["landmark_error_pct_iod"] - floor["landmark_error_pct_iod"]
        out["landmark_above_floor_pct_iod"] = entry("landmark_above_floor_pct_iod", above, above <= 0.5,
                                                    output=actor["landmark_error_pct_iod"], floor=floor["landmark_error_pct_iod"],
                                                    faces_found=actor["faces_found"])
        out["mouth_jaw_r"] = entry("mouth_jaw_r", actor["mouth_jaw_r"], actor["mouth_jaw_r"] >= 0.9,
                                   ground_truth=floor["mouth_jaw_r"], faces_found=actor["faces_found"])
        reference = default["identity_distance"] if default and "identity_distance" in default else float("nan")
        value = actor["identity_distance"]
        out["identity_distance"] = entry("identity_distance", value, value <= 0.3 and (np.isnan(reference) or value < reference),
                                         default_model=reference, faces_found=actor["faces_found"])
    return out


def plain(value):
    """``value`` with NaN as None and numpy numbers as Python ones (strict JSON)."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, (float, np.floating)):
        return None if np.isnan(value) else float(value)
    return value.item() if isinstance(value, np.generic) else value
