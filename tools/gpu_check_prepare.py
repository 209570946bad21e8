#!/usr/bin/env python3
"""Prepare the actor folder that ``tools/gpu_check.sh`` trains on a GPU machine.

    .venv/bin/python tools/gpu_check_prepare.py [--out devrun]

Makes OUT/actor: eight photos (the two sample photos, mirrored and cropped) detected and
fitted here, the Blender build stood in by the tests' stub at 512 px (disc-shaped passes,
the crops as targets), then the photos removed, so the folder travels without its footage
as a user's would to a training machine. About 15 MB; carry it with ``.whl``, the OpenEXR
wheel for the GPU machine's Python 3.12 (its image lacks it)::

    python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
        --platform manylinux_2_28_x86_64 -d .whl openexr==3.5.3
"""

import argparse
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "devrun")
    args = parser.parse_args(argv)

    from PIL import Image, ImageOps

    from neural_core.actor.steps import build as build_step
    from neural_core.cli import main as cli_main
    from tests.core.test_footage import PHOTOS

    photos, root = args.out / "photos", args.out / "actor"
    shutil.rmtree(root, ignore_errors=True)
    photos.mkdir(parents=True, exist_ok=True)
    for name in ("astronaut.jpg", "grace_hopper.jpg"):
        image = Image.open(PHOTOS / name).convert("RGB")
        w, h = image.size
        image.save(photos / name)
        ImageOps.mirror(image).save(photos / f"m_{name}")
        image.crop((w // 16, h // 16, w, h)).save(photos / f"c_{name}")
        ImageOps.mirror(image.crop((0, 0, w - w // 16, h - h // 16))).save(photos / f"mc_{name}")
    for argv in (["new", root, "--footage", photos, "--min-frames", "2"], ["detect", root], ["fit", root]):
        if cli_main(["actor", *map(str, argv), "--json"]) != 0:
            return 1
    build_step.MODULE = "tests.core.actor_build_stub"
    code = cli_main(["actor", "build", str(root), "--resolution", "512", "--json"])
    shutil.rmtree(photos)
    return code


if __name__ == "__main__":
    sys.exit(main())
