"""Chunked exports: several processes export one shot into one shared shot folder (farms).

A plain export (:func:`.exporter.export_shot`) replaces the shot folder as a whole. On a
farm each process exports a chunk of frames, so here:

- ``shot.json`` describes the whole shot (every frame's coefficients, pose, camera) and
  is written once, before any pass: by :func:`prepare_shot` (a farm job's first task),
  or by the first chunk that finds none. Evaluating the rig for every frame costs a
  fraction of rendering its passes, and with ``shot.json`` complete from the start the
  synthesis of a chunk may begin as soon as that chunk's passes exist (temporal smoothing
  reads only neighbouring coefficients, never neighbouring passes).
- Each chunk checks the shot folder against its scene before writing anything: the
  ``.blend`` file's SHA-256 (kept in ``source.blend_sha256``), the shot-wide facts and
  its own frames' records. A mismatch (the .blend changed between chunks, another
  Blender version, another rig profile) is a NeuralFaceError and nothing is written.
- Each chunk renders the passes of its frames that are not there yet, each to a hidden
  temporary name renamed into ``passes/####.exr`` once complete, so a rerun after a
  crash skips the finished frames and a reader never sees half a file.
- Locks (``fcntl.lockf`` on ``.<shot folder>.lock`` beside the folder, which survives a
  prepare replacing the folder): byte 0 shared by every running chunk and exclusive
  for whoever writes ``shot.json``; byte ``frame + 1`` exclusive for the chunk exporting
  that frame, so overlapping chunks running at once are refused. The kernel drops the
  locks of a killed process. (Windows has no ``fcntl``: nothing is locked there.)
"""

import errno
import hashlib
import json
import math
import os
from pathlib import Path

import bpy

from ..core_link import NeuralFaceError, frames
from ..core_link import shot as shot_format
from . import camera, exporter, passes, rig

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None

TOLERANCE = 1e-6  # numbers in shot.json equal when within this (absolute and relative)


def blend_sha256():
    """SHA-256 of the open .blend file; NeuralFaceError when it was never saved."""
    if not bpy.data.filepath:
        raise NeuralFaceError("a chunked export needs a saved .blend file (its hash ties the chunks together)")
    digest = hashlib.sha256()
    with open(bpy.data.filepath, "rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


class ShotLock:
    """The record locks of one shot folder (see the module docstring)."""

    def __init__(self, folder):
        self.folder = Path(folder)
        self.path = self.folder.parent / f".{self.folder.name}.lock"
        self.fd = None
        if fcntl is not None:
            try:
                self.folder.parent.mkdir(parents=True, exist_ok=True)
                self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
            except OSError as error:
                raise NeuralFaceError(f"shot folder '{self.folder}' is not writable: cannot create "
                                      f"'{self.path}' ({error.strerror or error})") from error

    def _lock(self, command, first=0, count=1):
        if self.fd is not None:
            fcntl.lockf(self.fd, command, count, first, os.SEEK_SET)

    def shared(self):
        """Byte 0 shared (blocks while someone writes shot.json; turns our exclusive
        lock into a shared one in one step)."""
        if fcntl is not None:
            self._lock(fcntl.LOCK_SH)

    def exclusive(self, wait=True):
        """Byte 0 exclusive; without ``wait``, NeuralFaceError when chunks are running.
        A shared lock held is dropped first (two processes upgrading at once would
        deadlock)."""
        if fcntl is None:
            return
        self._lock(fcntl.LOCK_UN)
        try:
            self._lock(fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except OSError as error:
            raise NeuralFaceError(f"'{self.folder}': chunk exports are running in this shot folder; "
                                  "wait for them to end, or export into another folder") from error

    def claim(self, frames):
        """Lock the bytes of ``frames`` (sorted) exclusively, or raise naming the busy ones."""
        if self.fd is None:
            return
        first, last = frames[0], frames[-1]
        try:
            self._lock(fcntl.LOCK_EX | fcntl.LOCK_NB, first + 1, last - first + 1)
        except OSError as error:
            if error.errno == errno.ENOLCK:  # a file system without record locks: nothing is checked
                return
            if error.errno not in (errno.EAGAIN, errno.EACCES):
                raise
            raise NeuralFaceError(
                f"'{self.folder}': frames in {first}-{last} are being exported by another process right now; "
                "chunks running at the same time must not overlap") from error

    def close(self):
        if self.fd is not None:
            os.close(self.fd)  # drops every lock this process holds on the file
            self.fd = None


def _plain(value):
    return json.loads(json.dumps(value, default=lambda v: v.tolist() if hasattr(v, "tolist") else str(v)))


def first_difference(expected, found, where=""):
    """Dotted path of the first difference between two JSON values (numbers compared
    within TOLERANCE), or None."""
    if isinstance(expected, dict) and isinstance(found, dict):
        for key in sorted(set(expected) | set(found)):
            if key not in expected or key not in found:
                return f"{where}{key}"
            difference = first_difference(expected[key], found[key], f"{where}{key}.")
            if difference:
                return difference
        return None
    if isinstance(expected, list) and isinstance(found, list) and len(expected) == len(found):
        for index, (a, b) in enumerate(zip(expected, found)):
            difference = first_difference(a, b, f"{where.rstrip('.')}[{index}].")
            if difference:
                return difference
        return None
    numbers = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (expected, found))
    if numbers and math.isclose(expected, found, rel_tol=TOLERANCE, abs_tol=TOLERANCE):
        return None
    return None if expected == found else where.rstrip(".")


class _SceneExport:
    """The scene side of a chunked export: checks, rig reader, render set-up."""

    def __init__(self, scene, settings):
        if bpy.context.scene != scene:
            raise NeuralFaceError(f"scene '{scene.name}' is not the active scene")
        self.scene = scene
        self.settings = settings
        self.frames = exporter.frame_numbers(scene, settings)
        self.head = rig.find_head(scene, settings.head_object or None)
        self.match = rig.match_rig(self.head, settings.rig_profile, settings.custom_map or None)
        camera.camera_frame(scene, bpy.context.evaluated_depsgraph_get())  # fails early if unusable
        self.setup = None
        if settings.passes:
            self.setup = passes.RenderSetup(scene, settings.engine, settings.pass_names, settings.samples,
                                            self.head, settings.device, head_parts=rig.head_parts(self.head))
        self.reader = rig.RigReader(self.head, self.match)
        self.landmarks = settings.landmarks and self.reader.landmark_indices is not None
        self.blend_sha256 = blend_sha256()
        self.folder = Path(settings.output)
        self._frame = scene.frame_current, scene.frame_subframe

    def __enter__(self):
        if self.setup is not None:
            self.setup.__enter__()
        return self

    def __exit__(self, *exc):
        try:
            if self.setup is not None:
                self.setup.restore()
        finally:
            self.scene.frame_set(self._frame[0], subframe=self._frame[1])
        return False

    def shot(self, frames):
        """The Shot of ``frames`` as this scene gives them (evaluates each frame)."""
        records = []
        for frame in frames:
            self.scene.frame_set(frame)
            depsgraph = bpy.context.evaluated_depsgraph_get()
            records.append(exporter.read_frame(self.scene, frame, self.reader, depsgraph, self.landmarks))
        return exporter.make_shot(self.scene, self.settings, self.head, self.match, self.reader, self.setup, records,
                                  source={"blend_sha256": self.blend_sha256})

    def write_new_folder(self, shot):
        """Replace the shot folder as a whole by one holding only ``shot.json`` (and an
        empty passes folder); refuses a non-empty folder that is not a shot folder."""
        staging = exporter.Staging(self.folder)
        try:
            shot_format.write_shot(staging.folder, shot)
            if shot.passes:
                (staging.folder / shot.passes_folder).mkdir()
            staging.commit()
        except BaseException:
            staging.discard()
            raise

    def difference(self, shot):
        """Where the shot folder's shot.json differs from ``shot`` (its frames only), in
        words, or None. ``source.blend_file`` is not compared (farm nodes mount the
        same file under different paths); ``source.blend_sha256`` is."""
        found = shot_format.folder.load_shot_json(self.folder)
        expected = _plain(shot_format.model.shot_to_dict(shot))
        for data in (expected, found):
            if isinstance(data.get("source"), dict):
                data["source"] = {k: v for k, v in data["source"].items() if k != "blend_file"}
        found_sha = (found.get("source") or {}).get("blend_sha256")
        if found_sha != self.blend_sha256:
            return (f"it was exported from another version of the .blend file (sha256 {str(found_sha)[:12]}..., "
                    f"this file {self.blend_sha256[:12]}...)")
        head = first_difference({k: v for k, v in expected.items() if k != "frames"},
                                {k: v for k, v in found.items() if k != "frames"})
        if head:
            return f"'{head}' differs from this scene"
        existing = {entry.get("frame"): entry for entry in found.get("frames", []) if isinstance(entry, dict)}
        for entry in expected["frames"]:
            if entry["frame"] not in existing:
                return f"it has no frame {entry['frame']}"
            difference = first_difference(entry, existing[entry["frame"]])
            if difference:
                return f"frame {entry['frame']}: '{difference}' differs from this scene"
        return None


def _identity(path):
    stat = os.stat(path)
    return stat.st_size, stat.st_mtime_ns, stat.st_ino


def prepare_shot(scene, settings):
    """Write ``shot.json`` for the whole frame range of ``settings`` into
    ``settings.output`` before any chunk runs (a farm job's first task). An identical
    shot folder is kept with its passes (a resubmitted job resumes); a different one is
    replaced as a whole. Refused while chunk exports run there. Returns "kept" or "written"."""
    export = _SceneExport(scene, settings)
    lock = ShotLock(export.folder)
    try:
        lock.exclusive(wait=False)
        with export:
            shot = export.shot(export.frames)
        if (export.folder / shot_format.model.SHOT_FILE).is_file() and export.difference(shot) is None \
                and len(shot_format.folder.load_shot_json(export.folder).get("frames", [])) == len(shot.frames):
            return "kept"
        export.write_new_folder(shot)
        return "written"
    finally:
        lock.close()


def export_chunk(scene, settings, first, last, progress=None):
    """Export the passes of frames ``first..last`` of the shot ``settings`` describes
    (its frame range is the whole shot) into the shared folder ``settings.output``;
    returns the folder. ``progress(done, total)`` after each frame."""
    return _run_steps(export_chunk_steps(scene, settings, first, last), progress)


def export_colour_reference(scene, settings, progress=None):
    """Export the passes of the frames the colour stabiliser takes its reference from
    (``frames.colour_reference_frames`` of the whole shot ``settings`` describes), in one
    pass, skipping those already there; returns those frame numbers. A farm's prepare task
    runs it, so that every synthesis chunk of a stabilised job finds them (docs/farm.md).
    ``progress(done, total)`` after each frame."""
    shot_frames = exporter.frame_numbers(scene, settings)
    chosen = frames.colour_reference_frames(shot_frames)
    _run_steps(_export_frames_steps(scene, settings, shot_frames, chosen), progress)
    return chosen


def _run_steps(steps, progress):
    """Drive an export generator to its end; returns its value."""
    try:
        while True:
            done, total = next(steps)
            if progress is not None:
                progress(done, total)
    except StopIteration as finished:
        return finished.value


def export_chunk_steps(scene, settings, first, last):
    """:func:`export_chunk` one frame per ``next()`` (yields ``(done, total)``). Every
    check (range, rig, the shot folder against this scene) runs before the first pass."""
    shot_frames = exporter.frame_numbers(scene, settings)
    chunk = [frame for frame in shot_frames if first <= frame <= last]
    if first < shot_frames[0] or last > shot_frames[-1] or not chunk:
        raise NeuralFaceError(f"chunk {first}-{last} is outside the shot's frames {shot_frames[0]}-{shot_frames[-1]}"
                              + (f" (every {settings.frame_step})" if settings.frame_step > 1 else ""))
    return (yield from _export_frames_steps(scene, settings, shot_frames, chunk))


def _export_frames_steps(scene, settings, shot_frames, chunk):
    """The export of ``chunk`` (sorted frame numbers among the shot's ``shot_frames``), one
    frame per ``next()``."""
    export = _SceneExport(scene, settings)
    lock = ShotLock(export.folder)
    shot_file = export.folder / shot_format.model.SHOT_FILE
    try:
        lock.claim(chunk)
        with export:
            lock.shared()
            if not shot_file.is_file():
                lock.exclusive()  # whoever comes first writes shot.json; the others wait, then check it
                if not shot_file.is_file():
                    export.write_new_folder(export.shot(shot_frames))
                lock.shared()
            difference = export.difference(export.shot(chunk))
            if difference:
                raise NeuralFaceError(
                    f"shot folder '{export.folder}' does not match this scene: {difference}. Nothing was written; "
                    "export into a new folder, or run the prepare step (--only prepare) to start the shot again")
            identity = _identity(shot_file)
            info = shot_format.folder.load_shot_json(export.folder)
            passes_folder = export.folder / info.get("passes_folder", "passes")
            for frame in chunk:
                for leftover in passes_folder.glob(f".{frame:04d}.partial-*.exr"):
                    leftover.unlink(missing_ok=True)  # a killed run's; the frame is ours now
            for done, frame in enumerate(chunk, start=1):
                target = shot_format.pass_path(export.folder, frame, info.get("passes_folder", "passes"))
                if export.setup is not None and not target.is_file():
                    _render_pass(export, frame, target, shot_file, identity)
                yield done, len(chunk)
    finally:
        lock.close()
    return export.folder


def _render_pass(export, frame, target, shot_file, identity):
    """Render ``frame``'s passes under a hidden name and rename it to ``target``, unless
    shot.json was replaced meanwhile (then nothing is written)."""
    export.scene.frame_set(frame)
    temporary = target.with_name(f".{target.stem}.partial-{os.getpid()}.exr")
    try:
        export.setup.render(temporary)
        if _identity(shot_file) != identity:
            raise NeuralFaceError(f"'{shot_file}' was replaced while frame {frame} was exported (another prepare "
                                  "or export?): stopped; nothing of this frame was written")
        os.replace(temporary, target)
    except OSError as error:
        raise NeuralFaceError(f"cannot write the passes of frame {frame} into '{target.parent}' "
                              f"({error.strerror or error})") from error
    finally:
        if temporary.exists():
            temporary.unlink()

