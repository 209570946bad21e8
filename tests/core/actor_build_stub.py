"""A stand-in for ``python -m blender_addon.dataset.actor_build`` (the Blender side of ``actor build``).

Same command line and protocol; writes a sample folder (shot/ with synthetic disc-shaped
passes, targets/ = the crops resized, frames.json) without Blender. Environment:
``ACTOR_BUILD_STUB_FAIL=1`` reports bad input (exit 2); ``ACTOR_BUILD_STUB_SLEEP=S``
sleeps S seconds per frame (for cancel tests); ``ACTOR_BUILD_STUB_RECORD=FILE`` appends
its command line to FILE.
"""

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

from neural_core.contract import shot as fmt
from neural_core.contract.errors import NeuralFaceError
from neural_core.contract.protocol import make_reporter, run_frames
from neural_core.contract.shot.exr import write_exr_channels
from tests.core.synthetic_shot import make_shot, pass_channels


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("--shot", required=True)
    parser.add_argument("--crops", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--samples", type=int, default=1)
    parser.add_argument("--resolution", type=int, default=64)
    parser.add_argument("--json", action="store_true", default=None)
    args = parser.parse_args(argv)
    if os.environ.get("ACTOR_BUILD_STUB_RECORD"):
        with open(os.environ["ACTOR_BUILD_STUB_RECORD"], "a") as handle:
            handle.write(json.dumps(sys.argv[1:]) + "\n")
    out = Path(args.out)
    size = args.resolution
    pause = float(os.environ.get("ACTOR_BUILD_STUB_SLEEP", "0"))
    state = {}

    def frames():
        if os.environ.get("ACTOR_BUILD_STUB_FAIL"):
            raise NeuralFaceError(f"{args.shot}: the stub refuses this shot")
        fitted = fmt.read_shot(args.shot)
        template = make_shot(1, (size, size))
        scale = size / fitted.resolution[0]
        records = []
        for record in fitted.frames:
            K = np.diag([scale, scale, 1.0]) @ record.K
            records.append(fmt.FrameRecord(record.frame, record.coefficients, record.head_world, record.head_camera,
                                           record.joints, K, record.world_to_camera, record.landmarks * scale))
        state["shot"] = fmt.Shot(fps=fitted.fps, resolution=(size, size), pixel_aspect=1.0, rig_profile=fitted.rig_profile,
                                 coefficient_names=fitted.coefficient_names, frames=records, passes=template.passes,
                                 render=template.render, source=fitted.source)
        return [r.frame for r in records]

    def make(frame):
        shot = state["shot"]
        time.sleep(pause)
        (out / "shot" / "passes").mkdir(parents=True, exist_ok=True)
        write_exr_channels(fmt.pass_path(out / "shot", frame), pass_channels(shot, frame % 2))
        target = out / "targets" / f"{frame:04d}.png"
        target.parent.mkdir(parents=True, exist_ok=True)
        Image.open(Path(args.crops) / f"{frame:04d}.png").convert("RGB").resize((size, size), Image.LANCZOS).save(target)
        if frame == shot.frames[-1].frame:
            fmt.write_shot(out / "shot", shot)
            (out / "frames.json").write_text("{}\n")
        return str(target)

    return run_frames("actor build", frames, make, reporter=make_reporter(args.json))


if __name__ == "__main__":
    sys.exit(main())
