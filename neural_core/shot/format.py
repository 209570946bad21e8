"""Shot-folder format v1: the data model, writer and reader (see docs/shot-format.md).

A shot folder holds ``shot.json`` (this module) and ``passes/####.exr`` (one
multilayer OpenEXR per frame, see :mod:`.exr` and :mod:`.passes`). Pure Python + numpy.

Axes: world = Blender world (+Z up, metres). Camera = OpenCV (+X right, +Y down,
+Z forward, metres). Pixels: x right, y down, origin at the top-left corner of the
top-left pixel.
"""

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..atomic import write_text_atomically
from ..errors import ShotFormatError

FORMAT_NAME = "neural-face-shot"
FORMAT_VERSION = 1  # major version; readers refuse a larger one
SHOT_FILE = "shot.json"

# canonical pass name -> (number of channels, units), see docs/shot-format.md
CANONICAL_PASSES = {
    "depth": (1, "m"),
    "normal": (3, "unit-vector"),
    "albedo": (3, "reflectance"),
    "mask": (1, "coverage"),
    "regions": (1, "id"),
}
PASS_SPACES = ("camera", "world", "screen", "linear-rgb", "none")
PASS_UNITS = ("m", "unit-vector", "coverage", "id", "reflectance")


@dataclass
class PassInfo:
    """One canonical pass present in every EXR of the shot."""

    channels: list  # channel suffixes inside the layer, e.g. ["Z"], ["X", "Y", "Z"], ["R", "G", "B"]
    space: str  # "camera" | "world" | "screen" | "linear-rgb" | "none": space of the values in the file
    units: str  # "m" | "unit-vector" | "coverage" | "id" | "reflectance"
    source: str  # layer name inside the EXR, e.g. "ViewLayer.Depth"; channel = f"{source}.{channel}"

    def channel_names(self):
        """Full EXR channel names, e.g. ``["ViewLayer.Depth.Z"]``."""
        return [f"{self.source}.{channel}" if self.source else channel for channel in self.channels]


@dataclass
class Transform:
    """Rigid transform ``x_parent = rotation @ x_local + translation``."""

    rotation: np.ndarray  # [3, 3] float64, orthonormal, det +1
    translation: np.ndarray  # [3] float64, metres

    def matrix(self):
        """The 4x4 homogeneous matrix, float64."""
        m = np.eye(4)
        m[:3, :3] = self.rotation
        m[:3, 3] = self.translation
        return m

    @classmethod
    def from_matrix(cls, m):
        """Build from a 4x4 (or 3x4) matrix; no orthonormality check here."""
        m = np.asarray(m, dtype=np.float64)
        return cls(rotation=m[:3, :3].copy(), translation=m[:3, 3].copy())


@dataclass
class FrameRecord:
    """Everything known about one frame."""

    frame: int  # Blender frame number
    coefficients: np.ndarray  # [n_coefficients] float64, order = Shot.coefficient_names
    head_world: Transform  # head object -> world (Blender world axes, metres)
    head_camera: Transform  # head object -> camera (OpenCV camera axes, metres)
    joints: dict  # name ("jaw", "eye.L", "eye.R", "neck") -> [3, 3] rotation relative to rest, bone-local axes
    K: np.ndarray  # [3, 3] intrinsics in pixels of the output image
    world_to_camera: np.ndarray  # [4, 4] world -> camera, OpenCV axes (+X right, +Y down, +Z forward)
    landmarks: np.ndarray = None  # [N, 2] pixel coordinates (x right, y down), N = 468 (MediaPipe), or None


@dataclass
class Shot:
    """A parsed ``shot.json``."""

    fps: float  # frames per second (scene fps / fps_base)
    resolution: tuple  # (width, height) in pixels of the output image
    pixel_aspect: float  # pixel_aspect_x / pixel_aspect_y
    rig_profile: str  # "arkit52" | "flame" | "custom" | ...
    coefficient_names: list  # ordered names of FrameRecord.coefficients
    frames: list  # FrameRecord, strictly increasing frame numbers, no duplicates or gaps
    passes: dict  # canonical name -> PassInfo; {} = coefficient-only shot
    passes_folder: str = "passes"  # relative to the shot folder
    render: dict = field(default_factory=dict)  # free-form facts about how passes were made
    source: dict = field(default_factory=dict)  # free-form provenance (blend file, scene, head object)
    frame_step: int = 1  # difference between consecutive frame numbers

    def frame_numbers(self):
        return [record.frame for record in self.frames]

    def frame(self, number):
        """The FrameRecord of Blender frame ``number``."""
        for record in self.frames:
            if record.frame == number:
                return record
        if not self.frames:
            raise ShotFormatError("the shot has no frames", file=SHOT_FILE, frame=number)
        raise ShotFormatError(f"no such frame (frames {self.frames[0].frame}..{self.frames[-1].frame})",
                              file=SHOT_FILE, frame=number)


def pass_path(folder, frame, passes_folder="passes"):
    """Path of the pass EXR of ``frame``: ``folder/passes/0001.exr`` (Blender's ``####``)."""
    return Path(folder) / passes_folder / f"{int(frame):04d}.exr"


def pass_file_name(frame, passes_folder="passes"):
    """``passes/0012.exr``: the relative name used in messages."""
    return f"{passes_folder}/{int(frame):04d}.exr"


def _array(value):
    return np.asarray(value, dtype=np.float64).tolist()


def _transform_to_dict(transform):
    return {"rotation": _array(transform.rotation), "translation": _array(transform.translation)}


def shot_to_dict(shot):
    """The JSON-ready dict of a Shot (no validation; :func:`write_shot` validates)."""
    frames = []
    for record in shot.frames:
        entry = {
            "frame": int(record.frame),
            "coefficients": _array(record.coefficients),
            "head_world": _transform_to_dict(record.head_world),
            "head_camera": _transform_to_dict(record.head_camera),
            "joints": {str(name): _array(rotation) for name, rotation in record.joints.items()},
            "camera": {"K": _array(record.K), "world_to_camera": _array(record.world_to_camera)},
        }
        if record.landmarks is not None:
            entry["landmarks"] = _array(record.landmarks)
        frames.append(entry)
    return {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "fps": float(shot.fps),
        "resolution": [int(shot.resolution[0]), int(shot.resolution[1])],
        "pixel_aspect": float(shot.pixel_aspect),
        "frame_step": int(shot.frame_step),
        "rig": {"profile": shot.rig_profile, "coefficient_names": list(shot.coefficient_names)},
        "passes_folder": shot.passes_folder,
        "passes": {
            name: {"channels": list(info.channels), "space": info.space, "units": info.units, "source": info.source}
            for name, info in shot.passes.items()
        },
        "render": shot.render,
        "source": shot.source,
        "frames": frames,
    }


def _dumps(value, depth=0):
    """JSON text, objects indented, arrays without objects inside on one line; floats keep
    full float64 precision (``repr``); NaN/inf raise ValueError."""
    if isinstance(value, dict) and value:
        pad = "  " * (depth + 1)
        items = [f"{pad}{json.dumps(str(key), ensure_ascii=False)}: {_dumps(item, depth + 1)}"
                 for key, item in value.items()]
        return "{\n" + ",\n".join(items) + "\n" + "  " * depth + "}"
    if isinstance(value, list) and any(isinstance(item, dict) for item in value):
        pad = "  " * (depth + 1)
        return "[\n" + ",\n".join(pad + _dumps(item, depth + 1) for item in value) + "\n" + "  " * depth + "]"
    return json.dumps(value, allow_nan=False, ensure_ascii=False, separators=(", ", ": "), default=_json_default)


def _json_default(value):
    """numpy scalars/arrays and paths inside the free-form ``render``/``source`` dicts."""
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def write_shot(folder, shot):
    """Validate ``shot`` and write ``folder/shot.json`` atomically (temporary name + rename).

    Creates ``folder`` if needed; does not touch the pass files. Refuses NaN/inf and
    every other malformation :func:`read_shot` would refuse (raises ShotFormatError
    naming the frame and field). Returns the path of shot.json.
    """
    from .validate import parse_shot_dict

    folder = Path(folder)
    path = folder / SHOT_FILE
    data = shot_to_dict(shot)
    parse_shot_dict(data, file=path)  # same checks as reading
    try:
        text = _dumps(data)
    except (TypeError, ValueError) as error:  # render/source hold something JSON cannot store
        raise ShotFormatError(f"cannot be stored as JSON ({error})", file=path, field="render/source") from error
    folder.mkdir(parents=True, exist_ok=True)
    write_text_atomically(path, text + "\n")
    return path


def _nonfinite_constant(name):
    return {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}[name]


def load_shot_json(folder):
    """Parse ``folder/shot.json`` into plain Python data (NaN/Infinity tokens are kept,
    so the validator can name the field that holds them)."""
    path = Path(folder) / SHOT_FILE
    if not Path(folder).is_dir():
        raise ShotFormatError("shot folder not found", file=folder)
    if not path.is_file():
        raise ShotFormatError("file not found", file=path)
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle, parse_constant=_nonfinite_constant)
    except json.JSONDecodeError as error:
        raise ShotFormatError(f"not valid JSON: {error.msg} at line {error.lineno} column {error.colno}",
                              file=path) from error
    except (UnicodeDecodeError, OSError) as error:
        raise ShotFormatError(f"cannot be read ({error})", file=path) from error


def read_shot(folder, *, check_passes=True):
    """Read and validate a shot folder; returns a :class:`Shot`.

    ``check_passes``: also check that every frame's pass EXR exists, has the shot's
    resolution and holds the channels listed in ``passes`` (headers only, fast).
    Raises ShotFormatError naming the file, frame and field of the first problem.
    """
    from .validate import check_pass_files, parse_shot_dict

    shot = parse_shot_dict(load_shot_json(folder), file=Path(folder) / SHOT_FILE)
    if check_passes:
        check_pass_files(folder, shot, read_pixels=False)
    return shot


def validate_shot(folder):
    """Every check: :func:`read_shot` plus decoding every pass channel of every frame
    (catches truncated files and NaN values). Returns the :class:`Shot`."""
    from .validate import check_pass_files

    shot = read_shot(folder, check_passes=False)
    check_pass_files(folder, shot, read_pixels=True)
    return shot
