"""A Neural Face render job as plain functions: settings snapshot, export, worker, result.

Folder layout under the output folder (``//neural_face/`` by default)::

    shot/                  the exported shot folder (passes, shot.json)
    frames/neural_0001.png the worker's frames (or .exr)
    preview/               the same two for ``neural_face.render_frame``
    composite/0001.png     composited frames (tools/render_shot.py --composite)

Nothing here looks at ``bpy.context``; the operators pass the scene and a
:class:`RenderSettings` they filled once.
"""

import json
import os
from dataclasses import dataclass
from pathlib import Path

import bpy

from .. import properties
from ..core_link import NeuralFaceError, looks, profiles
from . import modal_worker, worker_client



@dataclass
class RenderSettings:
    """Everything a render job needs, copied from the scene and preferences once."""

    output_folder: str  # absolute folder for shot/, frames/, preview/, composite/
    frame_start: int
    frame_end: int  # inclusive
    head_object: str = ""  # name of the head mesh object; "" = let the exporter find it
    rig_profile: str = "auto"  # "auto" | "arkit52" | "flame" | "custom" (docs/rigs.md)
    custom_map: str | dict = ""  # custom profile: absolute JSON file, or the map parsed from a text block; "" = none
    model: str = ""  # absolute checkpoint path; "" = the bundled default model
    device: str = "auto"  # "auto" | "cpu" | "cuda"
    file_format: str = "png"  # "png" | "exr"
    png_depth: int = 8  # 8 | 16 bits per channel
    appearance: int | str = 0  # the look: a seed, "mean", "typical" or "frame:N" (contract/looks.py)
    smoothing: float = 0.0  # temporal smoothing: Gaussian sigma in frames, 0 = off
    stabilise_colour: bool = False  # the worker holds the skin's colour to the shot's reference
    stabilise_brightness: bool = False  # and its mean brightness (implies stabilise_colour: see __post_init__)
    passes_engine: str = "CYCLES"  # "CYCLES" | "EEVEE" | "WORKBENCH"
    passes_samples: int = 2  # render samples for the passes
    worker_python: str = ""  # the add-on preference; "" = default resolution (worker.py)
    preview: bool = False  # render_frame: use preview/ instead of shot/ + frames/

    def __post_init__(self):
        if self.stabilise_brightness:  # the brightness mode is a mode of the colour stabiliser
            self.stabilise_colour = True

    @property
    def job_folder(self):
        return Path(self.output_folder) / ("preview" if self.preview else "")

    @property
    def shot_folder(self):
        return self.job_folder / "shot"

    @property
    def frames_folder(self):
        return self.job_folder / "frames"

    @property
    def composite_folder(self):
        return Path(self.output_folder) / "composite"

    def frame_path(self, frame):
        return worker_client.output_path(self.frames_folder, frame, self.file_format)


def worker_python_preference(context):
    """The 'Worker Python' add-on preference, or "" when the add-on has none registered."""
    from ..preferences import ADDON_ID

    addon = context.preferences.addons.get(ADDON_ID)
    return getattr(getattr(addon, "preferences", None), "worker_python", "") or ""


def rig_from_scene(scene, profile=None):
    """(rig profile, custom map) from ``scene.neural_face`` (``profile`` overrides the
    scene's): the map (an absolute file path, or the dict parsed from the text block) only
    for the custom profile, else ``""``. NeuralFaceError for a custom profile without a
    map, with both a file and a text block, or with a text block that is not a valid map."""
    props = scene.neural_face
    profile = profile or props.rig_profile
    if profile != "custom":
        return profile, ""
    text = props.rig_map_text
    if props.rig_map_file and text is not None:
        raise NeuralFaceError(f"Rig Map: set a file ('{props.rig_map_file}') or a text block ('{text.name}'), not both")
    if props.rig_map_file:
        return profile, str(Path(bpy.path.abspath(props.rig_map_file)).resolve())
    if text is not None:
        source = f"text block '{text.name}'"
        try:
            data = json.loads(text.as_string())
        except ValueError as error:
            raise NeuralFaceError(f"{source}: the rig map is not valid JSON ({error})") from error
        profiles.parse_custom_map(data, source=source)  # names the bad entry now, not after the export started
        return profile, data
    raise NeuralFaceError(
        "rig profile 'custom' needs a Rig Map: a JSON file or a text block in the Neural Face panel (docs/rigs.md)")


def scene_look(props):
    """The look the panel's *Look* settings name (``contract/looks.py``): a seed, "typical" or "frame:N"."""
    if props.appearance_look == "TYPICAL":
        return looks.look_name("typical")
    if props.appearance_look == "FRAME":
        return looks.look_name("frame", props.appearance_frame)
    return looks.look_name("seed", props.appearance_seed)


def settings_from_scene(scene, worker_python="", frame_start=None, frame_end=None, preview=False,
                        rig_profile=None, custom_map=None):
    """Snapshot ``scene.neural_face`` (and the scene's frame range unless given).

    ``rig_profile`` / ``custom_map`` (a JSON file) override the scene's rig settings; a
    map alone means the custom profile.
    """
    props = scene.neural_face
    start = scene.frame_start if frame_start is None else frame_start
    end = scene.frame_end if frame_end is None else frame_end
    folder = props.output_folder or properties.DEFAULT_OUTPUT
    output = bpy.path.abspath(folder)
    if folder.startswith("//") and not bpy.data.filepath:  # '//' has no folder to be relative to
        raise NeuralFaceError(
            f"output folder '{props.output_folder}' is relative to the .blend file, which is not saved yet: "
            "save the file or choose an absolute folder"
        )
    if custom_map:
        if (rig_profile or "custom") != "custom":
            raise NeuralFaceError(f"a rig map needs rig profile 'custom', not '{rig_profile}'")
        rig_profile, custom_map = "custom", str(Path(bpy.path.abspath(str(custom_map))).resolve())
    else:
        rig_profile, custom_map = rig_from_scene(scene, rig_profile)
    return RenderSettings(
        output_folder=str(Path(output).resolve()),
        frame_start=int(start),
        frame_end=int(end),
        head_object=props.head_object.name if props.head_object else "",
        rig_profile=rig_profile,
        custom_map=custom_map,
        model=bpy.path.abspath(props.model_path) if props.model_path else "",
        device=props.device.lower(),
        file_format=props.file_format.lower(),
        png_depth=int(props.png_depth),
        appearance=scene_look(props),
        smoothing=float(props.smoothing),
        stabilise_colour=bool(props.stabilise_colour),
        stabilise_brightness=bool(props.stabilise_brightness),
        passes_engine=props.passes_engine,
        passes_samples=int(props.passes_samples),
        worker_python=worker_python,
        preview=preview,
    )


def check_settings(settings):
    """Refuse what the worker would refuse anyway, before spending time on the export."""
    if settings.frame_end < settings.frame_start:
        raise NeuralFaceError(f"frame range {settings.frame_start}-{settings.frame_end} is empty")
    if settings.model and not Path(settings.model).is_file():
        raise NeuralFaceError(f"model file '{settings.model}' does not exist (leave it empty for the bundled model)")
    if settings.rig_profile not in ("auto", *profiles.PROFILE_NAMES):
        raise NeuralFaceError(f"unknown rig profile '{settings.rig_profile}' (choose auto, {', '.join(profiles.PROFILE_NAMES)})")
    if settings.rig_profile == "custom" and not settings.custom_map:
        raise NeuralFaceError("rig profile 'custom' needs a rig map (Rig Map in the Neural Face panel, --map FILE.json)")
    if isinstance(settings.custom_map, str) and settings.custom_map:
        profiles.load_custom_map(settings.custom_map)  # a missing or bad file fails before the export
    folder = Path(settings.output_folder)
    existing = next((p for p in (folder, *folder.parents) if p.exists()), None)
    if existing is None or not os.access(existing, os.W_OK):
        raise NeuralFaceError(f"output folder '{folder}' is not writable")


def _export_settings(settings):
    """The exporter's settings for the frame range and passes options of ``settings``."""
    from ..export.exporter import ExportSettings

    return ExportSettings(output=str(settings.shot_folder), frame_start=settings.frame_start,
                          frame_end=settings.frame_end, head_object=settings.head_object,
                          rig_profile=settings.rig_profile, custom_map=settings.custom_map, passes=True,
                          engine=settings.passes_engine, samples=settings.passes_samples)


def export_shot_folder(scene, settings, progress=None):
    """Export the frame range of ``settings`` into ``settings.shot_folder`` with the
    add-on's exporter; returns the shot folder. ``progress(done, total)`` per frame."""
    from ..export.exporter import export_shot

    return Path(export_shot(scene, _export_settings(settings), progress=progress))


def export_steps(scene, settings):
    """The same export one frame per ``next()`` (yields ``(done, total)``, returns the
    shot folder; ``close()`` abandons it): the modal operator's way to stay responsive."""
    from ..export.exporter import export_steps as steps

    return steps(scene, _export_settings(settings))


def start_worker(settings, shot_folder):
    """Start the worker on ``shot_folder`` for the frame range of ``settings``."""
    python = worker_client.resolve_worker_python(settings.worker_python)
    request = worker_client.RenderRequest(
        shot=str(shot_folder),
        out=str(settings.frames_folder),
        frame_start=settings.frame_start,
        frame_end=settings.frame_end,
        file_format=settings.file_format,
        png_depth=settings.png_depth,
        model=settings.model,
        device=settings.device,
        appearance=settings.appearance,
        smoothing=settings.smoothing,
        stabilise_colour=settings.stabilise_colour,
        stabilise_brightness=settings.stabilise_brightness,
    )
    Path(settings.frames_folder).mkdir(parents=True, exist_ok=True)
    return modal_worker.start(worker_client.render_command(python, request))


def show_progress(scene, progress, status=None):
    """Copy a :class:`~.events.JobProgress` into ``scene.neural_face`` for the panel."""
    props = scene.neural_face
    props.frames_total = progress.total
    props.frames_done = progress.done
    modal_worker.show_state(props, progress, status)


def mark_running(scene, running):
    if running:
        scene.neural_face.warning_text = ""  # a new job: the last job's warnings go
        properties.RUNNING_SCENES.add(scene.name)
    else:
        properties.RUNNING_SCENES.discard(scene.name)


def run_blocking(scene, settings, log=print, timeout=None, shot=None):
    """The headless path: export (unless ``shot`` names an existing shot folder), run
    the worker, print a line per finished frame.

    Returns the :class:`~.events.JobProgress`. Raises NeuralFaceError
    (WorkerError for worker failures, including a cancel). A KeyboardInterrupt (Ctrl-C,
    or SIGTERM turned into one by tools/render_shot.py) cancels the worker gracefully:
    it finishes its current frame, then WorkerError("cancelled ...") is raised.
    """
    check_settings(settings)
    if shot is None:
        log(f"Neural Face: exporting frames {settings.frame_start}-{settings.frame_end} to {settings.shot_folder}")
        shot = export_shot_folder(scene, settings, progress=lambda done, total: log(f"Neural Face: exported {done}/{total}"))
    log(f"Neural Face: rendering to {settings.frames_folder}")
    process = start_worker(settings, shot)
    logged = [0]  # frames already logged

    def report(progress):
        show_progress(scene, progress)
        for index in range(logged[0], len(progress.finished_frames)):
            frame = progress.finished_frames[index]
            log(f"{progress.summary(done=index + 1)} (frame {frame})")
        logged[0] = len(progress.finished_frames)

    def log_warnings(progress):
        for message in progress.warnings:
            log(f"Neural Face: warning: {message}")

    return modal_worker.wait(process, scene, mark_running, report, timeout=timeout,
                             on_cancel=lambda: log("Neural Face: cancelling after the current frame..."), on_end=log_warnings)
