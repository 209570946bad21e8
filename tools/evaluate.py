#!/usr/bin/env python3
"""Evaluate a conditional face model and print the issue's table.

    .venv/bin/python tools/evaluate.py --model neural_core/models/default.safetensors \\
        --heldout data/heldout [--shot data/eval_chunk] [--contact-sheet docs/default-model-contact-sheet.png]

Three modes of this one file:

- default (``.venv``: torch + bpy): renders the held-out set and a 48-frame animated shot
  of the bundled head (built with Blender on first use, ``--shot``), computes PSNR/SSIM and
  the temporal checks itself, and runs the face analysis below in a subprocess;
- ``--build-shot DIR`` (``.venv``, bpy): writes the 48-frame evaluation shot as a sample
  folder: ``DIR/shot`` (the exporter's passes) and ``DIR/targets`` (Cycles renders with
  the training data's recipe at the median appearance);
- ``--analyse DIR`` (``.venv-eval``, see ``requirements/eval.txt``): MediaPipe face mesh
  (468 landmarks) and dlib's 128-D embedding for every PNG in DIR -> ``DIR/analysis.json``.

Without ``.venv-eval`` the MediaPipe/dlib rows say "not measured". Every MediaPipe/dlib
metric is also measured on the ground truth in brackets (the shot's own Cycles renders,
the held-out targets): on this synthetic head the detectors themselves fall short of some
targets, and the bracket says by how much. Metrics:

- PSNR / SSIM: output vs held-out target inside the head mask (sRGB in [0, 1]);
- face found: share of frames where MediaPipe finds a face (outputs over grey);
- landmark error: median distance of the 468 detected landmarks to the rig's projected
  landmarks (shot.json), divided by the inter-ocular distance (eye centres of the rig);
- expression response: Pearson r of mouth opening (inner lips 13-14 / IOD) with jawOpen,
  of eye closure (1 - lid gap / eye width) with eyeBlinkLeft/Right;
- identity: dlib embedding distance between frames of the shot (one appearance), and
  between appearance seeds on the same frame;
- temporal: the same input twice gives bit-identical frames; held frames of the shot do
  not change; frame-to-frame output change vs input change (Pearson r).
"""

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SHOT_FRAMES = 48
HELD = range(40, 45)  # shot frames whose input is held constant (frame 40's)
EYE_RIGHT = (33, 133)  # MediaPipe corners of the subject's right eye
EYE_LEFT = (362, 263)
LIDS = {"Right": (159, 145, 33, 133), "Left": (386, 374, 362, 263)}  # upper, lower, corner, corner
LIPS_INNER = (13, 14)
EVAL_VENV = ROOT / ".venv-eval" / "bin" / "python"


# -- the evaluation shot (Blender) ---------------------------------------------------------
def shot_parameters():
    """Frame parameters (the dataset's format) of the 48-frame evaluation shot."""
    from neural_core.contract.rig.arkit import ARKIT_52
    from tools.dataset import sampling

    frames = []
    for f in range(1, SHOT_FRAMES + 1):
        g = 40 if f in HELD else f
        jaw = 0.5 - 0.5 * math.cos(2 * math.pi * g / 16)
        blink = float(np.clip(1.6 * math.sin(2 * math.pi * g / 11 + 1.0), 0.0, 1.0))
        smile = float(np.clip(math.sin(2 * math.pi * g / 24), 0.0, 1.0)) * 0.7
        expression = dict.fromkeys(ARKIT_52, 0.0)
        expression.update(jawOpen=jaw, eyeBlinkLeft=blink, eyeBlinkRight=blink, mouthSmileLeft=smile, mouthSmileRight=smile)
        yaw = math.radians(20) * math.sin(2 * math.pi * g / SHOT_FRAMES)
        frames.append({
            "identity": {f"id_{i:02d}": 0.0 for i in range(28)},
            "expression": expression,
            "pose": {"head": (0.0, yaw, 0.0), "neck": (0.0, 0.0, 0.0), "jaw": (0.0, 0.0, 0.0),
                     "eye.L": (0.0, 0.0, 0.0), "eye.R": (0.0, 0.0, 0.0)},
            "camera": {"yaw": 0.0, "pitch": math.radians(3), "roll": 0.0, "lens": 50.0,
                       "distance": 0.22 / 0.7 * 50.0 / 36.0, "offset": (0.0, 0.0)},
            "appearance": [0.5] * len(sampling.APPEARANCE),
        })
    return frames


def build_shot(folder):
    """Write the evaluation shot as a sample folder (``shot/`` + ``targets/``: the exporter's
    passes and the data generator's Cycles renders at the median appearance, the same
    recipe as the training data). Run under .venv, which has bpy."""
    from tools.dataset.scene import make_chunk

    make_chunk(folder, shot_parameters())


def shot_folders(path):
    """(shot folder, targets folder or None) of the evaluation shot at ``path``: a sample
    folder from :func:`build_shot`, or a plain shot folder (older layout, no targets)."""
    path = Path(path)
    if (path / "shot" / "shot.json").is_file():
        return path / "shot", path / "targets"
    return path, None


# -- face analysis (.venv-eval) --------------------------------------------------------------
def analyse(folder):
    """MediaPipe landmarks and dlib embeddings of every PNG in ``folder`` -> analysis.json."""
    import dlib
    import face_recognition_models
    import mediapipe as mp
    from PIL import Image

    detector = dlib.get_frontal_face_detector()
    predictor = dlib.shape_predictor(face_recognition_models.pose_predictor_model_location())
    encoder = dlib.face_recognition_model_v1(face_recognition_models.face_recognition_model_location())
    results = {}
    # refine_landmarks: MediaPipe's attention model re-fits the eye and lip contours. Without
    # it, lid points barely follow a closing eye: on the evaluation shot's own Cycles renders,
    # eye closure vs eyeBlink gave r 0.73-0.76 without and 0.95-0.98 with it.
    with mp.solutions.face_mesh.FaceMesh(static_image_mode=True, max_num_faces=1, refine_landmarks=True,
                                         min_detection_confidence=0.3) as mesh:
        for path in sorted(Path(folder).glob("*.png")):
            image = np.asarray(Image.open(path).convert("RGB"))
            h, w = image.shape[:2]
            found = mesh.process(image)
            landmarks = None
            if found.multi_face_landmarks:
                points = found.multi_face_landmarks[0].landmark
                landmarks = [[p.x * w, p.y * h] for p in points[:468]]
            boxes = detector(image, 1)
            if len(boxes):
                box = boxes[0]
            elif landmarks is not None:  # dlib's detector missed: use the mesh's bounding box
                pts = np.array(landmarks)
                box = dlib.rectangle(*[int(v) for v in (*pts.min(0), *pts.max(0))])
            else:
                box = None
            embedding = None
            if box is not None:
                embedding = list(encoder.compute_face_descriptor(image, predictor(image, box)))
            results[path.name] = {"landmarks": landmarks, "embedding": embedding, "dlib_detected": bool(len(boxes))}
    (Path(folder) / "analysis.json").write_text(json.dumps(results))


def run_analysis(folder):
    """Run :func:`analyse` in .venv-eval; None (with a note) when that venv is missing or fails."""
    if not EVAL_VENV.is_file():
        print(f"note: {EVAL_VENV} not found: MediaPipe/dlib rows are not measured (see requirements/eval.txt)", file=sys.stderr)
        return None
    done = subprocess.run([str(EVAL_VENV), __file__, "--analyse", str(folder)], capture_output=True, text=True, timeout=900)
    if done.returncode != 0:
        print(f"note: face analysis failed: {done.stderr[-2000:]}", file=sys.stderr)
        return None
    return json.loads((Path(folder) / "analysis.json").read_text())


# -- rendering with the model ----------------------------------------------------------------
def load_frames(shot_folder, model, frames=None):
    """(planes [N, C, R, R], coefficients [N, c], masks [N, R, R], records) of a shot folder."""
    from neural_core.face_model.inputs import coefficient_vector, pass_planes
    from neural_core.contract.shot import read_shot
    from neural_core.contract.shot.passes import read_passes

    shot = read_shot(shot_folder, check_passes=False)
    planes, coefficients, masks, records = [], [], [], []
    for record in shot.frames:
        if frames is not None and record.frame not in frames:
            continue
        passes = read_passes(shot, record.frame, shot_folder, names=sorted(set(model.config.encoder.passes) | {"mask"}))
        planes.append(pass_planes(passes, model.config.encoder, frame=record.frame))
        coefficients.append(coefficient_vector(shot.coefficient_names, record.coefficients, model.config.coefficient_names))
        masks.append(passes["mask"])
        records.append(record)
    return np.stack(planes), np.stack(coefficients), np.stack(masks), records, shot


def render(model, planes, coefficients, z, batch=8):
    """RGBA [N, 4, R, R] float32 in [0, 1]."""
    import torch

    out = []
    for i in range(0, len(planes), batch):
        p = torch.from_numpy(planes[i : i + batch])
        c = torch.from_numpy(coefficients[i : i + batch])
        zz = torch.from_numpy(np.broadcast_to(z, (len(p), model.z_dim)).copy()) if z.ndim == 1 else torch.from_numpy(z[i : i + batch])
        out.append(model.rgba(p, c, zz.float()).numpy())
    return np.concatenate(out)


def on_grey(rgba):
    """[N, 4, H, W] -> uint8 [N, H, W, 3] composited over mid grey."""
    rgb = rgba[:, :3] * rgba[:, 3:] + 0.5 * (1 - rgba[:, 3:])
    return (np.clip(rgb, 0, 1) * 255 + 0.5).astype(np.uint8).transpose(0, 2, 3, 1)


def save_pngs(images, folder, prefix):
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    for i, image in enumerate(images):
        Image.fromarray(image).save(folder / f"{prefix}_{i:04d}.png")


# -- metrics ------------------------------------------------------------------------------------
def masked_psnr(output, target, mask):
    """PSNR in dB of [3, H, W] images in [0, 1] over the pixels where mask [H, W] > 0.5."""
    m = mask > 0.5
    mse = float(((output - target) ** 2)[:, m].mean())
    return 10 * math.log10(1.0 / max(mse, 1e-10))


def masked_ssim(output, target, mask, sigma=1.5):
    """Mean SSIM (Gaussian window, luminance of sRGB) over the mask."""
    from scipy.ndimage import gaussian_filter

    weights = np.array([0.299, 0.587, 0.114])[:, None, None]
    x, y = (output * weights).sum(0), (target * weights).sum(0)
    blur = lambda a: gaussian_filter(a, sigma)  # noqa: E731
    mx, my = blur(x), blur(y)
    vx, vy, cxy = blur(x * x) - mx**2, blur(y * y) - my**2, blur(x * y) - mx * my
    c1, c2 = 0.01**2, 0.03**2
    ssim = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx**2 + my**2 + c1) * (vx + vy + c2))
    return float(ssim[mask > 0.5].mean())


def pearson(a, b):
    a, b = np.asarray(a, float), np.asarray(b, float)
    if len(a) < 3 or a.std() < 1e-9 or b.std() < 1e-9:
        return float("nan")
    return float(np.corrcoef(a, b)[0, 1])


def inter_ocular(points):
    right = points[list(EYE_RIGHT)].mean(0)
    left = points[list(EYE_LEFT)].mean(0)
    return float(np.linalg.norm(left - right))


def eye_closure(points, side):
    upper, lower, a, b = LIDS[side]
    width = np.linalg.norm(points[a] - points[b])
    return 1.0 - float(np.linalg.norm(points[upper] - points[lower]) / max(width, 1e-6)) / 0.35


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
    """Per frame: median distance of the detected 468 landmarks to the rig's, over the rig's inter-ocular distance."""
    errors = []
    for detected, record in zip(marks, records):
        if detected is None or record.landmarks is None:
            continue
        rig = np.asarray(record.landmarks)
        errors.append(float(np.median(np.linalg.norm(np.array(detected) - rig, axis=1)) / inter_ocular(rig)))
    return errors


def mouth_opening(points):
    return float(np.linalg.norm(points[LIPS_INNER[0]] - points[LIPS_INNER[1]]) / max(inter_ocular(points), 1e-6))


# -- the table ----------------------------------------------------------------------------------
def expression_values(shot, records):
    """Per frame {"jaw": jawOpen, "Left": eyeBlinkLeft, "Right": eyeBlinkRight} from the shot's coefficients."""
    names = list(shot.coefficient_names)
    index = {key: names.index(name) for key, name in (("jaw", "jawOpen"), ("Left", "eyeBlinkLeft"), ("Right", "eyeBlinkRight"))}
    return [{key: float(r.coefficients[i]) for key, i in index.items()} for r in records]


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


def evaluate(args):
    import torch

    from neural_core.face_model import load_conditional
    from neural_core.train.dataset import find_sample_folders, probit

    torch.set_num_threads(max(1, args.threads))
    model = load_conditional(args.model)
    rows = []
    work = Path(tempfile.mkdtemp(prefix="nf_eval_"))

    # held-out reconstruction
    psnrs, ssims, sheet = [], [], []
    heldout_images, heldout_targets, heldout_records, heldout_values = [], [], [], []
    for folder in find_sample_folders(args.heldout):
        record = json.loads((folder / "frames.json").read_text())
        planes, coefficients, masks, records, heldout_shot = load_frames(folder / "shot", model)
        heldout_values.extend(expression_values(heldout_shot, records))
        z = np.stack([probit(f["appearance"]) for f in record["frames"]])[: len(planes)]
        rgba = render(model, planes, coefficients, z)
        from PIL import Image

        for i, rec in enumerate(records):
            target = np.asarray(Image.open(folder / "targets" / f"{rec.frame:04d}.png").convert("RGB"), np.float32).transpose(2, 0, 1) / 255
            heldout_targets.append((target.transpose(1, 2, 0) * 255 + 0.5).astype(np.uint8))
            heldout_records.append(rec)
            psnrs.append(masked_psnr(rgba[i, :3], target, masks[i]))
            ssims.append(masked_ssim(rgba[i, :3], target, masks[i]))
            if len(sheet) < 16:
                sheet.append((planes[i], rgba[i], target))
        heldout_images.append(on_grey(rgba))
    heldout_images = np.concatenate(heldout_images) if heldout_images else np.zeros((0, 256, 256, 3), np.uint8)
    rows.append(("held-out PSNR (head mask)", f"{np.mean(psnrs):.2f} dB", f"{len(psnrs)} frames", "-"))
    rows.append(("held-out SSIM (head mask)", f"{np.mean(ssims):.3f}", f"{len(ssims)} frames", "-"))
    if args.contact_sheet:
        contact_sheet(sheet, args.contact_sheet, model)

    # the animated shot
    shot_folder, targets_folder = shot_folders(args.shot)
    if not (shot_folder / "shot.json").is_file():
        done = subprocess.run([sys.executable, __file__, "--build-shot", str(args.shot)], capture_output=True, text=True, timeout=1200)
        if done.returncode != 0:
            raise SystemExit(f"building the evaluation shot failed:\n{done.stderr[-3000:]}")
        shot_folder, targets_folder = shot_folders(args.shot)
    planes, coefficients, masks, records, shot = load_frames(shot_folder, model)
    z0 = np.zeros(model.z_dim, np.float32)  # the shot's appearance is the median look: probit(0.5) = 0
    rgba = render(model, planes, coefficients, z0)
    shot_targets = []
    if targets_folder is not None:
        from PIL import Image

        shot_psnr = []
        for i, record in enumerate(records):
            target = np.asarray(Image.open(targets_folder / f"{record.frame:04d}.png").convert("RGB"))
            shot_targets.append(target)
            shot_psnr.append(masked_psnr(rgba[i, :3], target.transpose(2, 0, 1).astype(np.float32) / 255, masks[i]))
        rows.append(("shot PSNR vs its Cycles renders (head mask)", f"{np.mean(shot_psnr):.2f} dB", f"{len(shot_psnr)} frames", "-"))
    again = render(model, planes[:4], coefficients[:4], z0)
    identical = bool(np.array_equal(again, rgba[:4]))
    held = [i for i, r in enumerate(records) if r.frame in HELD]
    held_change = float(max(np.abs(rgba[i] - rgba[held[0]]).max() for i in held))
    out_change = [np.abs(rgba[i + 1, :3] - rgba[i, :3]).mean() for i in range(len(rgba) - 1)]
    in_change = [np.abs(planes[i + 1] - planes[i]).mean() + np.abs(coefficients[i + 1] - coefficients[i]).mean() for i in range(len(rgba) - 1)]
    seeds = np.random.default_rng(7).standard_normal((4, model.z_dim)).astype(np.float32)
    seed_frames = np.concatenate([render(model, planes[:1], coefficients[:1], s) for s in seeds])
    shot_images = on_grey(rgba)
    save_pngs(shot_images, work, "shot")
    save_pngs(on_grey(seed_frames), work, "seed")
    save_pngs(heldout_images, work, "heldout")
    save_pngs(heldout_targets, work, "target")
    save_pngs(shot_targets, work, "shottarget")
    analysis = run_analysis(work)

    shot_values = expression_values(shot, records)
    if analysis is None:
        for name in ("face found", "landmark error / IOD", "mouth opening vs jawOpen r", "eye closure vs eyeBlink r",
                     "identity distance within shot", "identity distance between seeds"):
            rows.append((name, "not measured", "no .venv-eval", "-"))
    else:
        shot_marks = [analysis[f"shot_{i:04d}.png"]["landmarks"] for i in range(len(records))]
        truth_marks = [analysis[f"shottarget_{i:04d}.png"]["landmarks"] for i in range(len(shot_targets))]
        held_marks = [analysis[f"heldout_{i:04d}.png"]["landmarks"] for i in range(len(heldout_images))]
        target_marks = [analysis[f"target_{i:04d}.png"]["landmarks"] for i in range(len(heldout_targets))]
        found = lambda marks: f"{np.mean([m is not None for m in marks]) * 100:.0f}%" if marks else "n/a"  # noqa: E731
        rows.append(("face found: shot (its renders) / held-out (targets)",
                     f"{found(shot_marks)} ({found(truth_marks)}) / {found(held_marks)} ({found(target_marks)})",
                     f"{len(records)} / {len(held_marks)} frames", ">= 95%"))
        held_errors = landmark_errors(held_marks, heldout_records)
        target_errors = landmark_errors(target_marks, heldout_records)
        shot_errors = landmark_errors(shot_marks, records)
        truth_errors = landmark_errors(truth_marks, records)
        median = lambda e: f"{np.median(e) * 100:.1f}%" if e else "n/a"  # noqa: E731
        rows.append(("landmark error / IOD: shot (its renders) / held-out (targets)",
                     f"{median(shot_errors)} ({median(truth_errors)}) / {median(held_errors)} ({median(target_errors)})",
                     "median over found frames", "<= 5%"))
        shot_response = expression_response(shot_marks, records, shot_values)
        truth_response = expression_response(truth_marks, records, shot_values)
        held_response = expression_response(held_marks, heldout_records, heldout_values)
        target_response = expression_response(target_marks, heldout_records, heldout_values)
        pair = lambda a, b, key: f"{a[key]:.2f} ({b[key]:.2f})"  # noqa: E731
        rows.append(("mouth opening vs jawOpen r: shot (its renders) / held-out (targets)",
                     f"{pair(shot_response, truth_response, 'jaw')} / {pair(held_response, target_response, 'jaw')}",
                     f"{shot_response['frames']} / {held_response['frames']} frames", ">= 0.9"))
        for side in ("Left", "Right"):
            rows.append((f"eye closure vs eyeBlink{side} r: shot (its renders) / held-out (targets)",
                         f"{pair(shot_response, truth_response, side)} / {pair(held_response, target_response, side)}",
                         f"{shot_response['frames']} / {held_response['frames']} frames", ">= 0.8"))
        embeddings = [analysis[f"shot_{i:04d}.png"]["embedding"] for i in range(len(records))]
        within, to_first = identity_distances(embeddings)
        truth_within, truth_to_first = identity_distances(
            [analysis[f"shottarget_{i:04d}.png"]["embedding"] for i in range(len(shot_targets))])
        rows.append(("identity distance between frames of the shot, median of all pairs (its renders)",
                     f"{median_text(within)} ({median_text(truth_within)})", f"{len(within)} pairs", "<= 0.35"))
        rows.append(("  the same, each frame to frame 1 (eyes closed) (its renders)",
                     f"{median_text(to_first)} ({median_text(truth_to_first)})", f"{len(to_first)} frames", "-"))
        between, _ = identity_distances([analysis[f"seed_{i:04d}.png"]["embedding"] for i in range(len(seeds))])
        rows.append(("identity distance between appearance seeds, median of all pairs", median_text(between),
                     f"{len(seeds)} seeds", "> 0 (differ)"))
    rows.append(("same input twice: bit-identical", "yes" if identical else "NO", "4 frames", "yes"))
    rows.append(("held frames: max change", f"{held_change:.2e}", f"frames {HELD.start}-{HELD.stop - 1}", "0"))
    rows.append(("output change vs input change r", f"{pearson(out_change, in_change):.2f}", f"{len(out_change)} steps", "> 0"))
    pixel_rgb = np.abs(seed_frames[:, :3] - seed_frames[:1, :3]).mean(axis=(1, 2, 3))[1:]
    rows.append(("appearance seeds: mean pixel difference", f"{pixel_rgb.mean():.3f}", "4 seeds", "> 0"))
    import time

    timing = []
    p, c = torch.from_numpy(planes[:1]), torch.from_numpy(coefficients[:1])
    zz = torch.zeros(1, model.z_dim)
    for _ in range(4):
        start = time.perf_counter()
        model.rgba(p, c, zz)
        timing.append(time.perf_counter() - start)
    rows.append(("one frame, 256 px, CPU", f"{min(timing) * 1000:.0f} ms", f"{torch.get_num_threads()} threads, best of 4", "< 1000 ms"))
    print_table(rows, args.model)
    return rows


def contact_sheet(items, path, model, tile=128):
    """16 held-out frames: normal | relative depth | regions | output (on grey) | target, two per row."""
    from PIL import Image

    config = model.config.encoder
    passes = list(config.passes)
    offsets, at = {}, 0
    for name in passes:
        offsets[name] = at
        at += config.num_regions if name == "regions" else {"normal": 3, "depth": 1, "mask": 1, "albedo": 3}[name]
    palette = np.array([[0.85, 0.65, 0.55], [0.8, 0.2, 0.25], [0.95, 0.95, 0.95], [0.2, 0.4, 0.8], [0.3, 0.2, 0.1], [0.5, 0.05, 0.1], [0, 0, 0]])
    units = []
    for planes, rgba, target in items:
        normal = planes[offsets["normal"] : offsets["normal"] + 3].transpose(1, 2, 0) * 0.5 + 0.5
        depth = np.repeat(np.clip(0.5 - planes[offsets["depth"]] * 0.25, 0, 1)[..., None], 3, -1)
        onehot = planes[offsets["regions"] : offsets["regions"] + config.num_regions]
        regions = np.tensordot(onehot.transpose(1, 2, 0), palette[: config.num_regions], axes=1)
        output = on_grey(rgba[None])[0] / 255.0
        tiles = [normal, depth, regions, output, target.transpose(1, 2, 0)]
        units.append(np.concatenate([np.asarray(Image.fromarray((np.clip(t, 0, 1) * 255).astype(np.uint8)).resize((tile, tile), Image.LANCZOS)) for t in tiles], axis=1))
    while len(units) % 2:
        units.append(np.zeros_like(units[0]))
    rows = [np.concatenate([units[i], np.full((tile, 8, 3), 255, np.uint8), units[i + 1]], axis=1) for i in range(0, len(units), 2)]
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.concatenate(rows, axis=0)).save(path, optimize=True)


def print_table(rows, model_path):
    print(f"\nNeural Face model evaluation: {model_path}\n")
    widths = [max(len(str(r[k])) for r in rows + [("metric", "value", "on", "target")]) for k in range(4)]
    header = ("metric", "value", "on", "target")
    print("  ".join(h.ljust(w) for h, w in zip(header, widths)))
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print("  ".join(str(v).ljust(w) for v, w in zip(row, widths)))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(ROOT / "neural_core" / "models" / "default.safetensors"))
    parser.add_argument("--heldout", default=str(ROOT / "data" / "heldout"), help="held-out sample folders (tools/make_dataset.py --seed 1000)")
    parser.add_argument("--shot", default=str(ROOT / "data" / "eval_chunk"),
                        help="the 48-frame evaluation shot with its Cycles renders (built when missing; a plain shot folder also works)")
    parser.add_argument("--contact-sheet", default=None, help="also write a contact sheet PNG of 16 held-out frames here")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--build-shot", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--analyse", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.analyse:
        analyse(args.analyse)
        return 0
    if args.build_shot:
        build_shot(args.build_shot)
        return 0
    evaluate(args)
    return 0


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)  # the --build-shot mode imports bpy, which can hang at exit on 4.5
