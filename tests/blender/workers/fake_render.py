"""A stand-in for ``python -m neural_core render`` that speaks the real protocol.

Invoked through a wrapper as ``<python> -m neural_core render SHOT --json --out DIR
--frames A-B --format png ...`` (the exact command line the add-on builds). It writes
one RGBA PNG per frame (``neural_####.png``, atomically) whose colour encodes the frame
number, through ``neural_core.contract.protocol.run_frames`` so events, exit codes and SIGINT /
SIGTERM cancel are the protocol's own. ``FAKE_WORKER_MODE`` picks a behaviour:

  ok            render every frame (``FAKE_WORKER_SLEEP`` seconds each, default 0)
  bad-input     frame 2 raises ShotFormatError -> exit 2 with an `error` event
  crash         frame 2 raises RuntimeError -> exit 1, traceback on stderr
  stubborn      ignores SIGINT and SIGTERM and sleeps without output (needs SIGKILL)
  noise         like ok, but writes non-JSON lines between the events
"""

import argparse
import json
import os
import signal
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

from neural_core.contract.errors import ShotFormatError
from neural_core.contract.frames import DEFAULT_NAME, output_file_name
from neural_core.contract.protocol import JsonLinesReporter, run_frames

SIZE = 16  # pixels, square


def frame_rgba(frame):
    """[SIZE, SIZE, 4] uint8: colour from the frame number, opaque square in the middle,
    transparent border (alpha-over tests see both)."""
    image = np.zeros((SIZE, SIZE, 4), np.uint8)
    image[..., 0] = (frame * 40) % 256
    image[..., 1] = 255 - (frame * 40) % 256
    image[..., 2] = 64
    image[4:12, 4:12, 3] = 255
    return image


def parse(argv):
    if argv[:3] != ["-m", "neural_core", "render"]:
        raise SystemExit(f"fake worker: unexpected command line {argv!r}")
    parser = argparse.ArgumentParser()
    parser.add_argument("shot")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--out", required=True)
    parser.add_argument("--frames", required=True)
    parser.add_argument("--format", default="png")
    parser.add_argument("--model", default="default")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--appearance", type=int, default=0)
    parser.add_argument("--depth", type=int, default=8)
    parser.add_argument("--smoothing", type=float, default=0.0)
    parser.add_argument("--force", action="store_true")
    parser.add_argument("--name", default=DEFAULT_NAME)
    return parser.parse_args(argv[3:])


def main(argv):
    args = parse(argv)
    mode = os.environ.get("FAKE_WORKER_MODE", "ok")
    delay = float(os.environ.get("FAKE_WORKER_SLEEP", "0"))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "argv.json").write_text(json.dumps(argv))
    if mode == "stubborn":
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        while True:
            time.sleep(1)
    first, last = (int(x) for x in args.frames.split("-"))
    reporter = JsonLinesReporter.claim_stdout()

    def render_one(frame):
        if mode == "noise":
            reporter.stream.write("some library chatter that is not JSON\n{truncated\n")
        if frame == first + 1 and mode == "bad-input":
            raise ShotFormatError("coefficient is NaN", file=Path(args.shot) / "shot.json", frame=frame, field="coefficients")
        if frame == first + 1 and mode == "crash":
            raise RuntimeError("fake worker crashed")
        time.sleep(delay)
        path = out / output_file_name(frame, "png", args.name)
        temporary = path.with_name(path.name + ".tmp")
        Image.fromarray(frame_rgba(frame), "RGBA").save(temporary, format="PNG")
        os.replace(temporary, path)
        return str(path)

    try:
        return run_frames("render", range(first, last + 1), render_one, reporter=reporter)
    finally:
        reporter.close()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
