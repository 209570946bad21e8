"""An actor model measured against issue 14's targets, driven by a synthetic actor's *true*
rig values (``tools/evaluate_actor_model.py`` is the command line).

Steps, each in its own folder under the work folder (a rerun redoes only what changed:
the build skips finished frames, the worker skips frames already rendered by the same model):

1. ``truth/``: the held-out split as a coefficient-only shot + photo crops
   (:mod:`.truth_shot`, the actor fit's conventions and crop rule);
2. ``build/``: its passes, rendered by ``python -m blender_addon.dataset.actor_build
   --resolution R`` (R: the measured model's resolution) in a Python with ``bpy``;
   ``build/targets/`` are the crops at R pixels, the ground truth;
3. ``renders/<model>/``: ``python -m neural_core render build/shot --model M --appearance
   mean`` (the worker; an actor model's mean appearance code), for the actor model and
   for the bundled default model;
4. ``analysis/``: MediaPipe landmarks and dlib embeddings (``.venv-eval``,
   :mod:`.face_analysis`) of the outputs over grey and of the crops;
5. with appearance codes, each frame's look fitted on the left half of its head and
   measured on the right half (:func:`fitted_look`, ``appearance_fit.py``): a held-out
   frame's light is carried by no rig value, so the mean look alone measures the light too;
6. the figures (:mod:`.actor_figures`) and the contact sheet.

Figures per model: masked PSNR over the head mask (the build's ``mask`` pass); landmark
error (MediaPipe on the output vs the rig's projected landmarks, median over the 468 points
/ the rig's inter-ocular distance, median over frames; ``metrics.landmark_errors``), beside
the same detector on the ground-truth crops (the floor); mouth opening (inner-lip gap / IOD)
vs jawOpen, Pearson r; dlib identity distance of each output to its frame's crop (median);
skin colour stability: each frame's mean skin colour (linear-light mean over the ``regions``
pass's skin pixels inside the mask, eroded by ``SKIN_ERODE_PX``) in CIELAB, its CIEDE2000
to the shot's median colour (per-channel median).
"""

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..contract.atomic import write_atomically, write_text_atomically
from ..contract.errors import NeuralFaceError
from . import metrics
from .actor_figures import face_figures, measure, mouth_response, plain, verdicts
from .face_analysis import EVAL_VENV, run_analysis

ROOT = Path(__file__).resolve().parents[2]  # the checkout: python -m runs its modules from here
SHEET_FRAMES = 8
THUMB = 192  # contact sheet cell side, pixels
GREY = 0.5  # background of the outputs shown to MediaPipe/dlib and on the sheet
BUILD_TIMEOUT_S = 1800
RENDER_TIMEOUT_S = 1800


class EvaluationError(NeuralFaceError):
    """A step of the evaluation could not run (one line, naming the step and its log)."""


@dataclass
class Settings:
    """One evaluation; paths absolute or relative to the working folder."""

    synthetic_actor: Path  # the synthetic actor (tools/make_synthetic_actor.py): truth/ + the photos
    work: Path  # where the truth shot, build, renders and analysis go
    model: str = None  # the actor model (.safetensors); None: only the default model is measured
    actor: Path = None  # the actor folder the model was trained in (its crop settings); None: the defaults
    default_model: str = "default"  # the comparison model ("default": the bundled one); None: skip it
    split: str = "held_out"
    limit: int = None  # only the first N frames
    python: str = sys.executable  # a Python with bpy (the build) and torch (the worker)
    eval_python: Path = EVAL_VENV  # a Python with MediaPipe and dlib; None: no face analysis
    threads: int = 2
    samples: int = 1  # Cycles samples per pixel of the passes
    fit_appearance: bool = True  # also measure with each frame's look fitted on its left half (appearance_fit.py)
    appearance: str = "mean"  # the actor model's look in its renders ("mean", "typical", "frame:N"; contract/looks.py)
    log: object = field(default=print)  # one line per step


def model_facts(spec):
    """(output side in pixels, the file's training info: steps, train_seconds, ...) of a
    conditional model file (``"default"``: the bundled one)."""
    from ..face_model.checkpoint import read_conditional
    from ..worker.model import resolve_model_path

    config, _, info = read_conditional(resolve_model_path(spec))
    return int(config.generator.resolution), info


def run_logged(command, log_path, timeout, what):
    """Run ``command`` from the checkout, stdout and stderr appended to ``log_path``;
    EvaluationError naming ``what`` and the log's tail when it fails."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        try:
            done = subprocess.run(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                  timeout=timeout, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        except subprocess.TimeoutExpired as error:
            raise EvaluationError(f"{what} took longer than {timeout} s and was stopped; log: {log_path}") from error
    if done.returncode != 0:
        tail = [line for line in log_path.read_text(errors="replace").splitlines() if "error" in line.lower()][-3:]
        raise EvaluationError(f"{what} failed (exit {done.returncode}): {' | '.join(tail) or 'no error line'}; log: {log_path}")


# -- the steps ----------------------------------------------------------------------------------

@dataclass
class Frames:
    """The built truth shot, read back (arrays over the N built frames, in frame order)."""

    records: list  # FrameRecords of build/shot (landmarks [468, 2] in output pixels)
    targets: np.ndarray  # [N, R, R, 3] uint8: the crops at R pixels
    masks: np.ndarray  # [N, R, R] float32 head coverage
    regions: np.ndarray  # [N, R, R] float32 regions pass (region id + 1, -1 off the head)
    jaw: np.ndarray  # [N] jawOpen
    landmark_offset_px: float  # median over frames of the build's check: posed head vs truth landmarks


def prepare(settings):
    """Steps 1 and 2: the truth shot, its crops and the build at the model's resolution. Returns the build folder."""
    from ..actor.head_model import load_head_model
    from .truth_shot import crop_settings, make_truth_shot, write_truth_shot

    work = Path(settings.work)
    resolution = model_facts(settings.model or settings.default_model)[0]
    crop = crop_settings(settings.actor)
    truth = make_truth_shot(settings.synthetic_actor, settings.split, load_head_model(), crop["crop_size"], crop["crop_scale"],
                            limit=settings.limit)
    shot, crops = write_truth_shot(work / "truth", truth)
    settings.log(f"truth shot: {len(truth.shot.frames)} frames, crops {crop['crop_size']} px (scale {crop['crop_scale']}) "
                 f"-> {work / 'truth'}; building passes at {resolution} px")
    build = work / "build"
    run_logged([settings.python, "-m", "blender_addon.dataset.actor_build", "--shot", str(shot), "--crops", str(crops),
                "--out", str(build), "--resolution", str(resolution), "--samples", str(settings.samples), "--json"],
               work / "logs" / "build.log", BUILD_TIMEOUT_S, "the Blender build of the truth shot")
    return build


def read_frames(build):
    """:class:`Frames` of a finished build folder."""
    from PIL import Image

    from ..contract.shot import read_shot
    from ..contract.shot.passes import read_passes

    notes = json.loads((build / "frames.json").read_text())
    shot = read_shot(build / "shot")
    built = [r for r in shot.frames if r.frame not in set(notes.get("left_out", []))]
    targets, masks, regions = [], [], []
    for record in built:
        passes = read_passes(shot, record.frame, build / "shot", names=["mask", "regions"])
        masks.append(passes["mask"])
        regions.append(passes["regions"])
        with Image.open(build / "targets" / f"{record.frame:04d}.png") as image:
            targets.append(np.asarray(image.convert("RGB")))
    jaw = np.array([v["jaw"] for v in metrics.expression_values(shot, built)])
    offsets = [e["landmark_offset_px"] for e in notes["frames"] if e.get("landmark_offset_px") is not None]
    return Frames(built, np.stack(targets), np.stack(masks), np.stack(regions), jaw,
                  float(np.median(offsets)) if offsets else float("nan"))


def render(settings, build, name, model, options=()):
    """Step 3: the worker renders ``build/shot`` with ``model`` into ``renders/<name>``; returns that folder.
    ``options``: more worker options (``--stabilise-colour``). The actor model's renders (``name``
    starting with "actor") take ``settings.appearance``, the default model its median look."""
    out = Path(settings.work) / "renders" / name
    look = settings.appearance if name.startswith("actor") else "mean"
    run_logged([settings.python, "-m", "neural_core", "render", str(build / "shot"), "--model", str(model), "--appearance", str(look),
                "--out", str(out), "--threads", str(settings.threads), "--json", *options],
               Path(settings.work) / "logs" / f"render_{name}.log", RENDER_TIMEOUT_S, f"rendering with the {name} model")
    return out


def read_outputs(folder, records):
    """The worker's PNGs of ``records`` in ``folder``: RGBA uint8 [N, R, R, 4] (straight alpha)."""
    from PIL import Image

    from ..contract.frames import output_file_name

    outputs = []
    for record in records:
        with Image.open(Path(folder) / output_file_name(record.frame)) as image:
            outputs.append(np.asarray(image.convert("RGBA")))
    return np.stack(outputs)


def over_grey(rgba):
    """Straight-alpha RGBA uint8 [..., 4] -> RGB uint8 [..., 3] over mid grey."""
    rgba = np.asarray(rgba, dtype=np.float64) / 255.0
    rgb = rgba[..., :3] * rgba[..., 3:] + GREY * (1.0 - rgba[..., 3:])
    return (np.clip(rgb, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def analyse(settings, images):
    """Step 4: {prefix: uint8 images [N, H, W, 3]} -> face_analysis results (None without ``.venv-eval``)."""
    from PIL import Image

    folder = Path(settings.work) / "analysis"
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob("*.png"):
        stale.unlink()
    for prefix, stack in images.items():
        for i, image in enumerate(stack):
            Image.fromarray(image).save(folder / f"{prefix}_{i:04d}.png")
    if settings.eval_python is None:
        return None
    settings.log(f"face analysis of {sum(len(s) for s in images.values())} images (MediaPipe, dlib) in {folder}")
    return run_analysis(folder, python=settings.eval_python)


def contact_sheet(path, columns, titles, frames=SHEET_FRAMES):
    """A PNG at ``path``: one row per shown frame (evenly spaced), one column per entry of
    ``columns`` (uint8 [N, H, W, 3] each) under its title."""
    from PIL import Image, ImageDraw

    count = len(columns[0])
    rows = sorted(set(np.linspace(0, count - 1, min(count, frames)).round().astype(int).tolist()))
    header = 18
    sheet = Image.new("RGB", (THUMB * len(columns), header + THUMB * len(rows)), (255, 255, 255))
    draw = ImageDraw.Draw(sheet)
    for c, title in enumerate(titles):
        draw.text((c * THUMB + 4, 3), title, fill=(0, 0, 0))
    for r, index in enumerate(rows):
        for c, column in enumerate(columns):
            cell = Image.fromarray(column[index]).resize((THUMB, THUMB), Image.LANCZOS)
            sheet.paste(cell, (c * THUMB, header + r * THUMB))

    def write(temporary):
        with open(temporary, "wb") as handle:
            sheet.save(handle, format="PNG", optimize=True)

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    return write_atomically(path, write)


def fitted_look(settings, build, data, mean_look):
    """The actor model with each frame's look fitted on the left half of its head, measured on
    the right half (``appearance_fit.py``): {figures}, and the fitted renders RGBA uint8 [N, R, R, 4];
    (None, None) when the model has no appearance codes."""
    import torch

    from ..face_model import load_conditional
    from ..train.dataset import FaceDataset
    from .appearance_fit import FIT_LR, FIT_PRIOR, FIT_STEPS, fit_codes, half_psnr, halves, render_with_codes

    torch.set_num_threads(settings.threads)
    model = load_conditional(settings.model)
    if model.appearance is None:
        return None, None
    dataset = FaceDataset(build, model.config)
    samples = [dataset.load(key) for key in sorted(dataset.keys)]
    if len(samples) != len(data.records):
        raise EvaluationError(f"{build}: {len(samples)} samples but {len(data.records)} built frames")
    stack = {name: np.stack([s[name] for s in samples]).astype(np.float32) for name in ("planes", "coefficients", "target", "mask")}
    fit, measured = halves(data.targets.shape[1])
    settings.log(f"fitting each frame's look on the left half of its head ({len(samples)} frames)")
    codes = fit_codes(model, stack["planes"], stack["coefficients"], stack["target"], stack["mask"], fit, log=settings.log)
    images = render_with_codes(model, stack["planes"], stack["coefficients"], codes)
    figures = {"psnr_db_fitted_look": half_psnr(images, data.targets, data.masks, measured),
               "psnr_db_mean_look_right_half": half_psnr(mean_look, data.targets, data.masks, measured),
               "psnr_db_fitted_look_fit_half": half_psnr(images, data.targets, data.masks, fit),
               "fitted_look_protocol": {"steps": FIT_STEPS, "lr": FIT_LR, "prior": FIT_PRIOR}}
    return figures, images


FITTED = "actorfitted"  # the analysis file prefix of the actor model's renders with the looks fitted


def fitted_look_faces(count, data, analysis):
    """:func:`face_figures` of the ``count`` renders with each frame's look fitted, keys ending in
    ``_fitted_look``; {} without face analysis. The verdicts stay on the mean look: a look
    fitted on half the head has seen that frame."""
    if analysis is None:
        return {}
    return {f"{key}_fitted_look": value for key, value in face_figures(count, data, analysis, FITTED).items()}


def evaluate(settings, sheet_path=None, json_path=None):
    """Run every step; returns the figures (a JSON-able dict)."""
    build = prepare(settings)
    data = read_frames(build)
    models = {name: spec for name, spec in (("actor", settings.model), ("default", settings.default_model)) if spec}
    outputs = {}
    for name, spec in models.items():
        settings.log(f"rendering {len(data.records)} frames with the {name} model ({spec})")
        outputs[name] = read_outputs(render(settings, build, name, spec), data.records)
    fitted, fitted_images = None, None
    if "actor" in outputs and settings.fit_appearance:
        fitted, fitted_images = fitted_look(settings, build, data, outputs["actor"])
    shown = {name: over_grey(rgba) for name, rgba in outputs.items()}
    masked_crops = over_grey(np.concatenate([data.targets, (data.masks[..., None] > 0.5).astype(np.uint8) * 255], axis=-1))
    if fitted_images is not None:
        shown[FITTED] = over_grey(fitted_images)
    analysis = analyse(settings, {**shown, "crop": data.targets, "cropmasked": masked_crops})
    figures = {"split": settings.split, "frames": len(data.records), "resolution": int(data.targets.shape[1]),
               "appearance": settings.appearance,
               "synthetic_actor": str(settings.synthetic_actor), "models": {n: str(s) for n, s in models.items()},
               "model_info": {n: model_facts(s)[1] for n, s in models.items()},
               "truth_shot_landmark_offset_px": data.landmark_offset_px,
               # the rig's own projected inner lips vs jawOpen: what a perfect detector would give
               "rig_mouth_jaw_r": mouth_response([r.landmarks for r in data.records], data.jaw),
               "face_analysis": analysis is not None,
               "ground_truth": measure(data.targets, data, analysis, "crop"),
               "ground_truth_masked": measure(masked_crops, data, analysis, "cropmasked")}
    for name in ("ground_truth", "ground_truth_masked"):  # against themselves: no PSNR
        figures[name] = {k: v for k, v in figures[name].items() if not k.startswith("psnr")}
    for name, rgba in outputs.items():
        # PSNR on the straight RGB (inside the mask alpha is 1), the rest on what MediaPipe saw
        figures[name] = measure(rgba[..., :3], data, analysis, name)
    # the same model with the render's colour stabiliser, and with its brightness mode (the verdicts stay on the plain render)
    stabilised = (("actor_stabilised", "--stabilise-colour", "stabilised"),
                  ("actor_steady", "--stabilise-brightness", "stabilised_brightness"))
    for name, option, suffix in stabilised if "actor" in outputs else ():
        held = read_outputs(render(settings, build, name, settings.model, [option]), data.records)
        colour = measure(held[..., :3], data)
        figures["actor"].update({f"{key}_{suffix}": colour[key] for key in colour
                                 if key.startswith("skin_colour") or key == "psnr_db"})
    if fitted:  # the actor model has appearance codes and the fit was asked for
        figures["actor"].update(fitted)
        figures["actor"].update(fitted_look_faces(len(fitted_images), data, analysis))
    if "actor" in outputs:
        figures["targets"] = verdicts(figures["actor"], figures.get("default"), figures["ground_truth"])
    if sheet_path:
        columns = [data.targets] + [shown[n] for n in models]
        titles = ["ground-truth crop"] + [f"{n} model (mean look)" for n in models]
        if fitted_images is not None:
            columns.insert(2, shown[FITTED])
            titles.insert(2, "actor (look fitted, left half)")
        contact_sheet(sheet_path, columns, titles)
        figures["contact_sheet"] = str(sheet_path)
    if json_path:
        write_text_atomically(json_path, json.dumps(plain(figures), indent=1) + "\n")
    return figures
