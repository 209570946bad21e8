"""Frame numbers as users type them, and the file names frames are written under.

Both halves use these: the worker (``python -m neural_core render --frames 1-48 --name
neural_####``) and the add-on, which passes the name pattern with the job and so knows
every output path before the worker writes it.
"""

import re
from bisect import bisect_left, bisect_right

from .errors import NeuralFaceError

COLOUR_REFERENCE_COUNT = 5  # frames the colour stabiliser takes its reference from (colour_reference_frames)
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
    """Up to ``limit`` numbers of ``first..last`` not in ``present`` (a sorted list), in order.

    Walks ``present`` between the gaps, so the cost grows with ``present`` and ``limit``,
    never with ``last - first``.
    """
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


def _merged(intervals):
    """Sorted, non-overlapping union of inclusive ``(first, last)`` intervals."""
    merged = []
    for first, last in sorted(intervals):
        if merged and first <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(merged[-1][1], last))
        else:
            merged.append((first, last))
    return merged


def parse_frame_spec(spec, available, step=1):
    """Frame numbers of ``available`` (ints) selected by ``spec`` (None or "all" = all).

    ``step``: the shot's ``frame_step``. Like Blender's frame range with a step, a range
    ``A-B`` selects the shot's frames between A and B; only numbers on the shot's step
    (first frame + k * step) that the shot lacks count as missing, so ``1-48`` on a shot of
    frames 1, 3, ..., 47 selects all of them. A single number must be one of the shot's frames.

    A selection that names frames the shot does not have is an error that lists the first
    few of them (with "..." when there are more) and what the shot has. Time and memory
    grow with the shot and the length of ``spec``, never with the numbers typed: ranges are
    checked by counting, not by listing them.
    """
    present = sorted(set(int(f) for f in available))
    if spec is None or str(spec).strip() in ("", "all"):
        return present
    ranges = parse_ranges(spec)
    step = max(1, int(step))
    origin = present[0] if present else 0
    if any((f - origin) % step for f in present):
        step = 1  # frames not on one grid: every number between them counts
    # ranges in grid units: frame origin + k * step is k (exact floor/ceil on ints)
    indices = [(f - origin) // step for f in present]
    spans = _merged((-((origin - first) // step), (last - origin) // step)
                    for first, last in ranges if first < last)
    spans = [(low, high) for low, high in spans if low <= high]
    selected, missing, absent = set(), [], 0
    for low, high in spans:
        start, stop = bisect_left(indices, low), bisect_right(indices, high)
        selected.update(present[start:stop])
        gap = (high - low + 1) - (stop - start)  # numbers on the grid the shot lacks
        if gap:
            absent += gap
            missing.extend(origin + k * step for k in _missing_in(low, high, indices, _SHOWN))
    for number in sorted({first for first, last in ranges if first == last}):
        position = bisect_left(present, number)
        if position < len(present) and present[position] == number:
            selected.add(number)
        elif not ((number - origin) % step == 0 and _inside(spans, (number - origin) // step)):
            absent += 1  # not already counted as a gap of a range
            missing.append(number)
    span = "none" if not present else f"{present[0]}-{present[-1]}" + (f" in steps of {step}" if step > 1 else "")
    if absent:
        missing = sorted(set(missing))[:_SHOWN]
        shown = ", ".join(str(f) for f in missing) + (" ..." if absent > len(missing) else "")
        raise NeuralFaceError(f"--frames: the shot has no frame {shown} (it has frames {span})")
    if not selected:
        raise NeuralFaceError(f"--frames: {str(spec).strip()!r} selects none of the shot's frames "
                              f"(it has frames {span})")
    return sorted(selected)


def _inside(spans, index):
    """Whether ``index`` lies in one of the sorted, disjoint inclusive ``spans``."""
    position = bisect_right(spans, (index, float("inf"))) - 1
    return position >= 0 and spans[position][0] <= index <= spans[position][1]


def colour_reference_frames(frame_numbers, count=COLOUR_REFERENCE_COUNT):
    """Up to ``count`` of ``frame_numbers`` (the whole shot's, in order), evenly spread: the
    frames ``render --stabilise-colour`` takes its reference colour from. The worker renders
    them; a farm's prepare step exports their passes first (docs/farm.md), so both halves
    pick them here."""
    frames = list(frame_numbers)
    if not frames:
        return []
    count = min(count, len(frames))
    if count == 1:
        return [frames[0]]
    picks = sorted({round(i * (len(frames) - 1) / (count - 1)) for i in range(count)})
    return [frames[i] for i in picks]
