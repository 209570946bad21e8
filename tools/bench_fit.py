#!/usr/bin/env python3
"""Actor fitting speed: MediaPipe detection and the fit, per 512x512 frame (issue 14 targets:
fit <= 20 ms per frame after detection, detection + fit <= 100 ms).

    .venv/bin/python tools/bench_fit.py [--frames 64] [--threads 1]

Detection runs on tests/data/photos (resized to 512x512, both photos alternately); the fit
runs on landmarks the head model makes for random expressions and poses (photo mode:
per-frame focal length; with the landmarks' relative depth, which photo fits weigh), all
frames in one call as `python -m neural_core actor fit` does; then once more without the
depth, for the ratio. Times are wall-clock medians of --repeats runs; CPU time is printed beside them.
"""

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="BLAS threads (default: as the library decides)")
    parser.add_argument("--mirror", action=argparse.BooleanOptionalAction, default=True,
                        help="detect on each frame and its mirror image, as the actor workflow does (default)")
    parser.add_argument("--views", type=int, default=None,
                        help="views of each frame detected on and averaged (default: the actor workflow's, actor/project.py)")
    parser.add_argument("--fit-threads", type=int, default=None, help="threads of the frame solves (default: FitSettings', 2)")
    args = parser.parse_args(argv)
    if args.threads:
        for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ[name] = str(args.threads)

    import numpy as np
    from PIL import Image

    from neural_core.actor import rotations
    from neural_core.actor.fit import FitSettings, fit_actor
    from neural_core.actor.head_model import load_head_model
    from neural_core.actor.landmarks import LandmarkDetector
    from neural_core.actor.problems import FRONTAL
    from neural_core.actor.project import SETTINGS

    views = SETTINGS["detection_views"][0] if args.views is None else args.views

    photos = [np.asarray(Image.open(p).convert("RGB").resize((512, 512))) for p in
              sorted((ROOT / "tests" / "data" / "photos").glob("*.jpg"))]
    with LandmarkDetector(video=False, mirror=args.mirror, views=views) as detector:
        detector.detect(photos[0])  # warm-up
        started = time.perf_counter()
        for k in range(args.frames):
            detector.detect(photos[k % len(photos)])
        detect_ms = (time.perf_counter() - started) * 1000 / args.frames

    model = load_head_model()
    rng = np.random.default_rng(0)
    identity = rng.uniform(-0.5, 0.5, model.num_identity)
    detections, depths = [], []
    for _ in range(args.frames):
        expression = np.clip(rng.normal(0, 0.3, model.num_expression), 0, 1) * (rng.random(model.num_expression) < 0.2)
        turn = rotations.axis_angle(rng.normal(0, 0.2, 3)) @ FRONTAL
        cam = model.landmarks(identity, expression) @ turn.T + np.array([0, 0.03, 0.6])
        pixels = 700.0 * cam[:, :2] / cam[:, 2:3] + 256.0
        detections.append(pixels + rng.normal(0, 0.5, (478, 2)))
        axis = np.r_[(pixels[:468].mean(0) - 256.0) / 700.0, 1.0]  # depth runs along the line of sight
        along = cam @ (axis / np.linalg.norm(axis))
        depths.append(700.0 * (along - along.mean()) / along.mean() + rng.normal(0, 1.0, 478))
    settings = FitSettings() if args.fit_threads is None else FitSettings(threads=args.fit_threads)

    def timed(with_depth):
        walls, cpus = [], []
        for _ in range(args.repeats):
            wall, cpu = time.perf_counter(), time.process_time()
            fit_actor(detections, [(512, 512)] * args.frames, settings, model=model, depths=depths if with_depth else None)
            walls.append((time.perf_counter() - wall) * 1000 / args.frames)
            cpus.append((time.process_time() - cpu) * 1000 / args.frames)
        return float(np.median(walls)), float(np.median(cpus))

    (fit_ms, fit_cpu), (plain_ms, plain_cpu) = timed(True), timed(False)
    how = ("the frame and its mirror image" if args.mirror else "the frame alone") + f", {views} view(s)"
    print(f"detection: {detect_ms:.1f} ms per 512x512 frame (MediaPipe face mesh, refined landmarks, on {how})")
    print(f"fit:       {fit_ms:.1f} ms per frame wall ({fit_cpu:.1f} ms CPU), {args.frames} frames per call, "
          f"{settings.threads} solver thread(s), target <= 20")
    print(f"  without the landmark depth: {plain_ms:.1f} ms wall ({plain_cpu:.1f} ms CPU); with / without "
          f"{fit_ms / plain_ms:.2f}")
    print(f"detection + fit: {detect_ms + fit_ms:.1f} ms per frame, target <= 100; load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    return 0


if __name__ == "__main__":
    sys.exit(main())
