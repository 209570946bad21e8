"""Headless jobs: export, synthesise and optionally composite a scene without a UI.

Shared by ``tools/render_shot.py`` (``python tools/render_shot.py scene.blend -- ...`` or
``blender -b scene.blend -P tools/render_shot.py -- ...``) and the command line
``blender -c neural_face render scene.blend ...`` (:mod:`.cli_command`). Exit statuses:
0 done, 2 bad input, 3 cancelled, 1 anything else.
"""

import argparse
import dataclasses
import os
import time
from pathlib import Path

import bpy

from .. import compositor
from ..core_link import NeuralFaceError, looks, profiles, protocol
from . import render_job
from .worker_client import WorkerError

STAGES = ("prepare", "export", "render", "composite")  # --only: the stages of a farm job (docs/farm.md)

# the worker protocol's exit statuses, shared by every headless entry point
EXIT_OK, EXIT_FAILED = protocol.EXIT_OK, protocol.EXIT_INTERNAL
EXIT_BAD_INPUT, EXIT_CANCELLED = protocol.EXIT_BAD_INPUT, protocol.EXIT_CANCELLED


def frame_range(text):
    """``"1-48"`` -> (1, 48); ``"7"`` -> (7, 7). Both ends within Blender's frame limits
    (0 to 1048574), so a mistyped ``1-1000000000`` is refused here instead of making the
    exporter list a billion frames."""
    first, dash, last = text.partition("-")
    try:
        first = int(first)
        last = int(last) if dash else first
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected FIRST-LAST frame numbers, got '{text}'") from None
    if last < first:
        raise argparse.ArgumentTypeError(f"frame range {text} is empty")
    limits = bpy.types.Scene.bl_rna.properties["frame_end"]
    low, high = limits.hard_min, limits.hard_max
    if first < low or last > high:
        raise argparse.ArgumentTypeError(f"frame range {text} is outside Blender's frames {low}-{high}")
    return first, last


def add_job_arguments(parser):
    parser.add_argument("--frames", type=frame_range, help="FIRST-LAST (default: the scene's range)")
    parser.add_argument("--out", help="output folder (default: the scene's Neural Face output folder)")
    parser.add_argument("--scene", help="scene name (default: the active scene)")
    parser.add_argument("--format", choices=("png", "exr"), help="frame format (default: the scene's)")
    parser.add_argument("--model", help="checkpoint file, or 'default' for the bundled model")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"))
    parser.add_argument("--appearance", type=looks.look_argument,
                        help="the look: a seed (0: the median look), mean, or for actor models typical or frame:N")
    parser.add_argument("--samples", type=int, help="render samples for the passes")
    parser.add_argument("--stabilise-colour", action=argparse.BooleanOptionalAction, default=None,
                        help="hold the skin's colour to the shot's reference (default: the scene's setting); with "
                             "--only prepare, also export the passes of the frames the reference is taken from")
    parser.add_argument("--stabilise-brightness", action=argparse.BooleanOptionalAction, default=None,
                        help="also hold the skin's mean brightness to the reference (shots lit the same throughout; "
                             "implies --stabilise-colour; default: the scene's setting)")
    parser.add_argument("--profile", choices=("auto", *profiles.PROFILE_NAMES),
                        help="rig profile: which shape keys drive which coefficients (default: the scene's; docs/rigs.md)")
    parser.add_argument("--map", metavar="FILE.json",
                        help="custom rig map {\"shape key\": \"coefficient\" or {\"name\": ..., \"scale\": ...}}; "
                             "implies --profile custom (default: the scene's Rig Map)")
    parser.add_argument("--shot", help="use this existing shot folder; skip the export")
    parser.add_argument("--worker-python", help="Python that runs the worker (default: see blender_addon/jobs/worker_client.py)")
    parser.add_argument("--composite", action="store_true", help="set up the compositor and write OUT/composite/####.png")
    parser.add_argument("--shot-frames", type=frame_range, metavar="FIRST-LAST",
                        help="the whole shot, when --frames is one chunk of it (farms, docs/farm.md): the export "
                             "shares OUT/shot with the other chunks (shot.json for the whole shot, this chunk's passes)")
    parser.add_argument("--only", choices=STAGES,
                        help="one stage of a chunked job: prepare (shot.json for --shot-frames), export, render, "
                             "composite; each logs to OUT/logs/<stage>_<first>-<last>.log (docs/farm.md)")
    return parser


def settings_for(scene, args):
    """The scene's settings with the command-line overrides applied."""
    props = scene.neural_face
    if args.out:
        props.output_folder = str(Path(args.out).resolve())
    first, last = args.frames if args.frames else (scene.frame_start, scene.frame_end)
    settings = render_job.settings_from_scene(scene, args.worker_python or "", first, last,
                                              rig_profile=args.profile, custom_map=args.map)
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
    if args.stabilise_colour is not None:
        overrides["stabilise_colour"] = args.stabilise_colour
    if args.stabilise_brightness is not None:
        overrides["stabilise_brightness"] = args.stabilise_brightness
    return dataclasses.replace(settings, **overrides)


def composite(scene, settings, log=print, resume=False):
    """Wire the sequence in and render the composited frames; returns their folder.

    ``resume`` (chunked jobs): a frame whose composite is newer than both its face and
    the .blend file is kept; a missing face is a NeuralFaceError; each finished frame
    prints ``Saved: '<path>'`` (what Flamenco reads to show the job's latest image)."""
    if resume:
        missing = [f for f in range(settings.frame_start, settings.frame_end + 1) if not settings.frame_path(f).is_file()]
        if missing:
            raise NeuralFaceError(f"no synthesised face for frame(s) {', '.join(map(str, missing[:5]))}"
                                  f"{' ...' if len(missing) > 5 else ''} in {settings.frames_folder}: "
                                  "run the render stage of these frames first")
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
        path = folder / f"{frame:04d}.png"
        if resume and _newer_than_inputs(path, settings.frame_path(frame)):
            log(f"Neural Face: composited {index}/{total} ({path.name}, current: kept)")
            continue
        scene.frame_set(frame)
        partial = folder / f".{frame:04d}.partial-{os.getpid()}.png"  # renamed once complete
        try:
            # render, then save (not write_still): Blender prints no "Saved: '<hidden partial>'" line
            bpy.ops.render.render(scene=scene.name)
            bpy.data.images["Render Result"].save_render(filepath=str(partial), scene=scene)
            os.replace(partial, path)
        finally:
            partial.unlink(missing_ok=True)
        log(f"Neural Face: composited {index}/{total} ({path.name}, {time.perf_counter() - started:.2f} s)")
        if resume:
            log(f"Saved: '{path}'")
    return folder


def _newer_than_inputs(path, face):
    """Whether the composite ``path`` was written after its face and the .blend file."""
    try:
        made = os.stat(path).st_mtime_ns
        inputs = [os.stat(face).st_mtime_ns] + ([os.stat(bpy.data.filepath).st_mtime_ns] if bpy.data.filepath else [])
    except OSError:
        return False
    return made >= max(inputs)


def chunk_log(settings, stage, log=print):
    """``log`` that also appends each line (UTC time, host:pid) to
    ``OUT/logs/<stage>_<first>-<last>.log``: every chunk of a farm job its own log."""
    import socket

    folder = Path(settings.output_folder) / "logs"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{stage}_{settings.frame_start:04d}-{settings.frame_end:04d}.log"
    prefix = f"{socket.gethostname()}:{os.getpid()}"

    def both(text):
        log(text)
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(f"{time.strftime('%Y-%m-%dT%H:%M:%S', time.gmtime())} {prefix} {text}\n")

    both.path = path
    return both


def run_job(args, log=print):
    """Run the job described by ``args`` (from :func:`add_job_arguments`) on the open file."""
    scene = bpy.data.scenes[args.scene] if args.scene else bpy.context.scene
    settings = settings_for(scene, args)
    if getattr(args, "only", None) or getattr(args, "shot_frames", None):
        return run_chunk(scene, settings, args, log)
    log(f"Neural Face: {bpy.data.filepath or '(unsaved)'}, scene '{scene.name}', "
        f"frames {settings.frame_start}-{settings.frame_end} -> {settings.output_folder}")
    started = time.perf_counter()
    shot = None
    if args.shot:
        shot = Path(args.shot).resolve()
        if not (shot / "shot.json").is_file():
            raise NeuralFaceError(f"--shot {args.shot}: no shot.json in that folder")
    render_job.run_blocking(scene, settings, log=log, shot=shot)
    log(f"Neural Face: frames in {settings.frames_folder} ({time.perf_counter() - started:.1f} s)")
    if args.composite:
        folder = composite(scene, settings, log)
        log(f"Neural Face: composited frames in {folder}")
    return EXIT_OK


def run_chunk(scene, settings, args, log=print):
    """A chunked job (docs/farm.md): the frames of ``settings`` are this process's chunk
    of the shot ``args.shot_frames`` (default: the scene's range); ``args.only`` picks one
    stage, else export, render and (with ``--composite``) composite run in turn."""
    from ..export import shared

    stage = args.only
    shot_first, shot_last = args.shot_frames or (scene.frame_start, scene.frame_end)
    if stage == "prepare":
        settings = dataclasses.replace(settings, frame_start=shot_first, frame_end=shot_last)
    log = chunk_log(settings, stage or "job", log)
    log(f"Neural Face: {bpy.data.filepath or '(unsaved)'}, scene '{scene.name}', {stage or 'export+render'} of frames "
        f"{settings.frame_start}-{settings.frame_end} (shot {shot_first}-{shot_last}) -> {settings.output_folder}")
    started = time.perf_counter()
    export_settings = dataclasses.replace(render_job._export_settings(settings), frame_start=shot_first,
                                          frame_end=shot_last)
    shot = Path(args.shot).resolve() if args.shot else settings.shot_folder
    if stage == "prepare":
        outcome = shared.prepare_shot(scene, export_settings)
        log(f"Neural Face: shot.json of frames {shot_first}-{shot_last} {outcome} in {settings.shot_folder}")
        if settings.stabilise_colour:  # every chunk's synthesis takes its colour reference from these frames
            chosen = shared.export_colour_reference(
                scene, export_settings, progress=lambda done, total: log(f"Neural Face: exported {done}/{total}"))
            log(f"Neural Face: passes of the colour reference frames {', '.join(map(str, chosen))} "
                f"in {settings.shot_folder}")
    if stage in (None, "export") and not args.shot:
        shared.export_chunk(scene, export_settings, settings.frame_start, settings.frame_end,
                            progress=lambda done, total: log(f"Neural Face: exported {done}/{total}"))
        log(f"Neural Face: passes of frames {settings.frame_start}-{settings.frame_end} in {settings.shot_folder}")
    if stage in (None, "render"):
        if not (shot / "shot.json").is_file():
            raise NeuralFaceError(f"no shot.json in {shot}: run the prepare or export stage first")
        render_job.run_blocking(scene, settings, log=log, shot=shot)
        log(f"Neural Face: frames in {settings.frames_folder}")
    if stage == "composite" or (stage is None and args.composite):
        log(f"Neural Face: composited frames in {composite(scene, settings, log, resume=True)}")
    log(f"Neural Face: {stage or 'chunk'} done in {time.perf_counter() - started:.1f} s (log: {log.path})")
    return EXIT_OK


def exit_code_for(error):
    """Exit status for an exception: the worker's own status for a worker failure
    (2 bad input, 3 cancelled, 1 internal or killed), 2 for other user errors, else 1."""
    if isinstance(error, WorkerError) and error.exit_code is not None:
        code = error.exit_code
        return code if code in (EXIT_FAILED, EXIT_BAD_INPUT, EXIT_CANCELLED) else EXIT_FAILED
    if isinstance(error, (NeuralFaceError, FileNotFoundError)):
        return EXIT_BAD_INPUT
    return EXIT_FAILED


def clear_app_handlers():
    """Empty every ``bpy.app.handlers`` list: bpy 4.5.15 hangs at interpreter exit while
    any handler is registered. For scripts about to exit."""
    for name in dir(bpy.app.handlers):
        handlers = getattr(bpy.app.handlers, name)
        if isinstance(handlers, list):
            handlers.clear()
