#!/usr/bin/env python
"""Time the rig exporter: coefficient-only ms/frame and passes s/frame.

    .venv/bin/python tools/bench_export.py [--frames 1000] [--pass-frames 5] [--size 256]
    .venv-bpy5.0.1/bin/python tools/bench_export.py

Builds the demo scene (``blender_addon/demo_scene.py``: the bundled head with keyed
blink, smile and jaw, a keyed head turn and a camera dolly, stretched to --frames) plus one
driven shape key (drivers are evaluated per frame too), then times ``export_shot``
(targets: <= 10 ms/frame without passes over 1,000 frames; <= 0.5 s/frame for Cycles CPU
passes at 256x256, 1 sample).
"""

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=1000, help="frames for coefficient-only export")
    parser.add_argument("--pass-frames", type=int, default=5, help="frames rendered with passes")
    parser.add_argument("--size", type=int, default=256, help="square output size in pixels")
    parser.add_argument("--samples", type=int, default=1, help="Cycles samples per pixel")
    args = parser.parse_args(argv)

    import bpy

    from blender_addon.demo_scene import build_demo_scene
    from blender_addon.export.exporter import ExportSettings, export_shot

    bpy.ops.wm.read_factory_settings(use_empty=True)
    demo = build_demo_scene(bpy.context.scene, frames=args.frames)
    scene = demo.scene
    driver = demo.head.mesh.data.shape_keys.key_blocks["browInnerUp"].driver_add("value").driver
    driver.type = "SCRIPTED"
    driver.expression = "0.5 + 0.4 * sin(frame / 5)"
    scene.render.resolution_x = scene.render.resolution_y = args.size
    version = bpy.app.version_string
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        export_shot(scene, ExportSettings(output=os.path.join(tmp, "coef"), passes=False))
        coef = (time.perf_counter() - start) / args.frames
        print(f"Blender {version}: coefficient-only export (landmarks on): "
              f"{coef * 1000:.2f} ms/frame over {args.frames} frames", flush=True)
        start = time.perf_counter()
        export_shot(scene, ExportSettings(output=os.path.join(tmp, "coef"), passes=False,
                                          landmarks=False))
        coef = (time.perf_counter() - start) / args.frames
        print(f"Blender {version}: coefficient-only export (no landmarks): "
              f"{coef * 1000:.2f} ms/frame over {args.frames} frames", flush=True)
        start = time.perf_counter()
        export_shot(scene, ExportSettings(output=os.path.join(tmp, "passes"), frame_end=args.pass_frames,
                                          samples=args.samples))
        per = (time.perf_counter() - start) / args.pass_frames
        print(f"Blender {version}: Cycles CPU passes at {args.size}x{args.size}, "
              f"{args.samples} sample(s): {per:.3f} s/frame over {args.pass_frames} frames", flush=True)
    sys.stdout.flush()
    os._exit(0)  # bpy 4.5.15 hangs at interpreter exit while a handler is left in bpy.app.handlers


if __name__ == "__main__":
    main()
