#!/usr/bin/env python3
"""The Neural Face demo: every stage of the pipeline that exists, timed.

Run through ``./tools/demo`` (which sets up ``.venv``). Stages:
  0. with ``--model PATH``: check the checkpoint loads (``python -m neural_core info``),
     before any Blender work;
  1. build the extension zip with Blender's extension tool;
  2. install and enable it in Blender (a separate bpy process), check it registered;
  3. build the demo scene: the bundled head, 48 frames at 24 fps (blink, smile, jaw
     open, head turn, camera dolly), saved as ``demo_out/demo_scene.blend``;
  4. export the shot folder (coefficients, pose, camera, landmarks, Cycles passes);
  5. validate the shot folder and summarise it;
  6. synthesise the faces with the bundled default model in a worker process;
  7. composite them over the render layers and write the final frames;
  8. write ``demo_out/contact_sheet.png`` (passes, neural face, composite for 8 frames).

Output: a heading per stage, one progress bar for the stages that go frame by frame (a
single updating line on a terminal, a line per tenth of the frames otherwise), the time
of each stage and the total. Blender's own output (Cycles' ``Fra:... Mem:...`` lines,
``Saved: ...``) goes to ``OUT/blender.log``, never to the terminal.

Exit status (the worker protocol's): 0 done, 2 bad input (a missing or unreadable
``--model``, a bad option), 3 cancelled (Ctrl-C), 1 anything else; a failure prints one
line ``demo: error: ...`` (an internal error's traceback goes to the log).
"""

import argparse
import json
import os
import subprocess
import sys
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tools"))

from neural_core.contract.protocol import EXIT_BAD_INPUT, EXIT_CANCELLED, EXIT_INTERNAL, EXIT_OK  # noqa: E402

LOG_NAME = "blender.log"  # Blender's own output, in the output folder
BAR_WIDTH = 24  # characters of the progress bar on a terminal


class DemoError(Exception):
    """A failure to report in one line; ``code``: the exit status."""

    def __init__(self, message, code=EXIT_BAD_INPUT):
        super().__init__(message)
        self.code = code


class Console:
    """The terminal, kept apart from Blender's output.

    ``out``/``err`` write to the process's original stdout/stderr; :meth:`capture` points
    file descriptors 1 and 2 (what Blender's C code and any stray ``print`` write to) at
    a log file.
    """

    def __init__(self):
        self.out = os.fdopen(os.dup(1), "w", buffering=1)
        self.err = os.fdopen(os.dup(2), "w", buffering=1)
        self.tty = self.out.isatty()
        self.log_path = None

    def capture(self, log_path):
        sys.stdout.flush()
        sys.stderr.flush()
        self.log_path = Path(log_path)
        log = open(self.log_path, "w", buffering=1)
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        log.close()

    def line(self, text=""):
        self.out.write(text + "\n")

    def error(self, text):
        self.out.flush()
        self.err.write(text + "\n")
        self.err.flush()


class Progress:
    """One stage's progress over ``total`` items: on a terminal a single line rewritten
    in place (bar, count, seconds); otherwise a plain line each time another tenth of the
    items is done (and for the last one)."""

    def __init__(self, console, what, total):
        self.console, self.what, self.total = console, what, max(int(total), 1)
        self.done = 0
        self.started = time.perf_counter()
        self.shown_tenths = 0
        self.open_line = False
        if console.tty:
            self._draw()  # 0/total at once: the first item can take a while (the worker starting)

    def _draw(self):
        filled = round(BAR_WIDTH * self.done / self.total)
        bar = "#" * filled + "-" * (BAR_WIDTH - filled)
        elapsed = time.perf_counter() - self.started
        self.console.out.write(f"\r   [{bar}] {self.done}/{self.total} {self.what} {elapsed:5.1f} s")
        self.console.out.flush()
        self.open_line = True

    def update(self, done):
        done = min(int(done), self.total)
        if done <= self.done:
            return
        self.done = done
        elapsed = time.perf_counter() - self.started
        if self.console.tty:
            self._draw()
            if done == self.total:
                self.close()
            return
        tenths = done * 10 // self.total
        if tenths > self.shown_tenths or done == self.total:
            self.shown_tenths = tenths
            self.console.line(f"   {done}/{self.total} {self.what} ({elapsed:.1f} s)")

    def note(self, text):
        """A line of its own above the bar (a warning)."""
        self.close()
        self.console.line(f"   {text}")

    def close(self):
        if self.open_line:
            self.console.out.write("\n")
            self.open_line = False


class Stages:
    """Runs named stages, prints each one's time, and a summary with the total at the end."""

    def __init__(self, console):
        self.console = console
        self.times = []
        self.products = []
        self.started = time.perf_counter()

    def run(self, title, function, *args, **kwargs):
        self.console.line(f"\n== {title}")
        start = time.perf_counter()
        result = function(*args, **kwargs)
        elapsed = time.perf_counter() - start
        self.times.append((title, elapsed))
        self.console.line(f"   done in {elapsed:.1f} s")
        return result

    def produced(self, what, path):
        self.products.append((what, path))

    def summary(self):
        line = self.console.line
        line("\n== Summary")
        for title, elapsed in self.times:
            line(f"   {elapsed:7.1f} s  {title}")
        line(f"   {time.perf_counter() - self.started:7.1f} s  total")
        line("\n   Produced:")
        for what, path in self.products:
            line(f"   - {what}: {path}")
        if self.console.log_path is not None:
            line(f"   - Blender's render log: {self.console.log_path}")


def check_model(console, model):
    """Load ``model`` in a worker Python before any Blender work; DemoError when it is
    missing or unreadable. Returns what ``python -m neural_core info --json`` says."""
    path = Path(model).expanduser()
    if not path.is_file():
        raise DemoError(f"--model {model}: no such file")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]))
    try:
        result = subprocess.run([sys.executable, "-m", "neural_core", "info", "--json", str(path)],
                                capture_output=True, text=True, timeout=600, env=env, cwd=ROOT)
    except subprocess.TimeoutExpired:
        raise DemoError(f"--model {model}: reading it took over 10 minutes", EXIT_INTERNAL) from None
    if result.returncode != 0:
        lines = [text.strip() for text in result.stderr.splitlines() if text.strip()]
        reason = lines[-1].removeprefix("error: ") if lines else f"exit status {result.returncode}"
        reason = reason.removeprefix(f"{path}: ")  # the line names the file already
        code = result.returncode if result.returncode in (EXIT_BAD_INPUT, EXIT_CANCELLED) else EXIT_BAD_INPUT
        raise DemoError(f"--model {model}: {reason}", code)
    info = json.loads(result.stdout)
    console.line(f"   {info['source_format']}, {info['resolution']}x{info['resolution']} px, "
                 f"{info['parameters'] / 1e6:.1f} M parameters")
    return info


def build_package(console, build_extension):
    zip_path = build_extension.build(ROOT / "dist")
    console.line(f"   {zip_path}")
    return zip_path


def install_extension(console, zip_path, out):
    env = dict(os.environ)
    env.setdefault("BLENDER_USER_RESOURCES", str(out / "blender-user"))
    result = subprocess.run(
        [sys.executable, str(ROOT / "tools/install_extension.py"), str(zip_path)],
        capture_output=True, text=True, timeout=300, env=env,
    )
    line = next((text for text in result.stdout.splitlines() if text.startswith("RESULT ")), None)
    if result.returncode != 0 or line is None:
        print(result.stdout + result.stderr, flush=True)  # into the log
        raise DemoError(f"installing the extension failed (details in {console.log_path})", EXIT_INTERNAL)
    report = json.loads(line.removeprefix("RESULT "))
    console.line(f"   Blender {report['blender']}: installed and enabled; operators: {', '.join(report['operators'])}")
    return report


def build_scene(console, out, frames, resolution):
    import bpy

    import blender_addon
    from blender_addon.demo_scene import build_demo_scene

    bpy.ops.wm.read_factory_settings(use_empty=True)
    blender_addon.register()
    demo = build_demo_scene(bpy.context.scene, frames=frames, resolution=resolution)
    demo.scene.neural_face.head_object = demo.head.mesh
    demo.scene.neural_face.output_folder = "//"
    path = out / "demo_scene.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(path))
    console.line(f"   head '{demo.head.mesh.name}': {len(demo.head.mesh.data.vertices)} vertices, "
                 f"{len(demo.head.mesh.data.shape_keys.key_blocks) - 1} shape keys; {frames} frames, "
                 f"{resolution}x{resolution} px")
    return demo, path


def job_settings(demo, samples, model):
    import dataclasses

    from blender_addon.jobs import render_job

    settings = render_job.settings_from_scene(demo.scene)
    return dataclasses.replace(settings, passes_samples=samples, model=str(Path(model).resolve()) if model else "")


def frame_count(settings):
    return settings.frame_end - settings.frame_start + 1


def export(console, demo, settings):
    from blender_addon.jobs import render_job

    bar = Progress(console, "frames exported", frame_count(settings))
    try:
        return render_job.export_shot_folder(demo.scene, settings, progress=lambda done, total: bar.update(done))
    finally:
        bar.close()


def summarise(console, shot_path):
    from neural_core.contract.shot import validate_shot

    shot = validate_shot(shot_path)
    console.line(f"   {len(shot.frames)} frames at {shot.fps:g} fps, {shot.resolution[0]}x{shot.resolution[1]} px; "
                 f"rig profile '{shot.rig_profile}' with {len(shot.coefficient_names)} coefficients; "
                 f"passes: {', '.join(sorted(shot.passes)) or 'none'}")
    return shot


def synthesise(console, demo, settings, shot_path):
    """The worker over the shot; the bar follows the frames done, which the job keeps in
    the scene's Neural Face properties (the panel's progress)."""
    from blender_addon.jobs import render_job

    bar = Progress(console, "faces synthesised", frame_count(settings))
    props = demo.scene.neural_face

    def log(text):
        if "warning:" in text:
            bar.note(text.removeprefix("Neural Face: "))
        bar.update(props.frames_done)

    try:
        progress = render_job.run_blocking(demo.scene, settings, log=log, shot=shot_path)
        bar.update(len(progress.finished_frames))
    finally:
        bar.close()
    return progress


def composite(console, demo, settings):
    """The compositor over every frame; ``headless.composite`` logs ``composited I/N``
    for each one."""
    import re

    from blender_addon.jobs import headless

    bar = Progress(console, "frames composited", frame_count(settings))

    def log(text):
        counted = re.search(r"composited (\d+)/\d+", text)
        if counted:
            bar.update(int(counted.group(1)))

    try:
        return headless.composite(demo.scene, settings, log=log)
    finally:
        bar.close()


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="demo", description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "demo_out"), help="output folder (default: demo_out/)")
    parser.add_argument("--frames", type=int, default=48, help="length of the demo shot (default: 48)")
    parser.add_argument("--samples", type=int, default=2, help="Cycles samples for the passes")
    parser.add_argument("--model", default="", help="checkpoint to render with (default: the bundled model)")
    parser.add_argument("--resolution", type=int, default=256, help=argparse.SUPPRESS)  # tests: a smaller frame
    args = parser.parse_args(argv)
    if args.frames < 1 or args.resolution < 8 or args.samples < 1:
        parser.error("--frames and --samples must be at least 1 (and --resolution at least 8)")
    if args.model == "default":
        args.model = ""
    return args


def run(console, args):
    out = Path(args.out).resolve()
    stages = Stages(console)
    console.line(f"Neural Face demo: {args.frames} frames, {args.resolution}x{args.resolution} px, into {out}")
    if args.model:  # a bad checkpoint fails here, before any Blender work
        stages.run(f"Check the model {args.model}", check_model, console, args.model)
    from neural_core import DEFAULT_MODEL  # torch-free: the demo runs in Blender 5.0's venv too

    synthesis = bool(args.model) or DEFAULT_MODEL.is_file()
    out.mkdir(parents=True, exist_ok=True)
    console.capture(out / LOG_NAME)
    console.line(f"Blender's own output goes to {console.log_path}")

    import build_extension

    zip_path = stages.run("Build the extension", build_package, console, build_extension)
    stages.produced("extension package", zip_path)
    stages.run("Install and enable it in Blender", install_extension, console, zip_path, out)
    demo, blend = stages.run(f"Build the demo scene (bundled head, {args.frames} frames)", build_scene,
                             console, out, args.frames, args.resolution)
    stages.produced("demo scene", blend)
    settings = job_settings(demo, args.samples, args.model)
    shot_path = stages.run("Export the shot (coefficients, pose, camera, Cycles passes)", export, console, demo, settings)
    stages.produced("shot folder", shot_path)
    stages.run("Validate the shot folder", summarise, console, shot_path)
    if not synthesis:
        console.line(f"\n== The bundled default model ({DEFAULT_MODEL}) is not in this checkout: "
                     "skipping synthesis, compositing and the contact sheet.")
    else:
        model = args.model or "the bundled default model"
        stages.run(f"Synthesise faces with {model} (worker)", synthesise, console, demo, settings, shot_path)
        stages.produced("neural face frames", settings.frames_folder)
        composite_folder = stages.run("Composite over the render layers", composite, console, demo, settings)
        stages.produced("composited frames", composite_folder)
        from contact_sheet import write_contact_sheet

        sheet = stages.run("Contact sheet (passes, neural face, composite; 8 frames)", write_contact_sheet,
                           shot_path, settings.frames_folder, composite_folder, out / "contact_sheet.png")
        stages.produced("contact sheet", sheet)
    stages.summary()
    return EXIT_OK


def exit_code(error):
    """The protocol's exit status for ``error``: a worker failure keeps the worker's own,
    bad input (NeuralFaceError, a missing file) is 2, anything else 1."""
    from neural_core.contract.errors import NeuralFaceError

    if isinstance(error, DemoError):
        return error.code
    worker_code = getattr(error, "exit_code", None)
    if worker_code is not None:
        return worker_code if worker_code in (EXIT_INTERNAL, EXIT_BAD_INPUT, EXIT_CANCELLED) else EXIT_INTERNAL
    if isinstance(error, (NeuralFaceError, FileNotFoundError)) or type(error).__name__ == "NeuralFaceError":
        return EXIT_BAD_INPUT
    return EXIT_INTERNAL


def main(argv=None):
    """Run the demo; returns the exit status (never raises)."""
    console = Console()
    try:
        args = parse_args(argv)
    except SystemExit as stop:  # argparse has printed its message
        return stop.code if isinstance(stop.code, int) else EXIT_BAD_INPUT
    try:
        return run(console, args)
    except KeyboardInterrupt:
        console.error("demo: cancelled")
        return EXIT_CANCELLED
    except Exception as error:  # noqa: BLE001  (every failure becomes one line and an exit status)
        code = exit_code(error)
        if code == EXIT_INTERNAL and not isinstance(error, DemoError):
            traceback.print_exc()  # into the log once it is captured
            where = f" (traceback in {console.log_path})" if console.log_path else ""
            console.error(f"demo: internal error: {type(error).__name__}: {error}{where}")
        else:
            console.error(f"demo: error: {error}")
        return code


def leave(code):
    """Exit now with ``code``: bpy's handlers removed and streams flushed first (bpy
    4.5.15 can hang or crash at interpreter exit; ``os._exit`` skips that)."""
    try:
        if "bpy" in sys.modules:
            from blender_addon.jobs import worker_client
            from blender_addon.jobs.headless import clear_app_handlers

            worker_client.stop_all()
            clear_app_handlers()
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
        os._exit(code)


if __name__ == "__main__":
    leave(main())
