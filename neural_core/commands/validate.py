"""``python -m neural_core validate SHOT``: check a shot folder, print a summary or the error.

Exit codes: 0 valid, 2 invalid (the message names the file, frame and field), 3
cancelled, 1 internal error. With ``--json`` the run speaks the worker protocol (one
``frame`` event per checked frame) and the summary is the ``start`` event's ``shot``.
"""

import sys
from pathlib import Path

from ..contract.protocol import HumanReporter, JsonLinesReporter, run_frames
from ..contract.shot import FORMAT_NAME, FORMAT_VERSION, read_shot
from ..contract.shot.validate import check_pass_file

HELP = "check a shot folder (shot.json and every pass EXR); exit 0 if valid, 2 if not"


def add_arguments(parser):
    parser.add_argument("shot", type=Path, help="shot folder (holds shot.json)")
    parser.add_argument("--quick", action="store_true",
                        help="read only EXR headers (size, channels), not the pixels")
    parser.add_argument("--json", action="store_true", help="JSON-lines protocol on stdout")


def summary(shot):
    """Plain facts about a shot, JSON-ready."""
    numbers = shot.frame_numbers()
    landmarks = sum(record.landmarks is not None for record in shot.frames)
    return {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "frames": len(numbers),
        "first_frame": numbers[0],
        "last_frame": numbers[-1],
        "frame_step": shot.frame_step,
        "fps": shot.fps,
        "resolution": list(shot.resolution),
        "pixel_aspect": shot.pixel_aspect,
        "rig_profile": shot.rig_profile,
        "coefficients": len(shot.coefficient_names),
        "passes": sorted(shot.passes),
        "frames_with_landmarks": landmarks,
    }


def summary_text(folder, facts):
    passes = ", ".join(facts["passes"]) or "none (coefficient-only shot)"
    step = f" step {facts['frame_step']}" if facts["frame_step"] != 1 else ""
    return (f"{folder}: valid {facts['format']} v{facts['version']}\n"
            f"  frames      {facts['frames']} ({facts['first_frame']}..{facts['last_frame']}{step})"
            f" at {facts['fps']:g} fps\n"
            f"  resolution  {facts['resolution'][0]}x{facts['resolution'][1]}, pixel aspect {facts['pixel_aspect']:g}\n"
            f"  rig         {facts['rig_profile']}, {facts['coefficients']} coefficients\n"
            f"  passes      {passes}\n"
            f"  landmarks   on {facts['frames_with_landmarks']} frame(s)")


def run(args):
    reporter = JsonLinesReporter() if args.json else HumanReporter(sys.stderr)
    state = {}

    def frames():
        state["shot"] = shot = read_shot(args.shot, check_passes=False)
        state["summary"] = summary(shot)
        return shot.frame_numbers()

    def check(frame):
        path = check_pass_file(args.shot, state["shot"], frame, read_pixels=not args.quick)
        return path if path is not None else str(args.shot / "shot.json")

    code = run_frames("validate", frames, check, reporter=_WithSummary(reporter, state))
    if not args.json and code == 0:
        print(summary_text(args.shot, state["summary"]))
    return code


class _WithSummary:
    """Adds the shot summary to the ``start`` event."""

    def __init__(self, reporter, state):
        self._reporter = reporter
        self._state = state

    def start(self, command, total, frames=(), **extra):
        self._reporter.start(command, total, frames, shot=self._state.get("summary"), **extra)

    def __getattr__(self, name):
        return getattr(self._reporter, name)
