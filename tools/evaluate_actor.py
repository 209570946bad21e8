#!/usr/bin/env python3
"""Fit the synthetic actor's footage and compare with its hidden truth (issue 14's targets).

    .venv/bin/python tools/evaluate_actor.py [--actor data/synthetic_actor] [--split held_out]

Detects MediaPipe landmarks on the split's images (on each image and its mirror image,
averaged, as ``actor detect`` does; ``--no-mirror``: the image alone), fits the bundled
head (photos: per-photo focal length; the ``video`` split: one focal length and temporal
smoothness), reads the head pose from the images as ``actor fit`` does (``actor/photometric.py``;
``--photometric-rounds 0``: the landmark pose alone; the landmark pose's own figures are kept
under ``landmark_pose``), and prints every figure beside MediaPipe's own error against the truth.
``--json FILE`` keeps them; ``--cache FILE.npz`` keeps the detections for the next run.

``--landmarks truth [--noise PCT]`` replaces MediaPipe by the true projected vertices (plus
independent Gaussian noise of PCT percent of the inter-ocular distance per coordinate) and
fits them without the landmark calibration (which models MediaPipe): it shows what the fitter
recovers from perfect or merely noisy landmarks, against what MediaPipe's detections give.
Make the actor first: ``tools/make_synthetic_actor.py --out data/synthetic_actor``.
"""

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--actor", default=str(ROOT / "data" / "synthetic_actor"))
    parser.add_argument("--split", default="held_out", help="train, held_out or video")
    parser.add_argument("--limit", type=int, help="only the first N frames")
    parser.add_argument("--json", help="write the figures to this file")
    parser.add_argument("--landmarks", choices=("mediapipe", "truth"), default="mediapipe",
                        help="fit MediaPipe's detections, or the true projected vertices (no calibration)")
    parser.add_argument("--mirror", action=argparse.BooleanOptionalAction, default=True,
                        help="average MediaPipe's detections on each image and its mirror image, as the actor workflow does")
    parser.add_argument("--views", type=int, default=None,
                        help="views of each image MediaPipe detects on and averages (actor/landmarks.py; default: the workflow's)")
    parser.add_argument("--depth", action=argparse.BooleanOptionalAction, default=True,
                        help="fit MediaPipe's landmark depth too, as the actor workflow does")
    parser.add_argument("--eye-closure", action=argparse.BooleanOptionalAction, default=True,
                        help="close the blinks further where the image shows closed eyes (actor/eye_closure.py), as the workflow does; "
                             "the mixture is estimated on the split's own frames")
    parser.add_argument("--noise", type=float, default=0.0,
                        help="with --landmarks truth: Gaussian noise, percent of the IOD per coordinate (seed 0)")
    parser.add_argument("--photometric-rounds", type=int, default=None,
                        help="rounds of the pose read from the image (actor/photometric.py; default: the workflow's, 0: off)")
    parser.add_argument("--cache", help="with --landmarks mediapipe: keep the detections in this .npz and reuse them")
    args = parser.parse_args(argv)

    import numpy as np

    from neural_core.actor.fit import FitSettings, fit_actor
    from neural_core.actor.head_model import load_head_model
    from neural_core.actor.photometric import refine_poses
    from neural_core.actor.project import SETTINGS
    from neural_core.evaluation import fitting

    model = load_head_model()
    items = fitting.load_split(args.actor, args.split)[: args.limit]
    if not items:
        raise SystemExit(f"evaluate_actor: no frames in {args.actor}/truth/{args.split}")
    video = args.split == "video"
    if args.landmarks == "truth":
        detections, sizes, detect_s = fitting.true_landmarks(items, args.noise), fitting.image_sizes(items), 0.0
        depths = cues = None
    else:  # (tracking mode jitters more: landmarks.py)
        views = args.views if args.views is not None else SETTINGS["detection_views"][0]
        detections, sizes, detect_s, depths, cues = fitting.cached_detect(items, args.cache, mirror=args.mirror, views=views)
    settings = FitSettings(video=video)
    if not args.depth:
        settings.depth_weight = 0.0
    if not args.eye_closure:
        settings.eye_closure_weight = 0.0
    if args.photometric_rounds is not None:
        settings.photometric_rounds = args.photometric_rounds
    calibration = "default" if args.landmarks == "mediapipe" else None  # (truth landmarks are vertices)
    started = time.perf_counter()
    fit = fit_actor(detections, sizes, settings, model=model, depths=depths, eye_cues=cues, calibration=calibration)
    fit_s = (time.perf_counter() - started) / len(items)
    landmark_fit = fit
    started = time.perf_counter()
    fit = refine_poses(fit, lambda i: fitting.read_image(items[i][0]), model, settings, detections=detections,
                       calibration=calibration)
    photometric_s = (time.perf_counter() - started) / len(items)
    identity_truth = json.loads((Path(args.actor) / "truth" / "actor.json").read_text())["identity"]
    identity_truth = np.array([identity_truth[n] for n in model.identity_names])
    rows = fitting.frame_metrics(model, fit, items, detections)
    figures = fitting.summarise(model, fit, rows, identity_truth)
    figures.update(split=args.split, detected=sum(d is not None for d in detections), total=len(items),
                   detection_ms_per_frame=1000 * detect_s, fit_ms_per_frame=1000 * fit_s,
                   photometric_ms_per_frame=1000 * photometric_s, warnings=fit.warnings, notes=fit.notes)
    if fit is not landmark_fit:  # the landmark fit's own figures, before the pose from the image
        before = fitting.summarise(model, landmark_fit, fitting.frame_metrics(model, landmark_fit, items, detections),
                                   identity_truth)
        figures["landmark_pose"] = {key: before[key] for key in ("landmarks_fit_vs_truth_pct_iod", "fit_residual_pct_iod",
                                                                  "rotation_error_deg_median", "jawOpen_r", "top10_mae")}
    if video:
        figures["static_jitter_px"] = fitting.static_jitter(rows, items)
    for key, value in figures.items():
        print(f"{key:40s} {value}")
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
