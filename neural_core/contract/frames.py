"""Frame numbers as users type them, and the file names frames are written under.

Both halves use these: the worker (``python -m neural_core render --frames 1-48 --name
neural_####``) and the add-on, which passes the name pattern with the job and so knows
every output path before the worker writes it.
"""

import re
from bisect import bisect_left, bisect_right

from .errors import NeuralFaceError

DEFAULT_NAME = "neural_####"  # output file pattern; the last run of '#' is the padded frame number
EXTENSIONS = {"png": ".png", "exr": ".exr"}  # output format -> file extension
_SHOWN = 5  # missing frame numbers listed in an error


def frame_file_name(pattern, frame, extension):
    """Blender's ``#`` padding: ``neural_####`` + frame 7 -> ``neural_0007`` + extension.

    The last run of ``#`` is replaced; without one, four digits are appended.
    """
    runs = list(re.finditer(r"#+", pattern))
    if not runs:
        return f"{pattern}{frame:04d}{extension}"
    run = runs[-1]
    return f"{pattern[:run.start()]}{frame:0{len(run.group())}d}{pattern[run.end():]}{extension}"


def output_file_name(frame, file_format="png", pattern=DEFAULT_NAME):
    """The worker's output file name for ``frame``: ``neural_0001.png``."""
    if file_format not in EXTENSIONS:
        raise NeuralFaceError(f"unknown output format {file_format!r} (use one of {sorted(EXTENSIONS)})")
    return frame_file_name(pattern, int(frame), EXTENSIONS[file_format])


def parse_ranges(spec):
    """``"1-48,60"`` -> ``[(1, 48), (60, 60)]`` (inclusive, like Blender's frame range).

    Never expands a range, so ``1-1000000000`` costs no more than ``1-2``.
    """
    ranges = []
    for part in str(spec).split(","):
        part = part.strip()
        try:
            if "-" in part[1:]:
                cut = part.index("-", 1)
                first, last = int(part[:cut]), int(part[cut + 1 :])
                if last < first:
                    raise NeuralFaceError(f"--frames: range {part!r} ends before it starts")
            else:
                first = last = int(part)
        except ValueError:
            raise NeuralFaceError(f"--frames: cannot read {part!r} (use e.g. 1-48 or 1,5,10-12)") from None
        ranges.append((first, last))
    return ranges


def _missing_in(first, last, present, limit):
    """Up to ``limit`` numbers of ``first..last`` not in ``present`` (a sorted list)."""
    missing = []
    number = first
    index = bisect_left(present, first)
    while number <= last and len(missing) < limit:
        if index < len(present) and present[index] == number:
            index += 1
            number += 1
        elif index < len(present) and present[index] <= last:
            missing.extend(range(number, min(present[index], number + limit - len(missing))))
            number = present[index]
        else:
            missing.extend(range(number, min(last + 1, number + limit - len(missing))))
            break
    return missing


def parse_frame_spec(spec, available):
    """Frame numbers of ``available`` (ints) selected by ``spec`` (None or "all" = all).

    A selection that names frames the shot does not have is an error that lists (some of)
    them and what the shot has. Time and memory grow with the shot, never with the numbers
    typed: ranges are checked by counting, not by listing them.
    """
    present = sorted(set(int(f) for f in available))
    if spec is None or str(spec).strip() in ("", "all"):
        return present
    selected = set()
    missing, absent = [], 0
    for first, last in parse_ranges(spec):
        low, high = bisect_left(present, first), bisect_right(present, last)
        gap = (last - first + 1) - (high - low)  # numbers of the range the shot lacks
        if gap:
            absent += gap
            missing.extend(_missing_in(first, last, present, _SHOWN - len(missing)))
        selected.update(present[low:high])
    if absent:
        shown = ", ".join(str(f) for f in missing) + (" ..." if absent > len(missing) else "")
        span = f"{present[0]}-{present[-1]}" if present else "none"
        raise NeuralFaceError(f"--frames: the shot has no frame {shown} (it has frames {span})")
    return sorted(selected)
