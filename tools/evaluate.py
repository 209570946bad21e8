#!/usr/bin/env python3
"""Evaluate a conditional face model and print the issue's table.

    .venv/bin/python tools/evaluate.py --model neural_core/models/default.safetensors \\
        --heldout data/heldout [--shot data/eval_chunk] [--contact-sheet docs/default-model-contact-sheet.png]

Renders the held-out set (``tools/make_dataset.py --seed 1000``) and the 48-frame
evaluation shot of the bundled head with the model; measures PSNR/SSIM in the head mask,
the temporal checks, and (in ``.venv-eval``, ``requirements/eval.txt``) MediaPipe
landmarks and dlib identity embeddings, each also on the ground truth in brackets. See
``neural_core/evaluation/`` (the measures) and ``docs/default-model.md`` (the results).

The evaluation shot is built on first use (``--shot``) in a subprocess of this script:
``--build-shot DIR`` writes it with Blender (``blender_addon/dataset/eval_shot.py``).
"""

import argparse
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
BUILD_TIMEOUT_S = 1200  # the 48-frame shot: about 2 minutes on a 2-core CPU


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(ROOT / "neural_core" / "models" / "default.safetensors"))
    parser.add_argument(
        "--heldout", default=str(ROOT / "data" / "heldout"), help="held-out sample folders (tools/make_dataset.py --seed 1000)"
    )
    parser.add_argument(
        "--shot",
        default=str(ROOT / "data" / "eval_chunk"),
        help="the 48-frame evaluation shot with its Cycles renders (built when missing; a plain shot folder also works)",
    )
    parser.add_argument("--contact-sheet", default=None, help="also write a contact sheet PNG of 16 held-out frames here")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--build-shot", default=None, help="only write the evaluation shot into this folder (Blender)")
    return parser.parse_args(argv)


def ensure_shot(path):
    """Build the evaluation shot at ``path`` unless a shot is there (bpy in a child process)."""
    from neural_core.evaluation.default_model import shot_folders

    if (shot_folders(path)[0] / "shot.json").is_file():
        return
    done = subprocess.run([sys.executable, __file__, "--build-shot", str(path)], capture_output=True, text=True, timeout=BUILD_TIMEOUT_S)
    if done.returncode != 0:
        raise SystemExit(f"building the evaluation shot failed:\n{done.stderr[-3000:]}")


def main(argv=None):
    args = parse_args(argv)
    if args.build_shot:
        from blender_addon.dataset.eval_shot import build_shot

        build_shot(args.build_shot)
        return 0
    from neural_core.evaluation.default_model import evaluate, format_table

    ensure_shot(args.shot)
    rows = evaluate(args.model, args.heldout, args.shot, args.contact_sheet, args.threads)
    print(format_table(rows, args.model))
    return 0


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)  # --build-shot imports bpy; bpy 4.5.15 can hang at exit while a handler is left in bpy.app.handlers
