#!/usr/bin/env python3
"""The Neural Face demo: every stage of the pipeline that exists, timed.

Run through ``./tools/demo`` (which sets up ``.venv``). Stages:
  1. build the extension zip with Blender's extension tool;
  2. install and enable it in Blender (a separate bpy process), check it registered;
  3. build the demo scene: the bundled head, 48 frames at 24 fps (blink, smile, jaw
     open, head turn, camera dolly), saved as ``demo_out/demo_scene.blend``;
  4. export the shot folder (coefficients, pose, camera, landmarks, Cycles passes);
  5. validate the shot folder and summarise it;
  6. synthesise the faces with the bundled default model in a worker process;
  7. composite them over the render layers and write the final frames;
  8. write ``demo_out/contact_sheet.png`` (passes, neural face, composite for 8 frames).
"""

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tools"))


class Stages:
    """Runs named stages, prints each one's time, and a summary at the end."""

    def __init__(self):
        self.times = []
        self.products = []

    def run(self, title, function, *args, **kwargs):
        print(f"\n== {title}", flush=True)
        start = time.perf_counter()
        result = function(*args, **kwargs)
        elapsed = time.perf_counter() - start
        self.times.append((title, elapsed))
        print(f"   done in {elapsed:.1f} s", flush=True)
        return result

    def produced(self, what, path):
        self.products.append((what, path))

    def summary(self):
        print("\n== Summary")
        for title, elapsed in self.times:
            print(f"   {elapsed:7.1f} s  {title}")
        print("\n   Produced:")
        for what, path in self.products:
            print(f"   - {what}: {path}")


def install_extension(zip_path, out):
    env = dict(os.environ)
    env.setdefault("BLENDER_USER_RESOURCES", str(out / "blender-user"))
    result = subprocess.run(
        [sys.executable, str(ROOT / "tools/install_extension.py"), str(zip_path)],
        capture_output=True, text=True, timeout=300, env=env,
    )
    line = next((l for l in result.stdout.splitlines() if l.startswith("RESULT ")), None)
    if result.returncode != 0 or line is None:
        raise SystemExit(f"demo: installing the extension failed:\n{result.stdout}{result.stderr}")
    report = json.loads(line.removeprefix("RESULT "))
    print(f"   Blender {report['blender']}: installed and enabled; operators: {', '.join(report['operators'])}")
    return report


def build_scene(out, frames):
    import bpy

    import blender_addon
    from blender_addon.demo_scene import build_demo_scene

    bpy.ops.wm.read_factory_settings(use_empty=True)
    blender_addon.register()
    demo = build_demo_scene(bpy.context.scene, frames=frames)
    demo.scene.neural_face.head_object = demo.head.mesh
    demo.scene.neural_face.output_folder = "//"
    path = out / "demo_scene.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(path))
    print(f"   head '{demo.head.mesh.name}': {len(demo.head.mesh.data.vertices)} vertices, "
          f"{len(demo.head.mesh.data.shape_keys.key_blocks) - 1} shape keys; {frames} frames")
    return demo, path


def job_settings(demo, samples, model):
    import dataclasses

    from blender_addon.jobs import render_job

    settings = render_job.settings_from_scene(demo.scene)
    return dataclasses.replace(settings, passes_samples=samples, model=str(Path(model).resolve()) if model else "")


def export(demo, settings):
    from blender_addon.jobs import render_job

    def progress(done, total):
        print(f"   exported {done}/{total}", end="\r" if done < total else "\n", flush=True)

    return render_job.export_shot_folder(demo.scene, settings, progress=progress)


def summarise(shot_path):
    from neural_core.contract.shot import validate_shot

    shot = validate_shot(shot_path)
    print(f"   {len(shot.frames)} frames at {shot.fps:g} fps, {shot.resolution[0]}x{shot.resolution[1]} px; "
          f"rig profile '{shot.rig_profile}' with {len(shot.coefficient_names)} coefficients; "
          f"passes: {', '.join(sorted(shot.passes)) or 'none'}")
    return shot


def synthesise(demo, settings, shot_path):
    from blender_addon.jobs import render_job

    progress = render_job.run_blocking(demo.scene, settings, log=lambda text: print(f"   {text}", flush=True),
                                       shot=shot_path)
    return progress


def composite(demo, settings):
    from blender_addon.jobs import headless

    return headless.composite(demo.scene, settings, log=lambda text: None)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "demo_out"), help="output folder (default: demo_out/)")
    parser.add_argument("--frames", type=int, default=48)
    parser.add_argument("--samples", type=int, default=2, help="Cycles samples for the passes")
    parser.add_argument("--model", default="", help="checkpoint to render with (default: the bundled model)")
    args = parser.parse_args(argv)
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    stages = Stages()

    import build_extension

    zip_path = stages.run("Build the extension", build_extension.build, ROOT / "dist")
    stages.produced("extension package", zip_path)
    stages.run("Install and enable it in Blender", install_extension, zip_path, out)
    demo, blend = stages.run(f"Build the demo scene (bundled head, {args.frames} frames)", build_scene, out, args.frames)
    stages.produced("demo scene", blend)
    settings = job_settings(demo, args.samples, args.model)
    shot_path = stages.run("Export the shot (coefficients, pose, camera, Cycles passes)", export, demo, settings)
    stages.produced("shot folder", shot_path)
    stages.run("Validate the shot folder", summarise, shot_path)
    from neural_core.worker.model import DEFAULT_MODEL

    if not args.model and not DEFAULT_MODEL.is_file():
        print(f"\n== The bundled default model ({DEFAULT_MODEL}) is not in this checkout: "
              "skipping synthesis, compositing and the contact sheet.")
    else:
        stages.run(f"Synthesise faces with {'the bundled default model' if not args.model else args.model} (worker)",
                   synthesise, demo, settings,
                   shot_path)
        stages.produced("neural face frames", settings.frames_folder)
        composite_folder = stages.run("Composite over the render layers", composite, demo, settings)
        stages.produced("composited frames", composite_folder)
        from contact_sheet import write_contact_sheet

        sheet = stages.run("Contact sheet (passes, neural face, composite; 8 frames)", write_contact_sheet,
                           shot_path, settings.frames_folder, composite_folder, out / "contact_sheet.png")
        stages.produced("contact sheet", sheet)
    stages.summary()
    return 0


if __name__ == "__main__":
    code = main()
    from blender_addon.jobs.headless import clear_app_handlers  # so bpy 4.5.15 can exit

    clear_app_handlers()
    sys.stdout.flush()
    os._exit(code)
