"""The evaluation of a conditional face model: the table ``tools/evaluate.py`` prints.

Inputs are sample folders (``shot/`` passes + ``targets/`` Cycles renders + ``frames.json``)
that the Blender side writes (``blender_addon/dataset``):

- the held-out set (``tools/make_dataset.py --seed 1000``): PSNR / SSIM in the head mask,
  face analysis of outputs and targets;
- the 48-frame animated evaluation shot (``tools/evaluate.py --build-shot``): temporal
  checks (bit-identical reruns, held frames, output change vs input change), face analysis
  of the outputs and of the shot's own renders (the ground truth, in brackets), identity
  distances within the shot and between appearance seeds.

Every MediaPipe/dlib figure runs in ``.venv-eval`` (see :mod:`.face_analysis`); without it
those rows say "not measured". Rows are tuples (metric, value, measured on, target).
"""

import json
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import metrics
from .face_analysis import run_analysis
from .rendering import load_frames, on_grey, read_target, render, save_pngs

SEEDS = 4  # appearance seeds rendered on the shot's first frame
SHEET_FRAMES = 16  # held-out frames on the contact sheet


def shot_folders(path):
    """(shot folder, targets folder or None) of the evaluation shot at ``path``: a sample
    folder (``tools/evaluate.py --build-shot``), or a plain shot folder (no targets)."""
    path = Path(path)
    if (path / "shot" / "shot.json").is_file():
        return path / "shot", path / "targets"
    return path, None


def read_notes(sample_folder):
    """A sample folder's ``frames.json`` as a dict, or None when it has none."""
    path = Path(sample_folder) / "frames.json"
    return json.loads(path.read_text()) if path.is_file() else None


def appearance_latents(notes, records, z_dim):
    """Per-frame appearance latents [N, z_dim]: the probit of each frame's appearance
    uniforms in ``notes`` (frame f is ``notes["frames"][f - 1]``), zeros (the median
    look) without notes."""
    if not notes or not notes.get("frames"):
        return np.zeros((len(records), z_dim), np.float32)
    from ..train.dataset import probit

    return np.stack([probit(notes["frames"][r.frame - 1]["appearance"]) for r in records])


@dataclass
class HeldOut:
    """The model on the held-out sample folders (images uint8 [H, W, 3])."""

    psnr: list = field(default_factory=list)  # dB per frame
    ssim: list = field(default_factory=list)
    outputs: list = field(default_factory=list)  # the model's frames over grey
    targets: list = field(default_factory=list)
    records: list = field(default_factory=list)  # FrameRecords
    values: list = field(default_factory=list)  # expression_values per frame
    sheet: list = field(default_factory=list)  # (planes, rgba, target [3, R, R]) for the contact sheet


def heldout_reconstruction(model, heldout_root):
    """Render every frame of the complete sample folders under ``heldout_root``; HeldOut."""
    from ..train.dataset import find_sample_folders

    result = HeldOut()
    for folder in find_sample_folders(heldout_root):
        planes, coefficients, masks, records, shot = load_frames(folder / "shot", model)
        rgba = render(model, planes, coefficients, appearance_latents(read_notes(folder), records, model.z_dim))
        result.values.extend(metrics.expression_values(shot, records))
        for i, record in enumerate(records):
            target = read_target(folder / "targets" / f"{record.frame:04d}.png")
            result.targets.append((target.transpose(1, 2, 0) * 255 + 0.5).astype(np.uint8))
            result.records.append(record)
            result.psnr.append(metrics.masked_psnr(rgba[i, :3], target, masks[i]))
            result.ssim.append(metrics.masked_ssim(rgba[i, :3], target, masks[i]))
            if len(result.sheet) < SHEET_FRAMES:
                result.sheet.append((planes[i], rgba[i], target))
        result.outputs.extend(on_grey(rgba))
    return result


@dataclass
class ShotRun:
    """The model on the evaluation shot."""

    planes: np.ndarray  # [N, C, R, R] model input planes
    coefficients: np.ndarray  # [N, c]
    z: np.ndarray  # [N, z_dim] appearance latents
    records: list  # FrameRecords
    shot: object  # the Shot
    rgba: np.ndarray  # [N, 4, R, R] the model's frames in [0, 1]
    held: list  # frame numbers whose input is held constant
    targets: list  # the shot's own Cycles renders, uint8 [H, W, 3] (empty for a plain shot folder)
    psnr: list  # dB per frame against those renders


def shot_run(model, path):
    """Render the evaluation shot at ``path`` (see :func:`shot_folders`); ShotRun."""
    shot_folder, targets_folder = shot_folders(path)
    notes = read_notes(path) if targets_folder is not None else None
    planes, coefficients, masks, records, shot = load_frames(shot_folder, model)
    z = appearance_latents(notes, records, model.z_dim)
    rgba = render(model, planes, coefficients, z)
    targets, psnr = [], []
    for i, record in enumerate(records if targets_folder is not None else ()):
        target = read_target(targets_folder / f"{record.frame:04d}.png")
        targets.append((target.transpose(1, 2, 0) * 255 + 0.5).astype(np.uint8))
        psnr.append(metrics.masked_psnr(rgba[i, :3], target, masks[i]))
    return ShotRun(planes, coefficients, z, records, shot, rgba, metrics.held_frames(notes, records), targets, psnr)


def seed_frames(model, run, count=SEEDS):
    """The shot's first frame under ``count`` random appearance latents: RGBA [count, 4, R, R]."""
    seeds = np.random.default_rng(7).standard_normal((count, model.z_dim)).astype(np.float32)
    return np.concatenate([render(model, run.planes[:1], run.coefficients[:1], s) for s in seeds])


def reconstruction_rows(heldout, run):
    rows = [("held-out PSNR (head mask)", f"{np.mean(heldout.psnr):.2f} dB", f"{len(heldout.psnr)} frames", "-"),
            ("held-out SSIM (head mask)", f"{np.mean(heldout.ssim):.3f}", f"{len(heldout.ssim)} frames", "-")]
    if run.psnr:
        rows.append(("shot PSNR vs its Cycles renders (head mask)", f"{np.mean(run.psnr):.2f} dB", f"{len(run.psnr)} frames", "-"))
    return rows


def analysis_images(heldout, run, seeds):
    """{file prefix: uint8 images [H, W, 3]} the face analysis looks at."""
    return {"shot": on_grey(run.rgba), "seed": on_grey(seeds), "heldout": heldout.outputs,
            "target": heldout.targets, "shottarget": run.targets}


def _marks(analysis, prefix, count, key="landmarks"):
    return [analysis[f"{prefix}_{i:04d}.png"][key] for i in range(count)]


def analysis_rows(analysis, heldout, run):
    """The MediaPipe/dlib rows; "not measured" ones when ``analysis`` is None."""
    names = ("face found", "landmark error / IOD", "mouth opening vs jawOpen r", "eye closure vs eyeBlink r",
             "identity distance within shot", "identity distance between seeds")
    if analysis is None:
        return [(name, "not measured", "no .venv-eval", "-") for name in names]
    n_shot, n_truth, n_held = len(run.records), len(run.targets), len(heldout.outputs)
    shot, truth = _marks(analysis, "shot", n_shot), _marks(analysis, "shottarget", n_truth)
    held, target = _marks(analysis, "heldout", n_held), _marks(analysis, "target", len(heldout.targets))
    rows = []

    def found(marks):
        return f"{np.mean([m is not None for m in marks]) * 100:.0f}%" if marks else "n/a"

    rows.append(("face found: shot (its renders) / held-out (targets)",
                 f"{found(shot)} ({found(truth)}) / {found(held)} ({found(target)})", f"{n_shot} / {n_held} frames", ">= 95%"))

    def median(errors):
        return f"{np.median(errors) * 100:.1f}%" if errors else "n/a"

    errors = [metrics.landmark_errors(m, r) for m, r in
              ((shot, run.records), (truth, run.records), (held, heldout.records), (target, heldout.records))]
    rows.append(("landmark error / IOD: shot (its renders) / held-out (targets)",
                 f"{median(errors[0])} ({median(errors[1])}) / {median(errors[2])} ({median(errors[3])})",
                 "median over found frames", "<= 5%"))
    shot_values = metrics.expression_values(run.shot, run.records)
    response = [metrics.expression_response(m, r, v) for m, r, v in
                ((shot, run.records, shot_values), (truth, run.records, shot_values),
                 (held, heldout.records, heldout.values), (target, heldout.records, heldout.values))]
    frames = f"{response[0]['frames']} / {response[2]['frames']} frames"

    def pair(key):
        return f"{response[0][key]:.2f} ({response[1][key]:.2f}) / {response[2][key]:.2f} ({response[3][key]:.2f})"

    rows.append(("mouth opening vs jawOpen r: shot (its renders) / held-out (targets)", pair("jaw"), frames, ">= 0.9"))
    for side in ("Left", "Right"):
        rows.append((f"eye closure vs eyeBlink{side} r: shot (its renders) / held-out (targets)", pair(side), frames, ">= 0.8"))
    within, to_first = metrics.identity_distances(_marks(analysis, "shot", n_shot, "embedding"))
    truth_within, truth_to_first = metrics.identity_distances(_marks(analysis, "shottarget", n_truth, "embedding"))
    text = metrics.median_text
    rows.append(("identity distance between frames of the shot, median of all pairs (its renders)",
                 f"{text(within)} ({text(truth_within)})", f"{len(within)} pairs", "<= 0.35"))
    rows.append(("  the same, each frame to frame 1 (eyes closed) (its renders)",
                 f"{text(to_first)} ({text(truth_to_first)})", f"{len(to_first)} frames", "-"))
    between, _ = metrics.identity_distances(_marks(analysis, "seed", SEEDS, "embedding"))
    rows.append(("identity distance between appearance seeds, median of all pairs", text(between), f"{SEEDS} seeds", "> 0 (differ)"))
    return rows


def temporal_rows(model, run, seeds):
    """Determinism, held frames, output change vs input change, appearance seeds."""
    again = render(model, run.planes[:4], run.coefficients[:4], run.z[:4])
    identical = bool(np.array_equal(again, run.rgba[:4]))
    rows = [("same input twice: bit-identical", "yes" if identical else "NO", "4 frames", "yes")]
    held = [i for i, r in enumerate(run.records) if r.frame in run.held]
    if held:
        change = float(max(np.abs(run.rgba[i] - run.rgba[held[0]]).max() for i in held))
        rows.append(("held frames: max change", f"{change:.2e}", f"frames {min(run.held)}-{max(run.held)}", "0"))
    else:
        rows.append(("held frames: max change", "n/a", "no held frames in the shot", "0"))
    rgba, planes, coefficients = run.rgba, run.planes, run.coefficients
    out_change = [np.abs(rgba[i + 1, :3] - rgba[i, :3]).mean() for i in range(len(rgba) - 1)]
    in_change = [np.abs(planes[i + 1] - planes[i]).mean() + np.abs(coefficients[i + 1] - coefficients[i]).mean()
                 for i in range(len(rgba) - 1)]
    rows.append(("output change vs input change r", f"{metrics.pearson(out_change, in_change):.2f}", f"{len(out_change)} steps", "> 0"))
    pixel_rgb = np.abs(seeds[:, :3] - seeds[:1, :3]).mean(axis=(1, 2, 3))[1:]
    rows.append(("appearance seeds: mean pixel difference", f"{pixel_rgb.mean():.3f}", f"{len(seeds)} seeds", "> 0"))
    return rows


def timing_row(model, run, repeats=4):
    """Best of ``repeats`` single-frame renders."""
    import torch

    p, c = torch.from_numpy(run.planes[:1]), torch.from_numpy(run.coefficients[:1])
    z = torch.zeros(1, model.z_dim)
    timing = []
    for _ in range(repeats):
        start = time.perf_counter()
        model.rgba(p, c, z)
        timing.append(time.perf_counter() - start)
    resolution = run.planes.shape[-1]
    return (f"one frame, {resolution} px, CPU", f"{min(timing) * 1000:.0f} ms",
            f"{torch.get_num_threads()} threads, best of {repeats}", "< 1000 ms")


def evaluate(model_path, heldout_root, shot_path, contact_sheet_path=None, threads=2):
    """Evaluate the model file at ``model_path``; returns the table's rows.

    ``shot_path``: the evaluation shot, which must exist (``tools/evaluate.py`` builds it).
    Analysis images go to a fresh temporary folder (kept, its path is not printed).
    """
    import torch

    from ..face_model import load_conditional

    torch.set_num_threads(max(1, threads))
    model = load_conditional(model_path)
    heldout = heldout_reconstruction(model, heldout_root)
    if contact_sheet_path:
        from .contact_sheet import contact_sheet

        contact_sheet(heldout.sheet, contact_sheet_path, model.config.encoder)
    run = shot_run(model, shot_path)
    seeds = seed_frames(model, run)
    work = Path(tempfile.mkdtemp(prefix="nf_eval_"))
    for prefix, images in analysis_images(heldout, run, seeds).items():
        save_pngs(images, work, prefix)
    rows = reconstruction_rows(heldout, run)
    rows += analysis_rows(run_analysis(work), heldout, run)
    rows += temporal_rows(model, run, seeds)
    rows.append(timing_row(model, run))
    return rows


def format_table(rows, model_path):
    """The rows as a plain-text table under a title line."""
    header = ("metric", "value", "on", "target")
    widths = [max(len(str(r[k])) for r in [*rows, header]) for k in range(4)]
    lines = [f"\nNeural Face model evaluation: {model_path}\n",
             "  ".join(h.ljust(w) for h, w in zip(header, widths)),
             "  ".join("-" * w for w in widths)]
    lines += ["  ".join(str(v).ljust(w) for v, w in zip(row, widths)) for row in rows]
    return "\n".join(lines)
