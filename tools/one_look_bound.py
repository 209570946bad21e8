#!/usr/bin/env python3
"""The best a model with one look could score on the synthetic actor's held-out photos (issue 14).

    nice -n 10 .venv/bin/python tools/one_look_bound.py [--synthetic-actor data/synthetic_actor]
        [--eval-work data/actor_model_eval] [--actor data/actors/synthetic] [--out data/one_look]
        [--draws 6] [--limit N] [--json FILE]

Renders the held-out frames again with Cycles, each light set on every frame (the lights'
middle and DRAWS draws from the footage's own light distribution: what a perfect model with
one look would render), crops them as the evaluation crops the photos and measures them with
``tools/evaluate_actor_model.py``'s figures against the photos, on its build (run that first:
``--eval-work`` is its work folder). Also the per-frame mean over the draws: the least
squared error any one-look prediction can reach. About 3.3 s per image on 2 cores; resumable.
The logic is ``blender_addon/dataset/relit_actor.py`` and ``neural_core/evaluation/one_look.py``.
"""

import argparse
import dataclasses
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tools"))

import blender_script

FIGURES = ("psnr_db", "landmark_error_pct_iod", "mouth_jaw_r", "identity_distance", "skin_colour_de2000_max",
           "skin_colour_de2000_median")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--synthetic-actor", default=str(ROOT / "data" / "synthetic_actor"))
    parser.add_argument("--eval-work", default=str(ROOT / "data" / "actor_model_eval"),
                        help="tools/evaluate_actor_model.py's work folder (its build is measured against)")
    parser.add_argument("--actor", default=str(ROOT / "data" / "actors" / "synthetic"), help="the actor folder (its crop settings)")
    parser.add_argument("--out", default=str(ROOT / "data" / "one_look"), help="where the relit frames and the analysis go")
    parser.add_argument("--draws", type=int, default=6, help="light sets drawn from the footage's distribution")
    parser.add_argument("--limit", type=int, default=0, help="only the first N frames (0: as many as the build has)")
    parser.add_argument("--no-analysis", action="store_true", help="skip MediaPipe and dlib (PSNR and skin colour only)")
    parser.add_argument("--json", help="write the figures here")
    return parser.parse_args(blender_script.script_arguments(argv))


def measure(args, count):
    from PIL import Image

    from neural_core.evaluation.actor_model import read_frames
    from neural_core.evaluation.face_analysis import run_analysis
    from neural_core.evaluation.one_look import best_single_light, bound_figures, relit_names, relit_targets, with_average
    from neural_core.evaluation.truth_shot import crop_settings

    data = read_frames(Path(args.eval_work) / "build")
    if count > len(data.records):
        raise SystemExit(f"one_look_bound: the build in {args.eval_work} has {len(data.records)} frames, not {count}")
    data = dataclasses.replace(data, records=data.records[:count], targets=data.targets[:count], masks=data.masks[:count],
                               regions=data.regions[:count], jaw=data.jaw[:count])
    crop = crop_settings(Path(args.actor) if (Path(args.actor) / "actor.json").is_file() else None)
    resolution = int(data.targets.shape[1])
    sets = with_average({name: relit_targets(args.out, name, "held_out", count, resolution, crop["crop_size"], crop["crop_scale"])
                         for name in relit_names(args.out)})
    analysis = None
    if not args.no_analysis:
        folder = Path(args.out) / "analysis"
        folder.mkdir(parents=True, exist_ok=True)
        for name, images in {**sets, "crop": data.targets}.items():
            for i, image in enumerate(images):
                Image.fromarray(image).save(folder / f"{name}_{i:04d}.png")
        analysis = run_analysis(folder)
    figures = bound_figures(sets, data, analysis)
    return {"frames": count, "resolution": resolution, "sets": figures, "best_single_light": best_single_light(figures),
            "lights": json.loads((Path(args.out) / "lights.json").read_text())}


def main(argv=None):
    args = parse_args(argv)
    count = args.limit or len(json.loads((Path(args.eval_work) / "build" / "frames.json").read_text())["frames"])

    def work():
        from blender_addon.dataset.relit_actor import relight

        relight(args.synthetic_actor, args.out, "held_out", draws=args.draws, limit=count, log=blender_script.log)

    code = blender_script.run(work)
    if code:
        return code
    result = measure(args, count)
    for name, figures in result["sets"].items():
        print(f"{name:10s} " + ", ".join(f"{k} {figures[k]:.4g}" for k in FIGURES if k in figures), flush=True)
    print(f"best single light: {result['best_single_light']}", flush=True)
    if args.json:
        from neural_core.contract.atomic import write_text_atomically

        write_text_atomically(args.json, json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    blender_script.leave(main())
