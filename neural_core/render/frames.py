"""Frame selections as users type them: ``1-48``, ``12``, ``1,5,10-12``."""

from ..errors import NeuralFaceError


def parse_frame_spec(spec, available):
    """Frame numbers of ``available`` (sorted ints) selected by ``spec`` (None = all).

    Ranges are inclusive, like Blender's frame range. A selection that names frames the
    shot does not have is an error that lists what the shot has.
    """
    available = list(available)
    if spec is None or str(spec).strip() in ("", "all"):
        return available
    wanted = []
    for part in str(spec).split(","):
        part = part.strip()
        try:
            if "-" in part[1:]:
                cut = part.index("-", 1)
                first, last = int(part[:cut]), int(part[cut + 1 :])
                if last < first:
                    raise NeuralFaceError(f"--frames: range {part!r} ends before it starts")
                wanted.extend(range(first, last + 1))
            else:
                wanted.append(int(part))
        except ValueError:
            raise NeuralFaceError(f"--frames: cannot read {part!r} (use e.g. 1-48 or 1,5,10-12)") from None
    present = set(available)
    missing = sorted(set(wanted) - present)
    if missing:
        shown = ", ".join(str(f) for f in missing[:5]) + (" ..." if len(missing) > 5 else "")
        span = f"{available[0]}-{available[-1]}" if available else "none"
        raise NeuralFaceError(f"--frames: the shot has no frame {shown} (it has frames {span})")
    return sorted(set(wanted))
