"""The fit step: the bundled head fitted to every detected frame, then the shot and the crops.

Writes, in this order: ``fit/fit.npz`` (the solve's result, arrays below), ``fit/frames.json``
(shot frame -> input frame, the frames left out and why), ``fit/crops/####.png`` (one per
shot frame, atomically; a resumed run keeps those already written), ``fit/shot/shot.json``
(:mod:`..fit_shot`). An interrupted step resumes from ``fit.npz`` when it was written for
the same inputs, so its crops and shot equal an uninterrupted run's.

``fit.npz``: format, version, inputs (hash), identity [28], identity_names [28],
expression_names [52], fitted [N] bool (the frame had a face), converged [N] bool,
expression [N, 52], rotation [N, 3] (rotation vector, see fit.FrameFit), translation
[N, 3] metres, gaze [N, 4] radians, focal [N] pixels, sizes [N, 2], residual [N] (% IOD),
seconds (the solve's wall time), calibration (which landmark calibration the fit used),
notes (what the fit reports: the eye closure read from the image).
Rows of frames without a face are NaN.
"""

import json
import time

import numpy as np

from ...contract.atomic import write_text_atomically
from ..calibration import DEPTH_PATH
from ..fit import ActorFit, FitSettings, FrameFit, fit_actor
from ..fit_shot import PHOTO_FPS, make_fit_shot, projected_vertices, write_crop, write_fit_shot
from ..head_model import load_head_model
from ..input_frames import FootageReader
from ..photometric import refine_poses
from ..problems import interocular
from ..project import ActorError, digest, file_digest, storage_errors
from . import up_to_date
from .detect import input_frames, load_landmarks, load_npz, save_npz

FORMAT = "neural-face-actor-fit"
VERSION = 1
FIELDS = ("expression", "rotation", "translation", "gaze", "focal", "residual")


def calibration_for(setting, warn):
    """(calibration argument of fit_actor, its name) for the ``calibration`` setting."""
    from ..calibration import DEFAULT_PATH, load_calibration

    if setting == "none":
        return None, "none"
    if not DEFAULT_PATH.is_file():
        warn(f"no landmark calibration at {DEFAULT_PATH}: fitting the head's vertices to MediaPipe's points directly "
             "(its lids and outline read a little off)")
        return None, "none (file missing)"
    return load_calibration(DEFAULT_PATH), str(DEFAULT_PATH.name)


def save_fit(path, fit, inputs, seconds, calibration):
    count = len(fit.frames)
    arrays = {"expression": np.full((count, 52), np.nan), "rotation": np.full((count, 3), np.nan),
              "translation": np.full((count, 3), np.nan), "gaze": np.full((count, 4), np.nan),
              "focal": np.full(count, np.nan), "residual": np.full(count, np.nan), "sizes": np.zeros((count, 2), int)}
    for i, frame in enumerate(fit.frames):
        if frame is not None:
            for name in FIELDS:
                arrays[name][i] = getattr(frame, name)
            arrays["sizes"][i] = frame.size
    return save_npz(path, format=np.array(FORMAT), version=np.array(VERSION), inputs=np.array(inputs),
                    identity=np.asarray(fit.identity, dtype=np.float64), identity_names=np.array(fit.identity_names, dtype=str),
                    expression_names=np.array(fit.expression_names, dtype=str),
                    fitted=np.array([f is not None for f in fit.frames]),
                    converged=np.array([f is not None and f.converged for f in fit.frames]),
                    seconds=np.array(seconds), calibration=np.array(calibration),
                    notes=np.array(list(fit.notes), dtype=str), **arrays)


def load_fit(path):
    """(ActorFit, arrays) from fit.npz."""
    data = load_npz(path)
    if str(data.get("format")) != FORMAT or int(data.get("version", -1)) != VERSION:
        raise ActorError(f"{path}: not a fit file of this Neural Face")
    frames = []
    for i, fitted in enumerate(data["fitted"]):
        if not fitted:
            frames.append(None)
            continue
        values = {name: data[name][i] for name in FIELDS}
        frames.append(FrameFit(expression=values["expression"], rotation=values["rotation"], translation=values["translation"],
                               gaze=values["gaze"], focal=float(values["focal"]), size=tuple(int(v) for v in data["sizes"][i]),
                               residual=float(values["residual"]), converged=bool(data["converged"][i])))
    fit = ActorFit(data["identity"], frames, tuple(str(n) for n in data["identity_names"]),
                   tuple(str(n) for n in data["expression_names"]), notes=[str(n) for n in data.get("notes", [])])
    return fit, data


def vertex_distances(model, fit, points):
    """Per fitted frame, the median distance (% IOD) between the fitted head's projected
    vertices and the detected landmarks (NaN where no fit)."""
    out = np.full(len(fit.frames), np.nan)
    for i, frame in enumerate(fit.frames):
        if frame is not None:
            detected = points[i]
            distance = np.linalg.norm(projected_vertices(model, fit.identity, frame) - detected, axis=1)
            out[i] = float(np.median(distance) * 100.0 / interocular(detected))
    return out


def video_fps(actor):
    """Frames per second of the input frames of a video (its mean rate over the stride; with
    several clips, the first clip's)."""
    from ..video import Video

    with Video(actor.footage_paths()[0], stride=actor.stride) as video:
        times = video.times
    if len(times) < 2 or times[-1] <= times[0]:
        return PHOTO_FPS
    return (len(times) - 1) / (times[-1] - times[0]) / actor.stride


def solve(context, landmarks, model):
    """Run the fit (cancel checked before every solver iteration); returns (ActorFit, seconds, calibration name)."""
    actor, job = context.actor, context.job
    calibration, name = calibration_for(actor.setting("calibration"), job.warning)
    found = landmarks["found"]
    detections = [landmarks["points"][i] if ok else None for i, ok in enumerate(found)]
    depths = [landmarks["depth"][i] if ok else None for i, ok in enumerate(found)]
    cues = [landmarks["eye_cues"][i] if ok else None for i, ok in enumerate(found)]
    depth_calibration = "default"
    if calibration is not None and not DEPTH_PATH.is_file():
        job.warning(f"no depth calibration at {DEPTH_PATH}: MediaPipe's landmark depth is compared with the "
                    "landmark calibration's points")
        depth_calibration = None
    sizes = [tuple(int(v) for v in s) for s in landmarks["sizes"]]
    hints = [float(f) if np.isfinite(f) else None for f in landmarks["focal"]]

    def progress(done, total):
        context.stage(f"fit: solver stage {done}/{total}")
        job.token.check()

    context.stage("fit: solving")
    started = time.perf_counter()
    settings = FitSettings(video=actor.kind == "video")
    segments = [int(e) for e in landmarks["entries"]]  # a video entry is a clip
    fit = fit_actor(detections, sizes, settings, focal_hints=hints, progress=progress, model=model,
                    calibration=calibration, check=job.token.check, depths=depths, depth_calibration=depth_calibration,
                    eye_cues=cues, segments=segments)
    if settings.photometric_rounds > 0:
        frames = input_frames(landmarks)
        begun = time.perf_counter()

        def photometric_progress(done, total):  # (the panel's bar moves through the rounds, then the crops)
            if done == total or done % 10 == 0:
                left = (time.perf_counter() - begun) / done * (total - done)
                context.stage(f"fit: pose, jaw and gaze from the image {done}/{total}", done=done, total=total, eta_s=round(left, 1))

        context.stage("fit: pose, jaw and gaze from the image")
        with FootageReader(actor) as reader:
            fit = refine_poses(fit, lambda i: reader.read(frames[i]).image, model, settings, detections=detections,
                               calibration=calibration, progress=photometric_progress, check=job.token.check,
                               segments=segments)
    return fit, time.perf_counter() - started, name


def run(context):
    actor, job = context.actor, context.job
    actor.require("detect")
    inputs = actor.inputs("fit")
    if actor.is_done("fit"):
        return up_to_date(context, "fit", actor.state("fit").get("summary"))
    landmarks = load_landmarks(actor)
    frames = input_frames(landmarks)
    folder = actor.folder("fit")
    resuming = actor.begin("fit", inputs)
    detected = [f.number for f in frames if landmarks["found"][f.number]]
    job.start(len(detected), detected, step="fit", actor=str(actor.root))
    fit_path = folder / "fit.npz"
    fit = None
    if resuming and fit_path.is_file():
        fit, saved = load_fit(fit_path)
        if str(saved["inputs"]) != inputs:
            fit = None
        else:
            seconds, calibration = float(saved["seconds"]), str(saved["calibration"])
            context.note("actor fit: resuming from the saved fit")
    model = load_head_model()
    if fit is None:
        fit, seconds, calibration = solve(context, landmarks, model)
        with storage_errors():
            for stale in (folder / "crops").glob("*.png"):
                stale.unlink()
            save_fit(fit_path, fit, inputs, seconds, calibration)
    paths = actor.footage_paths()
    distances = vertex_distances(model, fit, landmarks["points"])
    fps = video_fps(actor) if actor.kind == "video" else PHOTO_FPS
    source = {"generator": "python -m neural_core actor fit", "actor": str(actor.root), "kind": actor.kind,
              "calibration": calibration}
    labels = [{**f.describe(paths), "label": f.label} for f in frames]
    fit_shot = make_fit_shot(fit, model, crop_size=actor.setting("crop_size"), crop_scale=actor.setting("crop_scale"),
                             fps=fps, source=source, labels=labels)
    for entry in fit_shot.shot.source["frames"]:
        entry["vertex_distance"] = round(float(distances[entry["input"]]), 4)
    left_out = [{"input": i, "label": frames[i].label, **frames[i].describe(paths),
                 "reason": str(landmarks["reasons"][i]) or f"{frames[i].label}: {reason}"} for i, reason in fit_shot.left_out]
    with storage_errors():
        write_text_atomically(folder / "frames.json", json.dumps(
            {"frames": fit_shot.shot.source["frames"], "left_out": left_out}, indent=1) + "\n")
    flagged = [entry for entry in left_out if landmarks["found"][entry["input"]]]
    if flagged:
        shown = "; ".join(e["reason"] for e in flagged[:10])
        job.warning(f"{len(flagged)} frame(s) left out, the fit did not converge: {shown}"
                    + (f" and {len(flagged) - 10} more (fit/frames.json)" if len(flagged) > 10 else ""))
    usable, minimum = len(fit_shot.inputs), actor.setting("min_frames")
    if usable < minimum:
        raise ActorError(f"only {usable} of {len(frames)} input frame(s) are usable ({len(frames) - len(detected)} without a "
                         f"usable face, {len(flagged)} not converged); an actor needs at least {minimum} (--min-frames)")
    by_input = dict(zip(fit_shot.inputs, zip(range(1, usable + 1), fit_shot.crops)))
    with FootageReader(actor) as reader:
        for number in job.frames(detected):
            if number not in by_input:
                job.frame_done(number, skipped=True)
                continue
            shot_frame, box = by_input[number]
            path = folder / "crops" / f"{shot_frame:04d}.png"
            if path.is_file():  # written by the interrupted run from this same fit
                job.frame_done(number, path=str(path), skipped=True)
                continue
            image = reader.read(frames[number])
            with storage_errors():
                path.parent.mkdir(parents=True, exist_ok=True)
                write_crop(path, image.image, box)
            job.frame_done(number, path=str(path))
    with storage_errors():
        shot_file = write_fit_shot(folder / "shot", fit_shot)
    kept = [distances[i] for i in fit_shot.inputs]
    summary = {"frames": len(frames), "shot_frames": usable, "left_out": len(left_out), "not_converged": len(flagged),
               "left_out_frames": [entry["reason"] for entry in left_out[:100]],
               "median_residual_iod_percent": round(float(np.median([fit.frames[i].residual for i in fit_shot.inputs])), 3),
               "median_vertex_distance_iod_percent": round(float(np.median(kept)), 3),
               "fit_ms_per_frame": round(1000.0 * seconds / max(len(detected), 1), 1), "calibration": calibration,
               "landmark_depth_frames": len(detected) if FitSettings().depth_weight > 0 else 0,
               "notes": list(fit.notes)}
    actor.finish("fit", inputs, digest([file_digest(fit_path), file_digest(shot_file)]), summary)
    for note in fit.notes:
        context.note(f"actor fit: {note}")
    context.note(f"actor fit: {usable} shot frame(s) -> {folder / 'shot'}; median residual "
                 f"{summary['median_residual_iod_percent']}% IOD; {summary['fit_ms_per_frame']} ms per frame")
