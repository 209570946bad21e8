"""One dataset chunk in Blender: a scene with the bundled head whose random frame
parameters are keyed on frames 1..N, its shot folder (through the exporter's own
``export_shot``) and its beauty renders.

Chunk folder layout (under the dataset folder)::

    chunk_00012/shot/             a shot folder (shot.json + passes/####.exr)
    chunk_00012/targets/####.png  the beauty render of each frame (sRGB, 8 bit)
    chunk_00012/frames.json       the frame parameters; written last = the chunk is complete

``frames.json`` holds ``frames`` (each frame's parameters, frame f = ``frames[f - 1]``,
``appearance`` as uniforms in ``appearance_names`` order), the render settings and any
``notes`` the caller adds (the evaluation shot names its held frames there).
"""

import json
import math
import shutil
import time
from pathlib import Path

import bpy
import numpy as np
from mathutils import Euler, Vector

from ..core_link import atomic
from ..export.exporter import ExportSettings, export_shot
from ..head.build import NOSE_TIP, build_head
from . import sampling
from .appearance import Look

COMPLETE = "frames.json"  # the file whose presence marks a finished chunk
FACE_CENTRE_OFFSET = (0.0, 0.035, 0.01)  # from the nose tip to the point the camera aims at, metres


def chunk_complete(folder) -> bool:
    return (Path(folder) / COMPLETE).is_file()


def _key(owner, path, value, frame, index=-1):
    setattr(owner, path, value) if index < 0 else getattr(owner, path).__setitem__(index, value)
    owner.keyframe_insert(path, frame=frame, index=index)


def head_scene(resolution):
    """A fresh (factory, empty) scene with the bundled head and a 36 mm-sensor camera,
    rendering square ``resolution`` images. Returns (scene, head objects, camera, the
    point [3] the camera aims at, world metres)."""
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    head = build_head(scene)
    scene.render.resolution_x = scene.render.resolution_y = resolution
    scene.render.resolution_percentage = 100
    camera_data = bpy.data.cameras.new("Camera")
    camera_data.sensor_fit = "AUTO"
    camera_data.sensor_width = 36.0
    camera_data.clip_start = 0.05
    camera = bpy.data.objects.new("Camera", camera_data)
    scene.collection.objects.link(camera)
    scene.camera = camera
    centre = np.asarray(NOSE_TIP, dtype=float) + FACE_CENTRE_OFFSET
    return scene, head, camera, centre


def build_chunk_scene(frames, resolution):
    """A fresh scene with the head and camera; ``frames[i]`` keyed on frame i + 1. Returns (scene, head objects, centre)."""
    scene, head, camera, centre = head_scene(resolution)
    scene.frame_start, scene.frame_end = 1, len(frames)
    blocks = head.mesh.data.shape_keys.key_blocks
    bones = head.armature.pose.bones
    for i, params in enumerate(frames):
        frame = i + 1
        for name, value in {**params["identity"], **params["expression"]}.items():
            if name in blocks:
                _key(blocks[name], "value", value, frame)
        for bone, angles in params["pose"].items():
            if bone in bones:
                bones[bone].rotation_mode = "XYZ"
                bones[bone].rotation_euler = Euler(angles, "XYZ")
                bones[bone].keyframe_insert("rotation_euler", frame=frame)
        _key_camera(camera, params["camera"], centre, frame)
    return scene, head, centre


def _key_camera(camera, params, centre, frame):
    place_camera(camera, params, centre)
    camera.keyframe_insert("location", frame=frame)
    camera.keyframe_insert("rotation_euler", frame=frame)
    camera.data.keyframe_insert("lens", frame=frame)


def place_camera(camera, params, centre):
    """Put ``camera`` where ``params`` (``sampling.camera``'s fields) say, aimed at ``centre``
    [3] (world, metres) plus the params' offset."""
    yaw, pitch = params["yaw"], params["pitch"]
    direction = np.array([math.sin(yaw) * math.cos(pitch), -math.cos(yaw) * math.cos(pitch), math.sin(pitch)])
    target = centre + np.array([params["offset"][0], 0.0, params["offset"][1]])
    location = target + params["distance"] * direction
    rotation = Vector(tuple(-direction)).to_track_quat("-Z", "Y")
    roll = Euler((0.0, 0.0, params["roll"]), "XYZ").to_quaternion()
    camera.location = tuple(location)
    camera.rotation_mode = "XYZ"
    camera.rotation_euler = (rotation @ roll).to_euler("XYZ")
    camera.data.lens = params["lens"]


def beauty_settings(scene, samples, denoise=False):
    """Cycles CPU, ``samples`` adaptive samples, Standard view, 8-bit RGB PNG stills."""
    scene.render.engine = "CYCLES"
    cycles = scene.cycles
    cycles.device = "CPU"
    cycles.samples = samples
    cycles.use_adaptive_sampling = True
    cycles.adaptive_threshold = 0.05
    cycles.use_denoising = denoise  # OIDN costs about 2 s per 256 px frame here; the noise at 12+ samples is mild
    cycles.max_bounces = 4
    cycles.diffuse_bounces = 2
    cycles.glossy_bounces = 2
    cycles.transmission_bounces = 0
    cycles.transparent_max_bounces = 2
    scene.render.film_transparent = False
    scene.view_settings.view_transform = "Standard"
    scene.render.use_compositing = False
    image = scene.render.image_settings
    if hasattr(image, "media_type"):
        image.media_type = "IMAGE"
    image.file_format = "PNG"
    image.color_mode = "RGB"
    image.color_depth = "8"


def make_chunk(folder, frames, resolution=256, samples=12, denoise=False, pass_samples=1, log=print, notes=None):
    """Build, export and render one chunk into ``folder`` (replaced if incomplete). Returns seconds per frame.

    ``frames``: one ``sampling.frame_parameters`` dict per frame; ``notes``: extra
    JSON-ready entries for ``frames.json``.
    """
    folder = Path(folder)
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    started = time.perf_counter()
    scene, head, centre = build_chunk_scene(frames, resolution)
    export_shot(scene, ExportSettings(output=str(folder / "shot"), samples=pass_samples))
    exported = time.perf_counter()
    look = Look(scene, centre)
    look.assign([head.mesh, *head.eyes])
    beauty_settings(scene, samples, denoise)
    targets = folder / "targets"
    targets.mkdir()
    for i, params in enumerate(frames):
        frame = i + 1
        scene.frame_set(frame)
        look.apply(params["appearance"])
        path = targets / f"{frame:04d}.png"
        scene.render.filepath = str(path)
        bpy.ops.render.render(write_still=True, scene=scene.name)
        if not path.is_file():
            raise RuntimeError(f"no beauty render written for frame {frame} at {path}")
    rendered = time.perf_counter()
    record = {
        "frames": frames,
        "appearance_names": list(sampling.APPEARANCE),
        "resolution": resolution,
        "samples": samples,
        "denoise": denoise,
        "blender_version": bpy.app.version_string.split()[0],
        "seconds": {"export": exported - started, "beauty": rendered - exported},
        **(notes or {}),
    }
    atomic.write_text_atomically(folder / COMPLETE, json.dumps(record))
    per_frame = (rendered - started) / len(frames)
    log(f"{folder.name}: {len(frames)} frames, export {exported - started:.1f} s, "
        f"beauty {rendered - exported:.1f} s ({per_frame:.2f} s/frame)")
    return per_frame
