"""Shot folders on disk: write and read ``shot.json``, validate the pass files.

:mod:`.model` holds the data model, :mod:`.validate` every check; this module is the
only one that touches the folder (see docs/shot-format.md).
"""

import json
import math
import os
from pathlib import Path

from ..atomic import write_text_atomically
from ..errors import ShotFormatError
from .model import SHOT_FILE, shot_to_dict
from .validate import check_pass_files, parse_shot_dict


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

    shot = parse_shot_dict(load_shot_json(folder), file=Path(folder) / SHOT_FILE)
    if check_passes:
        check_pass_files(folder, shot, read_pixels=False)
    return shot


def validate_shot(folder):
    """Every check: :func:`read_shot` plus decoding every pass channel of every frame
    (catches truncated files and NaN values). Returns the :class:`Shot`."""

    shot = read_shot(folder, check_passes=False)
    check_pass_files(folder, shot, read_pixels=True)
    return shot
