"""Actor build (issue 14.2): an actor's training samples from its fit and its photo crops.

    python -m blender_addon.dataset.actor_build --shot FIT_SHOT --crops CROPS --out BUILD \\
        [--samples N] [--resolution R] [--json]

``FIT_SHOT`` is the coefficient-only shot folder the actor fitter writes (identity
``id_00``..``id_27`` and the ARKit 52 per frame, the joints ``neck``/``jaw``/``eye.L``/
``eye.R``, ``head_world``, ``world_to_camera`` and ``K`` of the square photo crop, the
fitted landmarks); ``CROPS/####.png`` the photo crop of each frame (frame 7 ->
``0007.png``). For every frame the bundled head is posed with the fitted values in the
fitted camera (:mod:`.actor_stage`) and its passes are rendered with the exporter's
machinery, so depth, normal, albedo, mask and regions line up with the photo. ``BUILD``
becomes a sample folder as ``neural_core/train/dataset.py`` reads it::

    BUILD/shot/shot.json         the posed head's shot: every frame, written before any pass
    BUILD/shot/passes/####.exr   the passes of each frame (Cycles, CPU)
    BUILD/targets/####.png       the frame's photo crop, sRGB RGB 8 bit (alpha dropped),
                                 resized to R when --resolution is given
    BUILD/checks/####.json       per frame: crop hash, the posed head's landmarks against the fit's
    BUILD/frames.json            written last: the build is complete

Resumable: a frame whose passes, target and check are there, whose record in shot.json
is unchanged and whose crop has the same hash is skipped; a frame the fit changed is made
again (its old files removed first), and a change of resolution, samples or Blender
version makes every frame again. Every file is written under a hidden name and renamed.
Frames without a crop, or whose crop cannot be read, are left out (no passes, no target)
and named in one warning. Progress, cancel (SIGINT/SIGTERM: after the current frame)
and exit codes are the worker protocol's (docs/worker-protocol.md).
"""

import argparse
import json
import os
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from ..core_link import NeuralFaceError, atomic, protocol
from ..core_link import shot as shot_format
from .actor_samples import COMPLETE, BuildFolder, crop_path, file_sha256, target_image

OFFSET_WARNING = 0.10  # posed landmarks further than this share of the inter-ocular distance from the fit's: warn
EYE_CORNERS = (33, 263)  # MediaPipe landmarks: outer corners of the right and left eye


@dataclass
class BuildSettings:
    """One build; paths absolute or relative to the working folder."""

    shot: str  # the fit's coefficient-only shot folder
    crops: str  # folder of the photo crops, ####.png by frame number
    out: str  # the sample folder to make (or finish)
    samples: int = 1  # Cycles samples per pixel of the passes
    resolution: int = 0  # output width in pixels; 0 = the crops' size
    device: str = "CPU"  # Cycles device


class Plan:
    """What a build will do, from the fit shot and the crops alone (no Blender).

    ``fit``: the parsed fit Shot; ``frames``: frame numbers with a crop; ``left_out``:
    {frame: reason}; ``size``: output (width, height); ``scale``: output per crop pixel.
    """

    def __init__(self, settings):
        from PIL import Image

        self.fit = shot_format.read_shot(settings.shot, check_passes=False)
        crops = Path(settings.crops)
        if not crops.is_dir():
            raise NeuralFaceError(f"crops folder '{crops}' does not exist")
        width, height = self.fit.resolution
        if abs(self.fit.pixel_aspect - 1.0) > 1e-9:
            raise NeuralFaceError(f"{Path(settings.shot) / 'shot.json'}: pixel_aspect {self.fit.pixel_aspect:g}; "
                                  "photo crops have square pixels (1.0)")
        output_width = settings.resolution or width
        if output_width < 8 or (height * output_width) % width:
            raise NeuralFaceError(f"--resolution {output_width} does not scale the {width}x{height} crops to whole pixels")
        self.size = (output_width, height * output_width // width)
        self.scale = output_width / width
        self.frames, self.left_out = [], {}
        for record in self.fit.frames:
            path = crop_path(crops, record.frame)
            if not path.is_file():
                self.left_out[record.frame] = "no crop"
                continue
            try:
                with Image.open(path) as image:
                    found = image.size
            except OSError as error:
                self.left_out[record.frame] = f"crop unreadable ({error})"
                continue
            if found != (width, height):
                raise NeuralFaceError(f"{path}, frame {record.frame}: the crop is {found[0]}x{found[1]}, the fit shot "
                                      f"says {width}x{height}")
            self.frames.append(record.frame)
        if not self.frames:
            raise NeuralFaceError(f"no crop in '{crops}' for any frame of the fit shot (frames "
                                  f"{self.fit.frames[0].frame}..{self.fit.frames[-1].frame}, named ####.png)")


def landmark_offset(expected, found):
    """(median pixel distance, the same over the inter-ocular distance) between the fit's
    landmarks and the posed head's [468, 2], or (None, None) when the fit has none."""
    if expected.landmarks is None or found.landmarks is None:
        return None, None
    distance = np.linalg.norm(np.asarray(found.landmarks) - np.asarray(expected.landmarks), axis=1)
    interocular = np.linalg.norm(found.landmarks[EYE_CORNERS[0]] - found.landmarks[EYE_CORNERS[1]])
    median = float(np.median(distance))
    return median, median / interocular if interocular > 0 else None


def make_frame(stage, setup, folder, record, image, crop, crop_hash):
    """Pose, check, render and write one frame (``image``: its target, a PIL image of
    the output size; ``crop``: the crop's path); returns its check record."""
    from .actor_stage import difference

    started = time.perf_counter()
    folder.remove(record.frame)
    stage.pose(record)
    found = stage.read(record.frame)
    mismatch = difference(record, found)
    if mismatch is not None:  # the stage's own mistake, never the user's
        raise RuntimeError(f"frame {record.frame}: the posed head does not reproduce the fit: "
                           f"'{mismatch[0]}' is off by {mismatch[1]:.3g}")
    exr, target, check = folder.paths(record.frame)
    temporary = exr.with_name(f".{exr.stem}.partial-{os.getpid()}.exr")
    try:
        setup.render(temporary)
        os.replace(temporary, exr)
        atomic.write_atomically(target, lambda path: image.save(path, format="PNG"))
        offset_px, offset_iod = landmark_offset(record, found)
        entry = {"frame": record.frame, "crop": crop.name, "crop_sha256": crop_hash,
                 "landmark_offset_px": offset_px, "landmark_offset_iod": offset_iod,
                 "seconds": round(time.perf_counter() - started, 3)}
        atomic.write_text_atomically(check, json.dumps(entry))
    except OSError as error:
        raise NeuralFaceError(f"cannot write frame {record.frame} into '{folder.root}' "
                              f"({error.strerror or error})") from error
    finally:
        if temporary.exists():
            temporary.unlink()
    return entry


def build_shot(stage, setup, plan, settings):
    """The build's Shot: the fit's frames in the head's coefficient order, clamped to the
    keys' ranges, K and landmarks scaled; the passes and render facts of ``setup``."""
    from ..export import exporter
    from .actor_stage import build_record

    names, ranges = stage.coefficient_names, stage.key_ranges()
    records = [build_record(r, plan.fit.coefficient_names, names, ranges, plan.scale) for r in plan.fit.frames]
    shot = exporter.make_shot(stage.scene, exporter.ExportSettings(output=settings.out, frame_step=plan.fit.frame_step),
                              stage.head.mesh, stage.match, stage.reader, setup, records)
    source = {"generator": "blender_addon.dataset.actor_build", "fit_shot": str(Path(settings.shot).resolve()),
              "crops": str(Path(settings.crops).resolve()), "head_object": stage.head.mesh.name,
              "head_parts": shot.source.get("head_parts"), "landmarks": True}
    return replace(shot, fps=plan.fit.fps, source=source)


def warnings_for(plan, names, ranges):
    """One-line warnings about the fit shot: coefficients the head lacks, values outside
    their key's range (clamped), joints the build ignores."""
    from .actor_stage import JOINTS

    found = []
    values = np.array([r.coefficients for r in plan.fit.frames])
    clamped = sorted(n for i, n in enumerate(plan.fit.coefficient_names) if n in ranges
                     and ((values[:, i] < ranges[n][0] - 1e-9) | (values[:, i] > ranges[n][1] + 1e-9)).any())
    if clamped:
        found.append(f"the fit shot has values outside their shape key's range, clamped: {', '.join(clamped[:8])}"
                     f"{' ...' if len(clamped) > 8 else ''}")
    unknown = [n for n in plan.fit.coefficient_names if n not in names]
    if unknown:
        found.append(f"the fit shot has {len(unknown)} coefficient(s) the bundled head lacks, ignored: "
                     f"{', '.join(unknown[:8])}{' ...' if len(unknown) > 8 else ''}")
    joints = sorted({j for r in plan.fit.frames for j in r.joints} - set(JOINTS))
    if joints:
        found.append(f"the fit shot's joint(s) {', '.join(joints)} are ignored (the build poses {', '.join(JOINTS)})")
    return found


def build_actor(settings, job):
    """Make (or finish) the sample folder ``settings.out`` under ``job`` (an entered
    protocol ``Job``: start, a frame event per frame, warnings, cancel between frames)."""
    from ..export import passes, rig
    from .actor_stage import ActorStage

    plan = Plan(settings)
    started = time.perf_counter()
    folder = BuildFolder(settings.out)
    folder.lock()
    try:
        job.start(len(plan.frames), plan.frames, out=str(folder.root))
        if plan.left_out:
            job.warning(_left_out_text(plan.left_out))
        stage = ActorStage(*plan.size)
        for text in warnings_for(plan, stage.coefficient_names, stage.key_ranges()):
            job.warning(text)
        unreadable = {}
        with passes.RenderSetup(stage.scene, "CYCLES", None, settings.samples, stage.head.mesh, settings.device,
                                head_parts=rig.head_parts(stage.head.mesh)) as setup:
            shot = build_shot(stage, setup, plan, settings)
            folder.prepare(shot)
            for frame in plan.left_out:  # an earlier build's files of a frame whose crop is gone now
                folder.remove(frame)
            entries = {}
            for frame in job.frames(plan.frames):
                crop = crop_path(settings.crops, frame)
                try:
                    crop_hash = file_sha256(crop)
                    if folder.done(frame, crop_hash):
                        entries[frame] = json.loads(folder.paths(frame)[2].read_text())
                        job.frame_done(frame, skipped=True)
                        continue
                    image = target_image(crop, plan.size)
                except OSError as error:
                    unreadable[frame] = f"crop unreadable ({error})"
                    folder.remove(frame)
                    job.frame_done(frame, skipped=True)
                    continue
                entries[frame] = make_frame(stage, setup, folder, shot.frame(frame), image, crop, crop_hash)
                job.frame_done(frame, path=str(folder.paths(frame)[0]))
        if unreadable:
            job.warning(_left_out_text(unreadable))
        far = [f for f, e in entries.items() if (e.get("landmark_offset_iod") or 0) > OFFSET_WARNING]
        if far:
            job.warning(f"in {len(far)} frame(s) ({_frames_text(far)}) the posed head's landmarks lie more than "
                        f"{OFFSET_WARNING:.0%} of the inter-ocular distance from the fit's: check the fit")
        _write_complete(folder, plan, settings, shot, entries, {**plan.left_out, **unreadable}, started)
    finally:
        folder.close()
    return folder.root


def _frames_text(frames, limit=12):
    frames = sorted(frames)
    return ", ".join(map(str, frames[:limit])) + (f" and {len(frames) - limit} more" if len(frames) > limit else "")


def _left_out_text(left_out):
    reasons = sorted(set(left_out.values()))
    return (f"{len(left_out)} frame(s) left out (no passes, no target): {_frames_text(left_out)} "
            f"({'; '.join(reasons[:3])}{' ...' if len(reasons) > 3 else ''})")


def _write_complete(folder, plan, settings, shot, entries, left_out, started):
    import bpy

    frames = []
    for record in shot.frames:  # one entry per shot frame, in order (the trainer zips them)
        entry = entries.get(record.frame)
        frames.append({k: v for k, v in entry.items() if k != "crop_sha256"} if entry is not None
                      else {"frame": record.frame, "left_out": left_out.get(record.frame, "no crop")})
    record = {"format": "neural_face.actor_build", "version": 1,
              "fit_shot": str(Path(settings.shot).resolve()), "crops": str(Path(settings.crops).resolve()),
              "resolution": list(plan.size), "samples": settings.samples,
              "blender_version": bpy.app.version_string.split()[0],
              "frames": frames, "left_out": sorted(left_out),
              "seconds": round(time.perf_counter() - started, 3)}
    atomic.write_text_atomically(folder.root / COMPLETE, json.dumps(record, indent=1))


def parse_args(argv=None):
    parser = argparse.ArgumentParser(prog="python -m blender_addon.dataset.actor_build",
                                     description="Render the bundled head posed as an actor's fit: a sample folder "
                                                 "(shot/ + targets/ + frames.json) for the trainer.")
    parser.add_argument("--shot", required=True, help="the fit's coefficient-only shot folder")
    parser.add_argument("--crops", required=True, help="folder of the photo crops, ####.png by frame")
    parser.add_argument("--out", required=True, help="the sample folder to make or finish")
    parser.add_argument("--samples", type=int, default=1, help="Cycles samples per pixel of the passes (default 1)")
    parser.add_argument("--resolution", type=int, default=0, help="output width in pixels (default: the crops')")
    parser.add_argument("--json", action="store_true", help="JSON-lines events on stdout (docs/worker-protocol.md)")
    args = parser.parse_args(argv)
    if args.samples < 1:
        parser.error("--samples must be at least 1")
    return args


def main(argv=None):
    """Run one build; returns the protocol's exit status (0 ok, 1 bug, 2 bad input, 3 cancelled)."""
    args = parse_args(argv)
    reporter = protocol.make_reporter(True if args.json else None)
    job = protocol.Job("actor-build", reporter)
    try:
        with job:
            build_actor(BuildSettings(shot=args.shot, crops=args.crops, out=args.out, samples=args.samples,
                                      resolution=args.resolution), job)
    finally:
        reporter.close()
    return job.exit_code


if __name__ == "__main__":
    code = main()
    import bpy

    for _name in dir(bpy.app.handlers):  # bpy 4.5.15 hangs at exit while a handler is registered
        if isinstance(getattr(bpy.app.handlers, _name), list):
            getattr(bpy.app.handlers, _name).clear()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
