"""``python -m neural_core actor STEP ACTOR_DIR``: one workflow from a person's footage to a model.

Steps, in order (neural_core/actor/project.py describes the folder, neural_core/actor/steps/ each step)::

    actor new ACTOR_DIR --footage PATH [PATH ...] [--stride N] [--min-frames N]
    actor detect ACTOR_DIR        MediaPipe landmarks per input frame
    actor fit ACTOR_DIR           the bundled head fitted: fit/shot (shot folder v1) + fit/crops
    actor build ACTOR_DIR         Blender renders the passes (training samples in build/)
    actor train ACTOR_DIR         the face model with per-frame appearance codes (model/)
    actor report ACTOR_DIR        report/contact_sheet.png
    actor status ACTOR_DIR        what is done

Each step is idempotent (rerunning a finished one does nothing and says so) and resumable;
options that are actor settings (``--min-frames``, ``--samples``, ``--preset`` ...) are stored
in actor.json, and a changed setting makes the steps it affects run again. Progress: a bar
at a terminal, the worker protocol's JSON lines otherwise (``--json``); exit codes 0/1/2/3
(docs/worker-protocol.md); SIGINT/SIGTERM stop after the current frame.
"""

import argparse
import json
import os
import sys

from ..contract.protocol import HumanReporter, Job, JsonLinesReporter, make_reporter

HELP = "the actor workflow: new | detect | fit | build | train | report | status ACTOR_DIR (a model of a real person)"

STEPS = ("detect", "fit", "build", "train", "report")
# command-line option (dest) -> actor setting
SETTING_OPTIONS = {"min_frames": "min_frames", "min_face_px": "min_face_px", "mirror": "mirror_detection", "views": "detection_views",
                   "calibration": "calibration",
                   "crop_size": "crop_size", "samples": "build_samples", "resolution": "build_resolution",
                   "preset": "train_preset", "steps": "train_steps", "rows": "report_rows"}


def key_value(text):
    """--config KEY=VALUE: (key, JSON value or the text)."""
    key, _, value = text.partition("=")
    try:
        return key, json.loads(value)
    except ValueError:
        return key, value


def positive(text):
    value = int(text)
    if value < 1:
        raise ValueError(text)
    return value


def add_arguments(parser):
    sub = parser.add_subparsers(dest="actor_step", metavar="STEP", required=True)

    def step(name, text):
        command = sub.add_parser(name, help=text, description=text)
        command.add_argument("actor_dir", metavar="ACTOR_DIR", help="the actor folder")
        command.add_argument("--json", action="store_true", default=None,
                             help="JSON-lines progress (default when stdout is not a terminal)")
        return command

    new = step("new", "make an actor folder for footage of one person (or change its footage)")
    new.add_argument("--footage", nargs="+", required=True, metavar="PATH",
                     help="photo folders or JPEG/PNG files, or video files (clips of one camera: they share a focal length)")
    new.add_argument("--stride", type=positive, default=1, help="video: use every N-th frame (default 1)")
    new.add_argument("--min-frames", type=positive, default=None, help="fewest usable frames an actor needs (default 8)")
    detect = step("detect", "find MediaPipe's face landmarks on every input frame")
    detect.add_argument("--min-frames", type=positive, default=None, help="fewest frames with a usable face (default 8)")
    detect.add_argument("--min-face-px", type=positive, default=None, help="smallest face, longer side of its box (default 64)")
    detect.add_argument("--mirror", action=argparse.BooleanOptionalAction, default=None,
                        help="also detect on the mirrored frame and average the two (default on; twice the detection time)")
    detect.add_argument("--views", type=positive, default=None,
                        help="detect on this many slightly turned and scaled views of each frame and average them "
                             "(default 5, at most 9; 1: the frame alone; each view costs a detection)")
    fit = step("fit", "fit the bundled head: fit/shot (a shot folder) and fit/crops (aligned photo crops)")
    fit.add_argument("--min-frames", type=positive, default=None, help="fewest usable frames (default 8)")
    fit.add_argument("--calibration", choices=("auto", "none"), default=None,
                     help="auto: the bundled landmark calibration when present (default); none: fit the vertices")
    fit.add_argument("--crop-size", type=positive, default=None, help="side of the crops in pixels (default 512)")
    build = step("build", "render the fitted head's passes in Blender (training samples in build/)")
    build.add_argument("--samples", type=positive, default=None, help="render samples (default: the build's)")
    build.add_argument("--resolution", type=positive, default=None, help="pass and target resolution (default: the build's)")
    train = step("train", "train the actor's model on build/ (model/); rerun to continue")
    train.add_argument("--minutes", type=float, default=0.0, help="time budget of this session (0 = none)")
    train.add_argument("--preset", choices=("cpu-256", "cuda-512"), default=None, help="settings of a new run (default cpu-256)")
    train.add_argument("--steps", type=positive, default=None, help="total steps of the run (default: the preset's)")
    train.add_argument("--device", default="auto", help="auto (CUDA, then MPS, then CPU), cpu, cuda, cuda:N, mps")
    train.add_argument("--config", dest="train_config", type=key_value, action="append", default=None,
                       help=argparse.SUPPRESS)  # KEY=VALUE TrainConfig fields over the preset's (tests: model=tiny; lr=X continues a run)
    report = step("report", "write report/contact_sheet.png: photo | fit | passes | model")
    report.add_argument("--rows", type=positive, default=None, help="frames shown (default 8)")
    step("status", "say which steps are done")


def limit_blas_threads():
    """One OpenBLAS thread for numpy unless the environment says otherwise (before numpy loads).

    The fit is batched numpy on small matrices: on a 2-core machine shared with other work,
    OpenBLAS's spinning threads made it 3.5x slower than one thread (48 frames: 245 ms per
    frame with 1 thread, 890 ms with 2). Not for ``train``: torch may use the same library."""
    if "numpy" not in sys.modules:
        os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")


class StepReporter(HumanReporter):
    """The protocol's progress bar, plus solver stages (``progress`` events with a ``stage``)
    and quiet ``start``/``done`` lines for steps that make no frames (the step's note says it)."""

    def __init__(self, stream=None):
        super().__init__(stream)
        self.quiet = False

    def emit(self, event, **fields):
        if event == "progress" and fields.get("stage"):
            if self._tty:
                self.stream.write("\r" + fields["stage"] + "\x1b[K")
                self.stream.flush()
                self._bar_shown = True
            else:
                self._line(fields["stage"])
            return
        if event == "start" and (fields.get("up_to_date") or fields.get("step") in ("new", "status", "train")):
            self.command, self.quiet = fields.get("command", ""), True
            if fields.get("step") == "train" and not fields.get("up_to_date"):  # counts steps, not frames
                self._line(f"{self.command}: step {fields.get('resumed_at') or 0} of {fields.get('total')}; {fields.get('device')}")
            return
        if event == "done" and self.quiet and fields.get("exit_code") == 0:
            return
        super().emit(event, **fields)

    def note(self, text):
        self._line(text)


def make_step_reporter(json_mode):
    """(reporter, note): JSON lines (notes go to stderr as log text), or at a terminal a :class:`StepReporter`."""
    reporter = make_reporter(json_mode)
    if isinstance(reporter, JsonLinesReporter):
        return reporter, lambda text: print(text, file=sys.stderr, flush=True)
    human = StepReporter(reporter.stream)
    return human, human.note


def run(args):
    if args.actor_step != "train":
        limit_blas_threads()
    # status, like validate, talks to a person unless --json is given
    reporter, note = make_step_reporter(bool(args.json) if args.actor_step == "status" else args.json)
    job = Job(f"actor {args.actor_step}", reporter)
    try:
        with job:
            if args.actor_step == "new":
                new_actor(args, job, note)
            elif args.actor_step == "status":
                show_status(args, job)
            else:
                run_step(args, job, note)
    finally:
        reporter.close()
    return job.exit_code


def run_step(args, job, note):
    import importlib

    from ..actor.project import Actor
    from ..actor.steps import Context

    actor = Actor.open(args.actor_dir)
    settings = {setting: getattr(args, option) for option, setting in SETTING_OPTIONS.items() if hasattr(args, option)}
    if getattr(args, "train_config", None):
        settings["train_config"] = {**actor.setting("train_config"), **dict(args.train_config)}  # added to the stored ones
    actor.update_settings(settings)
    options = {"minutes": getattr(args, "minutes", 0.0), "device": getattr(args, "device", "auto")}
    module = importlib.import_module(f"..actor.steps.{args.actor_step}", __package__)
    module.run(Context(actor, job, note, options))
    missing = actor.missing_footage()  # after the step's start event: a warning, the job went on
    if missing:
        job.warning(missing)


def new_actor(args, job, note):
    from ..actor.input_frames import list_input_frames
    from ..actor.project import Actor

    actor, changed = Actor.create(args.actor_dir, args.footage, stride=args.stride,
                                  settings={"min_frames": args.min_frames})
    count = len(list_input_frames(actor))
    job.start(0, [], step="new", actor=str(actor.root), kind=actor.kind, input_frames=count, changed=changed)
    if actor.kind == "photos":
        from ..actor.photos import PhotoFolder

        for path in actor.footage_paths():
            for message in PhotoFolder(path).warnings:  # files that are no JPEG or PNG
                job.warning(message)
    what = "written" if changed else "already holds this footage and settings; nothing to do"
    note(f"actor new: {actor.root / 'actor.json'} {what} ({actor.kind}, {count} input frame(s)); "
         f"next: python -m neural_core actor detect {actor.root}")


def show_status(args, job):
    from ..actor.project import STEPS as ORDER
    from ..actor.project import Actor

    actor = Actor.open(args.actor_dir)
    steps = {}
    for step in ORDER:
        record = actor.state(step) or {}
        steps[step] = {"status": actor.status(step), "summary": record.get("summary")}
    left_out = left_out_frames(actor)
    missing = actor.missing_footage()
    job.start(0, [], step="status", actor=str(actor.root), kind=actor.kind, footage=actor.data["footage"], steps=steps,
              left_out=left_out, footage_missing=missing)
    if isinstance(job.reporter, JsonLinesReporter):  # the start event says it all
        return
    lines = [f"actor {actor.root} ({actor.kind}: {', '.join(actor.data['footage'])})"]
    if missing:
        lines.append(f"  {missing}")
    for step, info in steps.items():
        summary = info["summary"] or {}
        described = ", ".join(f"{k} {v}" for k, v in summary.items() if not isinstance(v, (list, dict)))
        lines.append(f"  {step:7s} {info['status']:8s} {described}")
    if left_out:
        lines.append(f"  frames left out ({len(left_out)}):")
        lines += [f"    {entry}" for entry in left_out]
    print("\n".join(lines), flush=True)


def left_out_frames(actor):
    """Lines naming every input frame the detect or fit step left out, and why."""
    path = actor.folder("fit") / "frames.json"
    if actor.status("fit") in ("done", "running") and path.is_file():
        try:
            return [entry["reason"] for entry in json.loads(path.read_text())["left_out"]]
        except (OSError, ValueError, KeyError):
            pass
    # a stale detect's landmarks may be another version's (the detect step redoes them)
    if actor.status("detect") in ("done", "running") and (actor.folder("detect") / "landmarks.npz").is_file():
        from ..actor.steps.detect import load_landmarks

        data = load_landmarks(actor)
        return [str(r) for r, ok in zip(data["reasons"], data["found"]) if not ok]
    return []
