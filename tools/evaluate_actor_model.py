#!/usr/bin/env python3
"""Measure an actor model on the synthetic actor's held-out frames, driven by the true rig values.

    .venv/bin/python tools/evaluate_actor_model.py [--model data/actors/synthetic/model/ema.safetensors]
        [--actor data/actors/synthetic] [--synthetic-actor data/synthetic_actor] [--work data/actor_model_eval]
        [--contact-sheet FILE] [--json FILE]

Builds a shot from the held-out truth (identity, ARKit values, bones, camera; the fit's crop
rule), renders its passes with Blender at the model's resolution, renders it with the actor
model (mean appearance code) and with the bundled default model, and prints issue 14's
figures: masked PSNR, landmark error above MediaPipe's floor, mouth opening vs jawOpen,
dlib identity distance, skin colour CIEDE2000. MediaPipe/dlib run in ``.venv-eval``.
``--model none`` (or a model file that does not exist yet) measures the default model alone.
The logic is ``neural_core/evaluation/actor_model.py``; the figures are in docs/actor.md.
"""

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def parse_args(argv=None):
    from neural_core.contract.looks import look_argument

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--actor", default=str(ROOT / "data" / "actors" / "synthetic"),
                        help="the actor folder the model was trained in (its crop settings)")
    parser.add_argument("--model", default=None, help="the actor model (default: ACTOR/model/ema.safetensors); 'none': skip")
    parser.add_argument("--default-model", default="default", help="the comparison model ('default': the bundled one; 'none': skip)")
    parser.add_argument("--synthetic-actor", default=str(ROOT / "data" / "synthetic_actor"))
    parser.add_argument("--split", default="held_out")
    parser.add_argument("--work", default=str(ROOT / "data" / "actor_model_eval"), help="working folder (kept; reruns reuse it)")
    parser.add_argument("--limit", type=int, help="only the first N frames")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--no-analysis", action="store_true", help="skip MediaPipe and dlib (PSNR and skin colour only)")
    parser.add_argument("--no-appearance-fit", action="store_true",
                        help="skip the measure with each frame's look fitted on its left half (about 12 min on 2 cores)")
    parser.add_argument("--appearance", default="mean", type=look_argument,
                        help="the actor model's look: mean (default), typical or frame:N (the figures called 'mean look' are this look's)")
    parser.add_argument("--contact-sheet", help="write crop | actor output | default output for 8 frames here (PNG)")
    parser.add_argument("--json", help="write every figure to this file")
    return parser.parse_args(argv)


def table(figures):
    """The figures as plain-text lines."""
    lines = [f"{figures['frames']} {figures['split']} frames at {figures['resolution']} px; "
             f"truth shot reproduces the truth landmarks within {figures['truth_shot_landmark_offset_px']:.4f} px (median); "
             f"the rig's own mouth opening vs jawOpen r {figures['rig_mouth_jaw_r']:.3f}"]
    for name in ("actor", "default", "ground_truth", "ground_truth_masked"):
        if name in figures:
            values = ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in figures[name].items())
            lines.append(f"{name}: {values}")
    for name, entry in figures.get("targets", {}).items():
        met = {True: "met", False: "NOT met", None: "not measured"}[entry["met"]]
        extra = ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in entry.items()
                          if k not in ("value", "target", "met"))
        lines.append(f"  {name:30s} {entry['value']:.4g} (target {entry['target']}): {met}" + (f"; {extra}" if extra else ""))
    return "\n".join(lines)


def main(argv=None):
    args = parse_args(argv)
    from neural_core.contract.errors import NeuralFaceError
    from neural_core.evaluation.actor_model import Settings, evaluate
    from neural_core.evaluation.face_analysis import EVAL_VENV

    model = args.model or str(Path(args.actor) / "model" / "ema.safetensors")
    if model == "none" or not Path(model).is_file():
        if model != "none":
            print(f"note: no actor model at {model}: measuring the default model alone", file=sys.stderr)
        model = None
    default = None if args.default_model == "none" else args.default_model
    if model is None and default is None:
        raise SystemExit("evaluate_actor_model: no model to measure")
    actor = Path(args.actor) if (Path(args.actor) / "actor.json").is_file() else None
    settings = Settings(synthetic_actor=Path(args.synthetic_actor), work=Path(args.work), model=model, actor=actor,
                        default_model=default, split=args.split, limit=args.limit, threads=args.threads,
                        eval_python=None if args.no_analysis else EVAL_VENV, fit_appearance=not args.no_appearance_fit,
                        appearance=args.appearance,
                        log=lambda line: print(line, file=sys.stderr, flush=True))
    try:
        figures = evaluate(settings, sheet_path=args.contact_sheet, json_path=args.json)
    except (NeuralFaceError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(table(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
