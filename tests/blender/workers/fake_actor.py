"""A stand-in for ``python -m neural_core actor STEP ACTOR_DIR --json ...`` that speaks the real protocol.

Invoked through a wrapper interpreter as ``<python> -m neural_core actor STEP ACTOR_DIR
--json [--footage PATH...] [--minutes M]`` (the command line the Actor panel builds).
It records its argv in ``ACTOR_DIR/argv_<step>.json`` and goes through
``neural_core.contract.protocol.run_frames`` over ``FAKE_ACTOR_ITEMS`` items (default 3,
``FAKE_ACTOR_SLEEP`` seconds each), so events, exit codes and SIGINT/SIGTERM cancel are the
protocol's own. ``new`` makes the folder; ``train`` writes ``ACTOR_DIR/model/ema.safetensors``, then ``checkpoint.pt``
(the trainer's resume state, newer).
``FAKE_ACTOR_MODE=bad-input``: item 2 raises NeuralFaceError (exit 2); ``warn``: one warning;
``stage``: first a stage of its own (progress events naming ``stage``, as the fit's pose from the image does).
"""

import argparse
import json
import os
import sys
import time
from pathlib import Path

from neural_core.contract.errors import NeuralFaceError
from neural_core.contract.protocol import Job, JsonLinesReporter


def parse(argv):
    if argv[:3] != ["-m", "neural_core", "actor"]:
        raise SystemExit(f"fake actor worker: unexpected command line {argv!r}")
    parser = argparse.ArgumentParser()
    parser.add_argument("step", choices=("new", "detect", "fit", "build", "train", "report", "status"))
    parser.add_argument("actor_dir")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--footage", nargs="+", default=[])
    parser.add_argument("--minutes", type=float, default=0.0)
    return parser.parse_args(argv[3:])


def main(argv):
    args = parse(argv)
    folder = Path(args.actor_dir)
    mode = os.environ.get("FAKE_ACTOR_MODE", "ok")
    delay = float(os.environ.get("FAKE_ACTOR_SLEEP", "0"))
    count = int(os.environ.get("FAKE_ACTOR_ITEMS", "3"))
    reporter = JsonLinesReporter.claim_stdout()
    try:
        with Job(args.step, reporter) as job:
            if args.step == "new":
                folder.mkdir(parents=True, exist_ok=True)
            elif not folder.is_dir():
                raise NeuralFaceError(f"{folder} is not an actor folder (run 'actor new' first)")
            (folder / f"argv_{args.step}.json").write_text(json.dumps(argv))
            job.start(count, range(1, count + 1))
            if mode == "warn":
                job.warning(f"{args.step}: 2 photos have no face and are left out")
            if mode == "stage":
                for done in (1, 2):
                    job.reporter.emit("progress", done=done, total=2, fps=None, eta_s=3.0 - done,
                                      stage=f"{args.step}: pose from the image {done}/2")
                    time.sleep(delay)
            for item in job.frames(range(1, count + 1)):
                if item == 2 and mode == "bad-input":
                    raise NeuralFaceError(f"{folder / 'footage'}: photo 0002.jpg is truncated")
                time.sleep(delay)
                if args.step == "train" and item == count:
                    (folder / "model").mkdir(exist_ok=True)
                    (folder / "model" / "ema.safetensors").write_bytes(b"fake")
                    (folder / "model" / "checkpoint.pt").write_bytes(b"fake resume state")
                job.frame_done(item, path=None)
    finally:
        reporter.close()
    return job.exit_code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
