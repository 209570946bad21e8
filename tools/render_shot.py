#!/usr/bin/env python3
"""Render a Neural Face shot headless: export, synthesise, optionally composite.

One script, two ways to run it:

    python tools/render_shot.py scene.blend -- --frames 1-48 --out DIR [--composite]
        (the ``bpy`` module from PyPI; the script opens the .blend itself)
    blender -b scene.blend --python-exit-code 1 -P tools/render_shot.py -- --frames 1-48 --out DIR
        (real Blender; the .blend is already open, arguments come after ``--``)

It enables the add-on from this checkout (unless the installed extension is already
enabled), takes the scene's Neural Face settings, overrides them with the options given,
exports the shot, runs the worker (``python -m neural_core render``) and prints one
progress line per frame. ``--composite`` wires the sequence into the compositor and
renders the final frames to ``OUT/composite/####.png``. Exit status: 0 done, 2 bad input,
3 cancelled (SIGINT/SIGTERM: the worker stops after its current frame), 1 anything else.
"""

import argparse
import os
import signal
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ADDON = "blender_addon"

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_CANCELLED = 0, 1, 2, 3


def split_argv(argv, running_in_blender):
    """(blend file or None, our arguments). Module mode: ``script.py FILE -- ARGS``;
    Blender: everything after the first ``--`` of Blender's own command line."""
    if "--" in argv:
        before, ours = argv[: argv.index("--")], argv[argv.index("--") + 1:]
    else:
        before, ours = argv, []
    if running_in_blender:
        return None, ours
    blend = next((a for a in before[1:] if not a.startswith("-")), None)
    return blend, ours


def frame_range(text):
    """``"1-48"`` -> (1, 48); ``"7"`` -> (7, 7)."""
    try:
        first, _, last = text.partition("-")
        first = int(first)
        last = int(last) if last else first
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected FIRST-LAST frame numbers, got '{text}'") from None
    if last < first:
        raise argparse.ArgumentTypeError(f"frame range {text} is empty")
    return first, last


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="render_shot.py", description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=frame_range, help="FIRST-LAST (default: the scene's range)")
    parser.add_argument("--out", help="output folder (default: the scene's Neural Face output folder)")
    parser.add_argument("--scene", help="scene name (default: the active scene)")
    parser.add_argument("--format", choices=("png", "exr"), help="frame format (default: the scene's)")
    parser.add_argument("--model", help="checkpoint file, or 'default' for the bundled model")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"))
    parser.add_argument("--appearance", type=int, help="appearance seed")
    parser.add_argument("--samples", type=int, help="render samples for the passes")
    parser.add_argument("--shot", help="use this existing shot folder; skip the export")
    parser.add_argument("--worker-python", help="Python that runs the worker (default: see blender_addon/worker.py)")
    parser.add_argument("--composite", action="store_true", help="set up the compositor and write OUT/composite/####.png")
    return parser.parse_args(argv)


def log(text):
    print(text, flush=True)


def enable_addon():
    """The add-on's operators, from the installed extension when enabled, else from
    this checkout."""
    import addon_utils
    import bpy

    if hasattr(bpy.types, "NEURAL_FACE_OT_render_animation"):
        return
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    addon_utils.enable(ADDON, default_set=True, handle_error=None)
    if not hasattr(bpy.types, "NEURAL_FACE_OT_render_animation"):
        raise RuntimeError(f"could not enable the add-on '{ADDON}' from {ROOT}")


def addon_modules():
    """(render_job, compositor) of whichever copy of the add-on is enabled."""
    import bpy

    module = bpy.types.NEURAL_FACE_OT_render_animation.__module__.rsplit(".operators.", 1)[0]
    import importlib

    return importlib.import_module(f"{module}.render_job"), importlib.import_module(f"{module}.compositor")


def settings_for(scene, args, render_job):
    """The scene's settings with the command-line overrides applied."""
    import dataclasses

    import bpy

    props = scene.neural_face
    if args.out:
        props.output_folder = str(Path(args.out).resolve())
    first, last = args.frames if args.frames else (scene.frame_start, scene.frame_end)
    settings = render_job.settings_from_scene(scene, args.worker_python or "", first, last)
    overrides = {}
    if args.format:
        overrides["file_format"] = args.format
    if args.model:
        overrides["model"] = "" if args.model == "default" else str(Path(bpy.path.abspath(args.model)).resolve())
    if args.device:
        overrides["device"] = args.device
    if args.appearance is not None:
        overrides["appearance"] = args.appearance
    if args.samples is not None:
        overrides["passes_samples"] = args.samples
    return dataclasses.replace(settings, **overrides)


def composite(scene, settings, compositor):
    """Wire the sequence in and render the composited frames; returns their folder."""
    import bpy

    first = settings.frame_path(settings.frame_start)
    compositor.setup_compositor(scene, compositor.SequenceInfo(str(first), settings.frame_start, settings.frame_end))
    folder = settings.composite_folder
    folder.mkdir(parents=True, exist_ok=True)
    image_settings = scene.render.image_settings
    if hasattr(image_settings, "media_type"):  # 5.0
        image_settings.media_type = "IMAGE"
    image_settings.file_format = "PNG"
    image_settings.color_mode = "RGBA"
    total = settings.frame_end - settings.frame_start + 1
    for index, frame in enumerate(range(settings.frame_start, settings.frame_end + 1), 1):
        started = time.perf_counter()
        scene.frame_set(frame)
        path = folder / f"{frame:04d}.png"
        partial = folder / f"{frame:04d}.partial.png"  # renamed once complete
        scene.render.filepath = str(partial)  # '####' is not replaced with write_still
        bpy.ops.render.render(write_still=True, scene=scene.name)
        os.replace(partial, path)
        log(f"Neural Face: composited {index}/{total} ({path.name}, {time.perf_counter() - started:.2f} s)")
    return folder


def run(argv, running_in_blender):
    import bpy

    blend, ours = split_argv(argv, running_in_blender)
    args = parse_args(ours)
    if not running_in_blender:
        if not blend:
            raise SystemExit("usage: python tools/render_shot.py scene.blend -- [options]")
        if not Path(blend).is_file():
            raise FileNotFoundError(f"no such .blend file: {blend}")
        bpy.ops.wm.open_mainfile(filepath=str(Path(blend).resolve()), load_ui=False)
    enable_addon()
    render_job, compositor = addon_modules()
    scene = bpy.data.scenes[args.scene] if args.scene else bpy.context.scene
    settings = settings_for(scene, args, render_job)
    log(f"Neural Face: {bpy.data.filepath or '(unsaved)'}, scene '{scene.name}', "
        f"frames {settings.frame_start}-{settings.frame_end} -> {settings.output_folder}")
    started = time.perf_counter()
    shot = None
    if args.shot:
        shot = Path(args.shot).resolve()
        if not (shot / "shot.json").is_file():
            raise render_job.NeuralFaceError(f"--shot {args.shot}: no shot.json in that folder")
    render_job.run_blocking(scene, settings, log=log, shot=shot)
    log(f"Neural Face: frames in {settings.frames_folder} ({time.perf_counter() - started:.1f} s)")
    if args.composite:
        folder = composite(scene, settings, compositor)
        log(f"Neural Face: composited frames in {folder}")
    return EXIT_OK


def _sigterm_as_interrupt(signum, frame):
    raise KeyboardInterrupt


def main():
    import bpy

    running_in_blender = bool(bpy.app.binary_path)
    signal.signal(signal.SIGTERM, _sigterm_as_interrupt)
    code = EXIT_FAILED
    try:
        code = run(sys.argv, running_in_blender)
    except KeyboardInterrupt:
        print("render_shot: cancelled", file=sys.stderr)
        code = EXIT_CANCELLED
    except SystemExit as stop:
        if isinstance(stop.code, str):
            print(stop.code, file=sys.stderr)
        code = stop.code if isinstance(stop.code, int) else EXIT_BAD_INPUT
    except Exception as error:  # noqa: BLE001  (every failure must become an exit status)
        code = exit_code_for(error)
        if code == EXIT_FAILED:
            import traceback

            traceback.print_exc()
        print(f"render_shot: error: {error}", file=sys.stderr)
    finally:
        _leave(code)


def exit_code_for(error):
    """Exit status for an exception: the worker's own status for a worker failure
    (2 bad input, 3 cancelled, 1 internal or killed), 2 for other user errors, else 1."""
    names = {cls.__name__ for cls in type(error).__mro__}
    worker_code = getattr(error, "exit_code", None) if "WorkerError" in names else None
    if worker_code is not None:
        return worker_code if worker_code in (EXIT_FAILED, EXIT_BAD_INPUT, EXIT_CANCELLED) else EXIT_FAILED
    if "NeuralFaceError" in names or isinstance(error, FileNotFoundError):
        return EXIT_BAD_INPUT
    return EXIT_FAILED


def _leave(code):
    """Exit now with ``code``: workers stopped, handlers removed, streams flushed
    (bpy 4.5.15 can hang at interpreter exit; ``os._exit`` avoids it)."""
    try:
        import bpy

        if hasattr(bpy.types, "NEURAL_FACE_OT_render_animation"):
            module = bpy.types.NEURAL_FACE_OT_render_animation.__module__.rsplit(".operators.", 1)[0]
            sys.modules[f"{module}.worker"].stop_all()
        for name in dir(bpy.app.handlers):
            handlers = getattr(bpy.app.handlers, name)
            if isinstance(handlers, list):
                handlers.clear()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


if __name__ == "__main__":
    main()
