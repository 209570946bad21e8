"""Validation of shot folders: ``shot.json`` contents and the pass EXR files.

Every problem raises :class:`ShotFormatError` naming the file, the frame (when the
problem is inside a frame) and the field (a dotted path such as ``camera.K``).
"""

import math
from itertools import chain
from pathlib import PurePosixPath

import numpy as np

from ..errors import ShotFormatError
from .model import (
    CANONICAL_PASSES,
    FORMAT_NAME,
    FORMAT_VERSION,
    PASS_SPACES,
    PASS_UNITS,
    FrameRecord,
    PassInfo,
    Shot,
    Transform,
    pass_path,
)

ROTATION_TOLERANCE = 1e-4  # max |R^T R - I| and |det R - 1| accepted for a rotation
CONSISTENCY_TOLERANCE = 1e-4  # head_camera vs world_to_camera @ head_world, metres (relative above 1 m)
MISSING = object()


class _Where:
    """The file and frame that error messages name."""

    def __init__(self, file, frame=None):
        self.file = file
        self.frame = frame

    def error(self, message, field):
        return ShotFormatError(message, file=self.file, frame=self.frame, field=field)


def _kind(value):
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _get(mapping, key, where, field, default=MISSING):
    if not isinstance(mapping, dict):
        raise where.error(f"expected an object, got {_kind(mapping)}", field.rpartition(".")[0] or field)
    if key not in mapping:
        if default is not MISSING:
            return default
        raise where.error("missing", field)
    return mapping[key]


def _number(value, where, field, *, positive=False):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise where.error(f"expected a number, got {_kind(value)}", field)
    if not math.isfinite(value):
        raise where.error(f"expected a finite number, got {value}", field)
    if positive and value <= 0:
        raise where.error(f"expected a positive number, got {value}", field)
    return float(value)


def _integer(value, where, field, *, minimum=None):
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        else:
            raise where.error(f"expected an integer, got {_kind(value)} {value!r}", field)
    if minimum is not None and value < minimum:
        raise where.error(f"expected an integer >= {minimum}, got {value}", field)
    return value


def _string(value, where, field):
    if not isinstance(value, str) or not value:
        raise where.error(f"expected a non-empty string, got {_kind(value)}", field)
    return value


def _describe(shape):
    """'a 3x3 matrix', 'an Nx2 matrix', 'a list of 3 numbers', 'a list of numbers'."""
    if len(shape) == 1:
        return "a list of numbers" if shape[0] is None else f"a list of {shape[0]} numbers"
    text = "x".join("N" if n is None else str(n) for n in shape)
    return f"{'an' if text[0] in 'N8' else 'a'} {text} matrix"


def _got(array):
    if array.ndim == 0:
        return "a single number"
    if array.ndim == 1:
        return f"a list of {array.shape[0]}"
    return "x".join(str(n) for n in array.shape)


def _matrix(value, shape, where, field, names=()):
    """A finite float64 array of exactly ``shape`` (None = any length); ``names``: what
    the entries of a list are called (a non-finite one is named in the error)."""
    expected = _describe(shape)
    try:
        array = np.array(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise where.error(f"expected {expected}, got a ragged or non-numeric value", field) from None
    if isinstance(value, (bool, str)) or _has_bool(value):
        raise where.error(f"expected {expected}, got booleans or strings", field)
    if array.ndim != len(shape) or any(n is not None and n != m for n, m in zip(shape, array.shape)):
        raise where.error(f"expected {expected}, got {_got(array)}", field)
    if not np.all(np.isfinite(array)):
        bad = tuple(int(i) for i in np.argwhere(~np.isfinite(array))[0])
        named = f" ({names[bad[0]]!r})" if array.ndim == 1 and bad[0] < len(names) else ""
        raise where.error(f"contains a non-finite value ({array[bad]}) at index {list(bad)}{named}", field)
    return array


def _has_bool(value):
    """Whether a nested list holds a JSON boolean (numpy would read it as 0/1).

    Walks one nesting level at a time with C-level loops (chain, map(type)): a frame's
    468 landmark pairs take ~0.1 ms instead of ~3 ms element by element.
    """
    level = [value]
    while level:
        types = set(map(type, level))
        if bool in types:
            return True
        if list not in types:
            return False
        level = list(chain.from_iterable(item for item in level if type(item) is list))
    return False


def _rotation(value, where, field):
    rotation = _matrix(value, (3, 3), where, field)
    orthogonality = np.abs(rotation.T @ rotation - np.eye(3)).max()
    determinant = np.linalg.det(rotation)
    if orthogonality > ROTATION_TOLERANCE or abs(determinant - 1.0) > ROTATION_TOLERANCE:
        raise where.error(
            f"expected a rotation matrix (orthonormal, det +1; no scale or mirroring), "
            f"got |R^T R - I| = {orthogonality:.2g}, det = {determinant:.6g}", field)
    return rotation


def _transform(value, where, field):
    _get(value, "rotation", where, f"{field}.rotation")
    return Transform(
        rotation=_rotation(value["rotation"], where, f"{field}.rotation"),
        translation=_matrix(_get(value, "translation", where, f"{field}.translation"), (3,), where,
                            f"{field}.translation"),
    )


def _check_version(data, where):
    name = _get(data, "format", where, "format")
    if name != FORMAT_NAME:
        raise where.error(f"expected \"{FORMAT_NAME}\", got {name!r}: this is not a Neural Face shot", "format")
    version = _get(data, "version", where, "version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise where.error(f"expected a positive integer format version, got {version!r}", "version")
    if version > FORMAT_VERSION:
        raise where.error(
            f"format version {version} is newer than this reader supports ({FORMAT_VERSION}); "
            f"update Neural Face to read this shot", "version")


def _parse_passes(data, where):
    folder = _string(_get(data, "passes_folder", where, "passes_folder", "passes"), where, "passes_folder")
    relative = PurePosixPath(folder)
    if relative.is_absolute() or ".." in relative.parts or "\\" in folder or ":" in folder:
        raise where.error(f"expected a folder inside the shot folder, got {folder!r}", "passes_folder")
    raw = _get(data, "passes", where, "passes", {})
    if not isinstance(raw, dict):
        raise where.error(f"expected an object (canonical name -> pass), got {_kind(raw)}", "passes")
    passes = {}
    for name, entry in raw.items():
        base = f"passes.{name}"
        channels = _get(entry, "channels", where, f"{base}.channels")
        if not isinstance(channels, list) or not channels or not all(isinstance(c, str) and c for c in channels):
            raise where.error("expected a non-empty list of channel names", f"{base}.channels")
        if len(set(channels)) != len(channels):
            raise where.error(f"duplicate channel names in {channels}", f"{base}.channels")
        space = _get(entry, "space", where, f"{base}.space")
        if space not in PASS_SPACES:
            raise where.error(f"expected one of {', '.join(PASS_SPACES)}, got {space!r}", f"{base}.space")
        units = _get(entry, "units", where, f"{base}.units")
        if units not in PASS_UNITS:
            raise where.error(f"expected one of {', '.join(PASS_UNITS)}, got {units!r}", f"{base}.units")
        source = _get(entry, "source", where, f"{base}.source")
        if not isinstance(source, str):
            raise where.error(f"expected a string (EXR layer name), got {_kind(source)}", f"{base}.source")
        if name in CANONICAL_PASSES:
            count, expected_units = CANONICAL_PASSES[name]
            if len(channels) != count:
                raise where.error(f"pass '{name}' has {count} channel(s), got {len(channels)}", f"{base}.channels")
            if units != expected_units:
                raise where.error(f"pass '{name}' is in units '{expected_units}', got {units!r}", f"{base}.units")
        passes[name] = PassInfo(channels=list(channels), space=space, units=units, source=source)
    return folder, passes


def _parse_frame(entry, index, coefficient_names, file):
    where = _Where(file)
    if not isinstance(entry, dict):
        raise where.error(f"expected an object, got {_kind(entry)}", f"frames[{index}]")
    where.frame = _integer(_get(entry, "frame", where, f"frames[{index}].frame"), where, f"frames[{index}].frame")
    coefficients = _matrix(_get(entry, "coefficients", where, "coefficients"), (None,), where, "coefficients",
                           names=coefficient_names)
    if len(coefficients) != len(coefficient_names):
        raise where.error(f"expected {len(coefficient_names)} values (one per rig.coefficient_names), "
                          f"got {len(coefficients)}", "coefficients")
    joints_raw = _get(entry, "joints", where, "joints", {})
    if not isinstance(joints_raw, dict):
        raise where.error(f"expected an object (joint name -> 3x3 rotation), got {_kind(joints_raw)}", "joints")
    joints = {name: _rotation(value, where, f"joints.{name}") for name, value in joints_raw.items()}
    camera = _get(entry, "camera", where, "camera")
    K = _matrix(_get(camera, "K", where, "camera.K"), (3, 3), where, "camera.K")
    if K[0, 0] <= 0 or K[1, 1] <= 0 or np.abs(K[2] - [0.0, 0.0, 1.0]).max() > 1e-9 or K[1, 0] != 0:
        raise where.error("expected [[fx, s, cx], [0, fy, cy], [0, 0, 1]] with fx, fy > 0", "camera.K")
    world_to_camera = _matrix(_get(camera, "world_to_camera", where, "camera.world_to_camera"), (4, 4), where,
                              "camera.world_to_camera")
    if np.abs(world_to_camera[3] - [0.0, 0.0, 0.0, 1.0]).max() > 1e-9:
        raise where.error("expected a last row of [0, 0, 0, 1]", "camera.world_to_camera")
    _rotation(world_to_camera[:3, :3].tolist(), where, "camera.world_to_camera")
    head_world = _transform(_get(entry, "head_world", where, "head_world"), where, "head_world")
    head_camera = _transform(_get(entry, "head_camera", where, "head_camera"), where, "head_camera")
    expected = world_to_camera @ head_world.matrix()
    scale = max(1.0, float(np.abs(expected[:3, 3]).max()))
    if (np.abs(expected[:3, :3] - head_camera.rotation).max() > CONSISTENCY_TOLERANCE
            or np.abs(expected[:3, 3] - head_camera.translation).max() > CONSISTENCY_TOLERANCE * scale):
        raise where.error("is not camera.world_to_camera @ head_world (check the axes conventions)",
                          "head_camera")
    landmarks = _get(entry, "landmarks", where, "landmarks", None)
    if landmarks is not None:
        landmarks = _matrix(landmarks, (None, 2), where, "landmarks")
        if len(landmarks) == 0:
            raise where.error("expected at least one landmark (or leave the field out)", "landmarks")
    return FrameRecord(frame=where.frame, coefficients=coefficients, head_world=head_world, head_camera=head_camera,
                       joints=joints, K=K, world_to_camera=world_to_camera, landmarks=landmarks)


def parse_shot_dict(data, file="shot.json"):
    """Validate the parsed JSON of a shot.json and build the :class:`Shot`.

    ``file``: the name used in error messages. Unknown keys are ignored (a later
    minor addition); missing or malformed ones raise ShotFormatError.
    """
    where = _Where(str(file))
    if not isinstance(data, dict):
        raise where.error(f"expected a JSON object at the top level, got {_kind(data)}", "(top level)")
    _check_version(data, where)
    fps = _number(_get(data, "fps", where, "fps"), where, "fps", positive=True)
    resolution = _get(data, "resolution", where, "resolution")
    if (not isinstance(resolution, list) or len(resolution) != 2
            or any(isinstance(n, bool) or not isinstance(n, int) or n <= 0 for n in resolution)):
        raise where.error(f"expected [width, height] in pixels (positive integers), got {resolution!r}", "resolution")
    pixel_aspect = _number(_get(data, "pixel_aspect", where, "pixel_aspect", 1.0), where, "pixel_aspect",
                           positive=True)
    frame_step = _integer(_get(data, "frame_step", where, "frame_step", 1), where, "frame_step", minimum=1)
    rig = _get(data, "rig", where, "rig")
    profile = _string(_get(rig, "profile", where, "rig.profile"), where, "rig.profile")
    names = _get(rig, "coefficient_names", where, "rig.coefficient_names")
    if not isinstance(names, list) or not all(isinstance(n, str) and n for n in names):
        raise where.error("expected a list of non-empty strings", "rig.coefficient_names")
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise where.error(f"duplicate names {duplicates}", "rig.coefficient_names")
    passes_folder, passes = _parse_passes(data, where)
    render = _get(data, "render", where, "render", {})
    source = _get(data, "source", where, "source", {})
    for key, value in (("render", render), ("source", source)):
        if not isinstance(value, dict):
            raise where.error(f"expected an object, got {_kind(value)}", key)
    raw_frames = _get(data, "frames", where, "frames")
    if not isinstance(raw_frames, list) or not raw_frames:
        raise where.error("expected a non-empty list of frames", "frames")
    frames = [_parse_frame(entry, index, names, where.file) for index, entry in enumerate(raw_frames)]
    _check_frame_numbers(frames, frame_step, where)
    _check_landmark_counts(frames, where)
    return Shot(fps=fps, resolution=(resolution[0], resolution[1]), pixel_aspect=pixel_aspect, rig_profile=profile,
                coefficient_names=list(names), frames=frames, passes=passes, passes_folder=passes_folder,
                render=render, source=source, frame_step=frame_step)


def _check_frame_numbers(frames, step, where):
    seen = set()
    for previous, record in zip([None] + frames[:-1], frames):
        where.frame = record.frame
        if record.frame in seen:
            raise where.error("appears more than once in the frame list", "frame")
        seen.add(record.frame)
        if previous is None:
            continue
        if record.frame < previous.frame:
            raise where.error(f"frames must be in increasing order, frame {record.frame} comes after "
                              f"frame {previous.frame}", "frame")
        if record.frame != previous.frame + step:
            missing = previous.frame + step
            raise where.error(f"frame {missing} is missing: frames must follow frame {previous.frame} "
                              f"in steps of frame_step={step}", "frame")
    where.frame = None


def _check_landmark_counts(frames, where):
    counts = {len(r.landmarks) for r in frames if r.landmarks is not None}
    if len(counts) > 1:
        first = next(r for r in frames if r.landmarks is not None)
        for record in frames:
            if record.landmarks is not None and len(record.landmarks) != len(first.landmarks):
                where.frame = record.frame
                raise where.error(f"has {len(record.landmarks)} points, frame {first.frame} has "
                                  f"{len(first.landmarks)}", "landmarks")


def check_pass_files(folder, shot, *, read_pixels=False, frames=None):
    """Check the pass EXR of every frame, or of the frame numbers ``frames``, against
    ``shot`` (see :func:`check_pass_file`). A coefficient-only shot (``passes == {}``)
    needs no files."""
    for frame in (record.frame for record in shot.frames) if frames is None else frames:
        check_pass_file(folder, shot, frame, read_pixels=read_pixels)


def check_pass_file(folder, shot, frame, *, read_pixels=False):
    """Check the pass EXR of one frame; returns its path (None when the shot has no passes).

    Always (headers only): the file exists, its size is ``shot.resolution`` and it holds
    every channel named by ``shot.passes``. With ``read_pixels``: the channels also
    decode and hold no NaN (``depth`` may hold +inf or Cycles' 1e10 background).
    """
    from .exr import exr_channel_names, exr_size, read_exr_channels

    if not shot.passes:
        return None
    width, height = shot.resolution
    path = pass_path(folder, frame, shot.passes_folder)
    if not path.is_file():
        raise ShotFormatError("pass file missing", file=path, frame=frame, field="passes")
    try:
        size = exr_size(path)
        present = set(exr_channel_names(path))
    except ShotFormatError as error:
        raise ShotFormatError(error.reason, file=path, frame=frame, field="passes") from error
    if size != (width, height):
        raise ShotFormatError(f"image is {size[0]}x{size[1]}, shot.json says {width}x{height}",
                              file=path, frame=frame, field="passes")
    for name, info in shot.passes.items():
        absent = [c for c in info.channel_names() if c not in present]
        if absent:
            raise ShotFormatError(f"channel(s) {absent} missing from the EXR (it has {sorted(present)})",
                                  file=path, frame=frame, field=f"passes.{name}.source")
    if read_pixels:
        try:
            pixels = read_exr_channels(path)
        except ShotFormatError as error:
            raise ShotFormatError(error.reason, file=path, frame=frame, field="passes") from error
        for name, info in shot.passes.items():
            for channel in info.channel_names():
                if np.isnan(pixels[channel]).any():
                    raise ShotFormatError(f"channel '{channel}' contains NaN", file=path, frame=frame,
                                          field=f"passes.{name}")
    return path
