#!/usr/bin/env python3
"""Does the pose from the image help an actor with few photos? (docs/actor.md)

    .venv/bin/python tools/evaluate_photo_count.py [--sizes 2,4,8,16,32] [--subsets 8]

Splits the synthetic actor's training photos into disjoint sets of each size (the first
``--subsets`` sets), fits each set on its own as ``actor fit`` would (landmark fit, then the
pose from the image, ``actor/photometric.py``) and compares the median head-rotation error of
the landmark pose with the refined one, against the hidden truth. With few photos the
texture is an average of few, possibly misaligned, views. ``--cache FILE.npz`` keeps the
detections (as ``tools/evaluate_actor.py --cache`` does; the same file serves both).
"""

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--actor", default=str(ROOT / "data" / "synthetic_actor"))
    parser.add_argument("--split", default="train", help="train (600 photos) or held_out (64)")
    parser.add_argument("--sizes", default="2,4,8,16,32", help="photos per set, comma-separated")
    parser.add_argument("--subsets", type=int, default=8, help="disjoint sets per size (at most)")
    parser.add_argument("--cache", help="keep the detections of the whole split in this .npz and reuse them")
    parser.add_argument("--json", help="write the figures to this file")
    args = parser.parse_args(argv)

    import numpy as np

    from neural_core.actor.fit import FitSettings, fit_actor
    from neural_core.actor.head_model import load_head_model
    from neural_core.actor.photometric import refine_poses
    from neural_core.evaluation import fitting

    model = load_head_model()
    items = fitting.load_split(args.actor, args.split)
    if not items:
        raise SystemExit(f"evaluate_photo_count: no frames in {args.actor}/truth/{args.split}")
    detections, sizes, _, depths, cues = fitting.cached_detect(items, args.cache)

    def median_rotation(fit, chosen):
        rows = fitting.frame_metrics(model, fit, [items[i] for i in chosen], [detections[i] for i in chosen])
        return float(np.median([row["rotation_error_deg"] for row in rows]))

    figures = {}
    for size in (int(s) for s in args.sizes.split(",")):
        sets = [list(range(start, start + size)) for start in range(0, len(items) - size + 1, size)][: args.subsets]
        pairs = []
        for chosen in sets:
            settings = FitSettings(video=False)
            fit = fit_actor([detections[i] for i in chosen], [sizes[i] for i in chosen], settings, model=model,
                            depths=[depths[i] for i in chosen], eye_cues=[cues[i] for i in chosen], calibration="default")
            refined = refine_poses(fit, lambda k: fitting.read_image(items[chosen[k]][0]), model, settings,
                                   detections=[detections[i] for i in chosen])
            pairs.append((median_rotation(fit, chosen), median_rotation(refined, chosen)))
            print(f"{size:3d} photos from {chosen[0]:3d}: rotation error {pairs[-1][0]:.2f} -> {pairs[-1][1]:.2f} degrees",
                  flush=True)
        before, after = np.array(pairs).T
        figures[size] = {"sets": len(pairs), "landmark_pose_median_of_medians": float(np.median(before)),
                         "refined_median_of_medians": float(np.median(after)), "refined_worse_in": int((after > before).sum()),
                         "pairs": pairs}
        print(f"{size:3d} photos, {len(pairs)} sets: median rotation error {np.median(before):.2f} -> {np.median(after):.2f} "
              f"degrees; the refinement worse in {(after > before).sum()} of {len(pairs)}", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
