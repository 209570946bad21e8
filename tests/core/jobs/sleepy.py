"""A protocol job for tests: `python tests/core/jobs/sleepy.py OUT [options]`.

Per frame: writes OUT/started-NNNN, then OUT/NNNN.txt in two halves under a temporary
name with a sleep between them, then renames it (the way real frames are written).
"""

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from neural_core.contract.errors import ShotFormatError  # noqa: E402
from neural_core.contract.protocol import make_reporter, run_frames  # noqa: E402


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("out", type=Path)
    parser.add_argument("--frames", type=int, default=3)
    parser.add_argument("--first", type=int, default=1)
    parser.add_argument("--sleep", type=float, default=0.05, help="seconds per frame")
    parser.add_argument("--crash-at", type=int, help="raise RuntimeError in this frame (exit 1)")
    parser.add_argument("--bad-at", type=int, help="raise ShotFormatError in this frame (exit 2)")
    parser.add_argument("--bad-before-start", action="store_true", help="fail while listing frames (exit 2)")
    parser.add_argument("--skip", type=int, action="append", default=[], help="frames to skip")
    parser.add_argument("--noise", action="store_true", help="print to stdout from Python and from fd 1")
    parser.add_argument("--json", action=argparse.BooleanOptionalAction, default=None)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    def frames():
        if args.bad_before_start:
            raise ShotFormatError("expected a 3x3 matrix, got 3x4", file="shot.json", frame=7, field="camera.K")
        return range(args.first, args.first + args.frames)

    def process(frame):
        if args.noise:
            print(f"noise from print in frame {frame}")
            os.write(1, b"noise from fd 1\n")
        if frame in args.skip:
            return None
        (args.out / f"started-{frame:04d}").touch()
        if frame == args.crash_at:
            raise RuntimeError(f"boom in frame {frame}")
        if frame == args.bad_at:
            raise ShotFormatError("pass file missing", file=f"passes/{frame:04d}.exr", frame=frame, field="passes")
        final = args.out / f"{frame:04d}.txt"
        temporary = final.with_suffix(".tmp")
        with open(temporary, "w") as handle:
            handle.write(f"frame {frame} first half\n")
            handle.flush()
            time.sleep(args.sleep)
            handle.write(f"frame {frame} second half\n")
        os.replace(temporary, final)
        return final

    return run_frames("sleepy", frames, process, reporter=make_reporter(args.json), start_fields={"out": args.out})


if __name__ == "__main__":
    sys.exit(main())
