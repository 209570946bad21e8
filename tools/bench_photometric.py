#!/usr/bin/env python3
"""Speed of the pose from the image (actor/photometric.py) against its previous settings, in one run.

    .venv/bin/python tools/bench_photometric.py [--frames 32] [--repeats 2] [--threads 1]

Fits the synthetic actor's first --frames held-out photos once (landmark fit, cached
detections with --cache), then times the refinement alternately with the present settings
(``FitSettings.photometric_step_gain``, ``photometric_iterations``) and the previous ones (plain
Gauss-Newton steps, 25 iterations), and prints each one's seconds per frame (median of
--repeats) and median rotation error against the truth, and the ratio of the times.
Make the actor first: ``tools/make_synthetic_actor.py --out data/synthetic_actor``.
"""

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PREVIOUS = {"gain": 1.0, "iterations": 25}  # the settings of 2026-11-27, session 28


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--actor", default=str(ROOT / "data" / "synthetic_actor"))
    parser.add_argument("--frames", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=None, help="BLAS threads (default: as the library decides)")
    parser.add_argument("--cache", help="keep the detections in this .npz and reuse them")
    args = parser.parse_args(argv)
    if args.threads:
        for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ[name] = str(args.threads)

    import numpy as np

    from neural_core.actor import photometric
    from neural_core.actor.fit import FitSettings, fit_actor
    from neural_core.actor.head_model import load_head_model
    from neural_core.evaluation import fitting

    model = load_head_model()
    items = fitting.load_split(args.actor, "held_out")[: args.frames]
    if not items:
        raise SystemExit(f"bench_photometric: no frames in {args.actor}/truth/held_out (make the synthetic actor first)")
    detections, sizes, _, depths, cues = fitting.cached_detect(items, args.cache)
    fit = fit_actor(detections, sizes, FitSettings(), model=model, depths=depths, eye_cues=cues, calibration="default")
    images = [fitting.read_image(path) for path, _ in items]  # (read once: the bench times the solve)
    present = {"gain": FitSettings().photometric_step_gain, "iterations": FitSettings().photometric_iterations}
    times = {"present": [], "previous": []}
    errors = {}
    for _ in range(args.repeats):
        for name, chosen in (("present", present), ("previous", PREVIOUS)):
            settings = FitSettings(photometric_iterations=chosen["iterations"], photometric_step_gain=chosen["gain"],
                                   photometric_gaze=False)  # (the pose and jaw rounds alone: the gaze costs both the same)
            started = time.perf_counter()
            refined = photometric.refine_poses(fit, images.__getitem__, model, settings)
            times[name].append((time.perf_counter() - started) / len(items))
            rows = fitting.frame_metrics(model, refined, items, detections)
            errors[name] = float(np.median([row["rotation_error_deg"] for row in rows]))
    for name, chosen in (("present", present), ("previous", PREVIOUS)):
        print(f"{name:9s} step gain {chosen['gain']:g}, {chosen['iterations']} iterations: "
              f"{1000 * np.median(times[name]):.0f} ms per frame, rotation error {errors[name]:.2f} degrees")
    print(f"ratio previous / present: {np.median(times['previous']) / np.median(times['present']):.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
