"""A synthetic actor: photo-like Cycles renders of the bundled head as one hidden person,
with the ground truth kept aside (issue 14: footage whose answer is known).

One seed = one actor: a random identity (``id_00..id_27``) and one procedural skin, eye and
hair look (``appearance``), performing varied expressions, head turns, gaze and lights
over background plates (``performance``, ``plates``). Folder layout::

    OUT/train/0001.png ..        still frames, sRGB RGB 8 bit, no alpha (like photos)
    OUT/held_out/0001.png ..     more stills from their own random stream
    OUT/video/frames/0001.png .. a continuous performance (24 fps; frames 21-34 hold still)
    OUT/video/video.mp4          those frames encoded with PyAV (H.264), when ``av`` is installed
    OUT/truth/recipe.json        seed, resolution, samples, frame counts, Blender version
    OUT/truth/actor.json         the identity keys and the appearance uniforms
    OUT/truth/<split>/0001.json  per frame: ARKit-52 values, bone pose, gaze, camera K and
                                 world_to_camera, head_to_camera, 478 projected landmarks with
                                 depth and visibility, lights, plate (``ground_truth``)
    OUT/truth/<split>.npz        the same stacked into arrays, once the split is complete

Everything is a pure function of the seed (and resolution / samples): each frame draws
from its own random stream, so a rerun skips the frames whose image is there and renders
only the rest. Every file is written to a hidden temporary name and renamed, truth before
image, so an image on disk always has its truth.
"""

import json
import time
from pathlib import Path

import bpy
import numpy as np

from ..core_link import NeuralFaceError, arkit, atomic
from ..head.identity import identity_names
from . import performance, plates, sampling
from .appearance import Look
from .chunk import beauty_settings, head_scene, place_camera
from .ground_truth import TruthReader

SPLITS = ("held_out", "video", "train")  # the order frames are made in
FPS = 24
RECIPE_KEYS = ("seed", "resolution", "samples", "appearance")  # a rerun must match these


def frame_name(number):
    return f"{number:04d}.png"


def image_path(out, split, number):
    folder = Path(out) / ("video/frames" if split == "video" else split)
    return folder / frame_name(number)


def truth_path(out, split, number):
    return Path(out) / "truth" / split / f"{number:04d}.json"


def check_recipe(out, recipe):
    """Write ``truth/recipe.json`` or check that the one there was made with the same
    seed, resolution and samples (NeuralFaceError naming both otherwise)."""
    path = Path(out) / "truth" / "recipe.json"
    if path.is_file():
        previous = json.loads(path.read_text())
        if any(previous.get(k) != recipe.get(k) for k in RECIPE_KEYS):  # (no "appearance": the seed's look)
            raise NeuralFaceError(f"{out} holds a synthetic actor made with "
                                  f"{ {k: previous.get(k) for k in RECIPE_KEYS} }, not { {k: recipe.get(k) for k in RECIPE_KEYS} }")
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic.write_text_atomically(path, json.dumps(recipe, indent=1))


class Stage:
    """The Blender scene of one actor: head, camera, materials, lights; poses and renders frames."""

    def __init__(self, actor, resolution, samples):
        self.actor = actor
        self.resolution = resolution
        self.scene, self.head, self.camera, self.centre = head_scene(resolution)
        self.look = Look(self.scene, self.centre)
        self.look.assign([self.head.mesh, *self.head.eyes])
        beauty_settings(self.scene, samples)
        self.scene.render.film_transparent = True  # the plate goes behind afterwards
        self.scene.render.image_settings.color_mode = "RGBA"
        self.blocks = self.head.mesh.data.shape_keys.key_blocks
        for name, value in actor["identity"].items():
            self.blocks[name].value = value
        self.truth = TruthReader(self.scene, self.head)

    def pose(self, params):
        """Set expression, bones, camera and lights of one frame."""
        for name, value in params["expression"].items():
            self.blocks[name].value = value
        bones = self.head.armature.pose.bones
        for bone, angles in params["pose"].items():
            bones[bone].rotation_mode = "XYZ"
            bones[bone].rotation_euler = angles
        place_camera(self.camera, params["camera"], self.centre)
        self.look.apply(performance.with_lights(self.actor["appearance"], params["lights"]))
        bpy.context.view_layer.update()

    def read_truth(self):
        return self.truth.read(bpy.context.evaluated_depsgraph_get())

    def render(self, scratch):
        """The current frame rendered: straight-alpha RGBA uint8 [R, R, 4]."""
        from PIL import Image

        self.scene.render.filepath = str(scratch)
        bpy.ops.render.render(write_still=True, scene=self.scene.name)
        if not scratch.is_file():
            raise RuntimeError(f"Cycles wrote no image at {scratch}")
        with Image.open(scratch) as image:
            return np.asarray(image.convert("RGBA"))


def truth_record(split, number, params, truth):
    """The per-frame truth JSON (see the module docstring)."""
    pose = params["pose"]
    return {
        "split": split,
        "frame": number,
        "image": str(Path("video/frames" if split == "video" else split) / frame_name(number)),
        "expression": params["expression"],
        "pose": {bone: list(angles) for bone, angles in pose.items()},
        "gaze": [pose["eye.L"][0], pose["eye.L"][2], pose["eye.R"][0], pose["eye.R"][2]],
        "camera": {"K": truth["K"].tolist(), "world_to_camera": truth["world_to_camera"].tolist(),
                   "lens_mm": params["camera"]["lens"], "sensor_width_mm": 36.0},
        "head_to_camera": truth["head_to_camera"].tolist(),
        "head_frame_to_camera": truth["head_frame_to_camera"].tolist(),
        "landmarks": truth["landmarks"].tolist(),
        "landmark_depth": truth["landmark_depth"].tolist(),
        "landmark_visible": truth["landmark_visible"].tolist(),
        "lights": params["lights"],
        "plate": params["plate"],
    }


def _save_png(path, image):
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    atomic.write_atomically(path, lambda temporary: Image.fromarray(image).save(temporary, format="PNG"))


def make_frame(stage, out, split, number, params, scratch):
    """Render one frame and write its truth, then its image."""
    stage.pose(params)
    truth = stage.read_truth()
    rgba = stage.render(scratch)
    image = plates.composite(rgba, plates.make_plate(params["plate"]["kind"], params["plate"]["seed"], stage.resolution))
    path = truth_path(out, split, number)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic.write_text_atomically(path, json.dumps(truth_record(split, number, params, truth)))
    _save_png(image_path(out, split, number), image)


def summarise(out, split, count):
    """Stack a complete split's truth JSONs into ``truth/<split>.npz``: expression [N, 52]
    (ARKit order in ``arkit_names``), landmarks [N, 478, 2], landmark_depth [N, 478],
    landmark_visible [N, 478], K [N, 3, 3], world_to_camera / head_to_camera [N, 4, 4],
    gaze [N, 4], frames [N]."""
    records = [json.loads(truth_path(out, split, n).read_text()) for n in range(1, count + 1)]
    arrays = {
        "frames": np.arange(1, count + 1),
        "arkit_names": np.array(arkit.ARKIT_52),
        "expression": np.array([[r["expression"][k] for k in arkit.ARKIT_52] for r in records]),
        "landmarks": np.array([r["landmarks"] for r in records]),
        "landmark_depth": np.array([r["landmark_depth"] for r in records]),
        "landmark_visible": np.array([r["landmark_visible"] for r in records]),
        "K": np.array([r["camera"]["K"] for r in records]),
        "world_to_camera": np.array([r["camera"]["world_to_camera"] for r in records]),
        "head_to_camera": np.array([r["head_to_camera"] for r in records]),
        "gaze": np.array([r["gaze"] for r in records]),
    }

    def write(temporary):
        with open(temporary, "wb") as handle:
            np.savez_compressed(handle, **arrays)

    atomic.write_atomically(Path(out) / "truth" / f"{split}.npz", write)


def encode_video(out, count, fps=FPS, log=print):
    """``video/video.mp4`` (H.264, yuv420p, crf 18) from the video frames; False (logged)
    when PyAV is not installed."""
    try:
        import av
    except ImportError:
        log("PyAV (av) is not installed: the video is left as PNG frames in video/frames")
        return False
    from PIL import Image

    def write(temporary):
        with av.open(str(temporary), mode="w", format="mp4") as container:
            stream = container.add_stream("libx264", rate=fps)
            stream.pix_fmt = "yuv420p"
            stream.options = {"crf": "18"}
            with Image.open(image_path(out, "video", 1)) as first:
                stream.width, stream.height = first.size  # fixed once the codec opens (first frame)
            for number in range(1, count + 1):
                with Image.open(image_path(out, "video", number)) as image:
                    pixels = np.asarray(image.convert("RGB"))
                for packet in stream.encode(av.VideoFrame.from_ndarray(pixels, format="rgb24")):
                    container.mux(packet)
            for packet in stream.encode():
                container.mux(packet)

    atomic.write_atomically(Path(out) / "video" / "video.mp4", write)
    return True


def make_synthetic_actor(out, train=600, held_out=64, seed=0, samples=16, resolution=512,
                         video_frames=performance.VIDEO_FRAMES, max_minutes=0.0, log=print, appearance=None):
    """Make (or finish) the synthetic actor in ``out``; returns the frames rendered now.

    ``max_minutes``: stop starting frames after this long (0: no limit); a rerun goes on.
    ``appearance``: {name: value in [0, 1]} over the seed's look (``sampling.APPEARANCE``
    names), e.g. the same person with darker hair and brows; kept in the recipe.
    """
    out = Path(out)
    if video_frames and resolution % 2:
        raise NeuralFaceError(f"resolution {resolution} is odd: the video's 4:2:0 colour needs an even image side")
    counts = {"held_out": held_out, "video": video_frames, "train": train}
    recipe = {"format": "neural_face.synthetic_actor", "version": 1, "seed": seed, "resolution": resolution,
              "samples": samples, "counts": counts, "fps": FPS, "blender_version": bpy.app.version_string.split()[0],
              "generator": "tools/make_synthetic_actor.py"}
    actor = performance.actor(seed, identity_names())
    if appearance:
        unknown = sorted(set(appearance) - set(sampling.APPEARANCE))
        if unknown:
            raise NeuralFaceError(f"unknown appearance name(s) {', '.join(unknown)}; known: {', '.join(sampling.APPEARANCE)}")
        for name, value in appearance.items():
            if not 0.0 <= float(value) <= 1.0:
                raise NeuralFaceError(f"appearance {name}={value}: values lie in [0, 1]")
            actor["appearance"][sampling.APPEARANCE.index(name)] = float(value)
        recipe["appearance"] = {name: float(appearance[name]) for name in sorted(appearance)}
    check_recipe(out, recipe)
    actor_record = {"identity": actor["identity"], "appearance": dict(zip(sampling.APPEARANCE, actor["appearance"]))}
    atomic.write_text_atomically(out / "truth" / "actor.json", json.dumps(actor_record, indent=1))
    todo = [(split, n) for split in SPLITS for n in range(1, counts[split] + 1) if not image_path(out, split, n).is_file()]
    started, rendered = time.perf_counter(), []
    if todo:
        stage = Stage(actor, resolution, samples)
        scratch = out / "truth" / ".render.png"
        video = performance.video_frames(seed, arkit.ARKIT_52, video_frames) if video_frames else []
        for i, (split, number) in enumerate(todo):
            if max_minutes and time.perf_counter() - started > max_minutes * 60:
                log("time limit reached")
                break
            params = video[number - 1] if split == "video" else performance.still_frame(seed, split, number - 1, arkit.ARKIT_52)
            make_frame(stage, out, split, number, params, scratch)
            rendered.append(split)
            elapsed = time.perf_counter() - started
            log(f"{split} {number}/{counts[split]}: {len(rendered)} frames in {elapsed / 60:.1f} min, "
                f"{len(rendered) / elapsed * 3600:.0f} frames/hour")
            if i + 1 == len(todo) or todo[i + 1][0] != split:  # the split's last missing frame
                finish_split(out, split, counts[split], log, again=True)
        scratch.unlink(missing_ok=True)
    for split, count in counts.items():
        finish_split(out, split, count, log, again=False)
    return len(rendered)


def finish_split(out, split, count, log, again):
    """Once every frame of ``split`` is on disk: its ``truth/<split>.npz`` and, for the video,
    ``video/video.mp4``; made anew when ``again``, else only when missing."""
    if not count or not all(image_path(out, split, n).is_file() for n in range(1, count + 1)):
        return
    if again or not (out / "truth" / f"{split}.npz").is_file():
        summarise(out, split, count)
    if split == "video" and (again or not (out / "video" / "video.mp4").is_file()):
        encode_video(out, count, log=log)
