"""Shot-folder format v1: the data model (see docs/shot-format.md).

Reading and writing folders is :mod:`.folder`; every check is :mod:`.validate`.

A shot folder holds ``shot.json`` and ``passes/####.exr`` (one
multilayer OpenEXR per frame, see :mod:`.exr` and :mod:`.passes`). Pure Python + numpy.

Axes: world = Blender world (+Z up, metres). Camera = OpenCV (+X right, +Y down,
+Z forward, metres). Pixels: x right, y down, origin at the top-left corner of the
top-left pixel.
"""

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

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
