"""Export a scene's animated head, camera and (optionally) render passes as a shot folder.

The folder is built complete under a hidden temporary sibling and swapped in at the
end, so an interrupted or failed export leaves the previous shot folder as it was.
Nothing here looks at ``bpy.context`` beyond the evaluated depsgraph of the scene.
Several processes exporting chunks of one shot into a shared folder (farms) go through
:mod:`.shared` instead, which builds on the pieces here.
"""

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import bpy

from ..core_link import NeuralFaceError, errors
from ..core_link import shot as shot_format
from . import camera, passes, rig


@dataclass
class ExportSettings:
    """What to export; the operator fills it from its properties."""

    output: str                    # shot folder (absolute path; created or replaced)
    frame_start: int | None = None  # first frame; None = the scene's frame_start
    frame_end: int | None = None    # last frame, inclusive; None = the scene's frame_end
    frame_step: int = 1            # export every n-th frame
    head_object: str = ""          # head mesh object name; "" = find it (see rig.find_head)
    rig_profile: str = "auto"      # "auto" | "arkit52" | "flame" | "custom"
    custom_map: str | dict = ""    # custom profile: a JSON file, or the parsed map ("" = none)
    passes: bool = True            # False = coefficient-only export (no rendering)
    pass_names: tuple | None = None  # canonical passes; None = all the engine gives
    engine: str = "CYCLES"         # "CYCLES" | "EEVEE" | "WORKBENCH"
    samples: int = 1               # render samples per pixel (1-4 is plenty for passes)
    device: str = "CPU"            # Cycles device
    landmarks: bool = True         # project the 468 landmarks when the head has them


def frame_numbers(scene, settings):
    """Frame numbers to export; NeuralFaceError when the range is empty."""
    start = scene.frame_start if settings.frame_start is None else settings.frame_start
    end = scene.frame_end if settings.frame_end is None else settings.frame_end
    if settings.frame_step < 1:
        raise NeuralFaceError(f"frame step must be at least 1, got {settings.frame_step}")
    frames = list(range(start, end + 1, settings.frame_step))
    if not frames:
        raise NeuralFaceError(f"the frame range {start}..{end} is empty (end before start)")
    if frames[0] < 0:
        raise NeuralFaceError(f"frame {frames[0]} is negative: shot frames start at 0")
    return frames


class Staging:
    """A hidden sibling folder that becomes ``target`` on :meth:`commit`."""

    def __init__(self, target):
        self.target = Path(target)
        if not self.target.name:
            raise NeuralFaceError(f"output folder '{target}' has no name")
        if self.target.exists() and not self.target.is_dir():
            raise NeuralFaceError(f"output '{self.target}' exists and is not a folder")
        if self.target.is_dir() and any(self.target.iterdir()) \
                and not (self.target / "shot.json").is_file():
            raise NeuralFaceError(
                f"output folder '{self.target}' is not empty and holds no shot.json: refusing "
                "to replace it (choose an empty or new folder, or an earlier shot folder)")
        parent = self.target.parent
        tag = f"{self.target.name}.{os.getpid()}"
        self.folder = parent / f".{tag}.partial"
        self._old = parent / f".{tag}.old"
        try:
            parent.mkdir(parents=True, exist_ok=True)
            if self.folder.exists():
                shutil.rmtree(self.folder)
            self.folder.mkdir()
        except OSError as exc:
            raise NeuralFaceError(
                f"output folder '{self.target}' is not writable: cannot create "
                f"'{self.folder}' ({exc.strerror or exc})") from exc

    def commit(self):
        """Swap the finished folder in; the previous shot folder is removed only after."""
        try:
            if self.target.exists():
                os.rename(self.target, self._old)
            os.rename(self.folder, self.target)
        except OSError as exc:
            if self._old.exists() and not self.target.exists():
                os.rename(self._old, self.target)
            raise NeuralFaceError(f"cannot move the export into '{self.target}' ({exc})") from exc
        shutil.rmtree(self._old, ignore_errors=True)

    def discard(self):
        shutil.rmtree(self.folder, ignore_errors=True)


def _transform(fmt, matrix):
    return fmt.Transform(rotation=matrix[:3, :3].copy(), translation=matrix[:3, 3].copy())


def read_frame(scene, frame, reader, depsgraph, with_landmarks):
    """FrameRecord of ``frame`` (the scene must already be at that frame)."""
    fmt = shot_format
    K, w2c = camera.camera_frame(scene, depsgraph)
    state = reader.read(depsgraph, with_landmarks=with_landmarks)
    landmarks = None
    if state.landmark_points is not None:
        landmarks, _ = camera.project(state.landmark_points, K, w2c)
    return fmt.FrameRecord(
        frame=frame,
        coefficients=state.coefficients,
        head_world=_transform(fmt, state.head_world),
        head_camera=_transform(fmt, w2c @ state.head_world),
        joints=state.joints,
        K=K,
        world_to_camera=w2c,
        landmarks=landmarks,
    )


def export_shot(scene, settings, progress=None):
    """Export ``scene`` into the shot folder ``settings.output``; returns its Path.

    ``progress``: optional ``progress(done, total)`` called after each frame; returning
    False cancels (raises CancelledError, the previous folder stays). Raises
    NeuralFaceError for anything the user can fix (no camera, orthographic camera, no
    head or shape keys, empty frame range, unwritable folder, unknown rig names,
    a pass the engine cannot give) before anything is written.
    """
    steps = export_steps(scene, settings)
    try:
        while True:
            done, total = next(steps)
            if progress is not None and progress(done, total) is False:
                steps.close()  # discards the partial export, restores the scene
                raise errors.CancelledError(
                    f"export cancelled after {done} of {total} frames; '{settings.output}' is unchanged")
    except StopIteration as finished:
        return finished.value


def export_steps(scene, settings):
    """The export one frame at a time, for callers that must stay responsive (a modal
    operator): a generator yielding ``(done, total)`` after each frame and returning
    the shot folder's Path. Closing it early (``.close()``) discards the partial export
    and restores the scene and its render settings; the previous shot folder stays.
    Everything the user can fix is checked, and raised, by the first ``next()``.
    """
    fmt = shot_format
    frames = frame_numbers(scene, settings)
    if bpy.context.scene != scene:
        raise NeuralFaceError(f"scene '{scene.name}' is not the active scene")
    head = rig.find_head(scene, settings.head_object or None)
    match = rig.match_rig(head, settings.rig_profile, settings.custom_map or None)
    camera.camera_frame(scene, bpy.context.evaluated_depsgraph_get())  # fails early if unusable
    setup = None
    if settings.passes:
        setup = passes.RenderSetup(scene, settings.engine, settings.pass_names,
                                   settings.samples, head, settings.device,
                                   head_parts=rig.head_parts(head))
    reader = rig.RigReader(head, match)
    with_landmarks = settings.landmarks and reader.landmark_indices is not None
    staging = Staging(Path(settings.output))
    original_frame = scene.frame_current, scene.frame_subframe
    records = []
    try:
        if setup is not None:
            setup.__enter__()
            (staging.folder / "passes").mkdir()
        try:
            for done, frame in enumerate(frames, start=1):
                scene.frame_set(frame)
                depsgraph = bpy.context.evaluated_depsgraph_get()
                records.append(read_frame(scene, frame, reader, depsgraph, with_landmarks))
                if setup is not None:
                    setup.render(fmt.pass_path(staging.folder, frame))
                yield done, len(frames)
        finally:
            if setup is not None:
                setup.restore()
            scene.frame_set(original_frame[0], subframe=original_frame[1])
        fmt.write_shot(staging.folder, make_shot(scene, settings, head, match, reader, setup, records))
        staging.commit()
    except BaseException:  # includes GeneratorExit from close()
        staging.discard()
        raise
    return staging.target


def make_shot(scene, settings, head, match, reader, setup, records, source=None):
    """The :class:`Shot` of ``records`` (FrameRecords) as exported from ``scene``;
    ``setup``: the entered RenderSetup (None for a coefficient-only export);
    ``source``: extra provenance facts."""
    fmt = shot_format
    width, height = camera.output_size(scene.render)
    return fmt.Shot(
        fps=scene.render.fps / scene.render.fps_base,
        resolution=(width, height),
        pixel_aspect=scene.render.pixel_aspect_x / scene.render.pixel_aspect_y,
        rig_profile=match.profile,
        coefficient_names=list(match.coefficient_names),
        frames=records,
        passes=_pass_infos(fmt, setup),
        render=_render_facts(setup),
        source={**_source_facts(scene, head, reader, match), **(source or {})},
        frame_step=settings.frame_step,
    )


def _pass_infos(fmt, setup):
    if setup is None:
        return {}
    infos = passes.pass_infos(setup.view_layer.name, setup.passes)
    return {name: fmt.PassInfo(**info) for name, info in infos.items()}


def _render_facts(setup):
    facts = {"blender_version": bpy.app.version_string.split()[0]}
    if setup is None:
        return facts
    facts.update(engine=setup.engine, engine_id=setup.engine_id, samples=setup.samples,
                 depth="planar", view_layer=setup.view_layer.name,
                 normal_space="world")
    if setup.engine == "CYCLES":
        facts.update(device=setup.device, filter_width=passes.PIXEL_FILTER_WIDTH)
    if setup.mask_pass_index is not None:
        facts["mask_pass_index"] = setup.mask_pass_index
    return facts


def _source_facts(scene, head, reader, match):
    return {
        "blend_file": bpy.data.filepath,
        "scene": scene.name,
        "head_object": head.name,
        "head_parts": [o.name for o in rig.head_parts(head)],
        "armature": reader.armature.name if reader.armature is not None else None,
        "joints": dict(match.joints),
        "unmapped_shape_keys": list(match.unmapped),
        "missing_coefficients": len(match.missing),
        "landmarks": reader.landmark_indices is not None,
    }
