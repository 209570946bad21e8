"""An actor folder: the footage of one person and every step's results (issue 14).

::

    ACTOR_DIR/actor.json             the actor: footage, kind, stride, settings (below)
    ACTOR_DIR/state/<step>.json      per step: the hash of its inputs, running or done, a summary
    ACTOR_DIR/detect/frames/NNNNNN.npz   one file per input frame (resumable)
    ACTOR_DIR/detect/landmarks.npz   every input frame's 478 x 2 landmarks (or why not), sizes, focal hints
    ACTOR_DIR/fit/fit.npz            identity [28], per input frame the fitted values
    ACTOR_DIR/fit/shot/shot.json     a coefficient-only shot folder v1 (docs/shot-format.md), frames 1..N
    ACTOR_DIR/fit/crops/####.png     the aligned photo crop of each shot frame (RGB 8-bit)
    ACTOR_DIR/fit/frames.json        shot frame -> input frame, and the frames left out (why)
    ACTOR_DIR/build/                 training samples the Blender side writes (shot/ + targets/ + frames.json)
    ACTOR_DIR/model/                 the trainer's run folder (ema.safetensors, checkpoint.pt, ...)
    ACTOR_DIR/report/contact_sheet.png

Steps run in the order of ``STEPS``. Each step's *inputs* (the footage listing, the
settings it reads, the outputs of the step before it) are hashed; the step is *done*
when ``state/<step>.json`` says ``done`` for the inputs hashed now. Rerunning a done step
does nothing; a step whose inputs changed is *stale* and runs again (its old results are
removed first, a trained model is moved aside; the Blender build updates its own folder,
remaking only the frames a refit changed); a step interrupted with the same inputs
resumes (``running`` in its state file). Files are written to a temporary name and
renamed, state files last.

Footage is listed by name, size and modification time (not content): touching a photo
makes detection run again. Footage paths are stored absolute, or relative to the actor
folder when inside it (the folder can then be moved with its footage). Footage that
cannot be read at all (the folder was copied to a training machine without it, or the
footage was archived) leaves a done detect step as it was recorded, unless detect's own
settings changed since: the steps after it go on from their results
(``Actor.missing_footage`` says why, for a warning).
"""

import datetime
import errno
import hashlib
import json
import os
import shutil
from contextlib import contextmanager
from pathlib import Path

from ..contract.atomic import write_text_atomically
from ..contract.errors import NeuralFaceError
from .footage import PHOTO_EXTENSIONS, FootageError
from .photos import PhotoFolder
from .video import Video

FORMAT = "neural-face-actor"
VERSION = 1
ACTOR_FILE = "actor.json"
STEPS = ("detect", "fit", "build", "train", "report")
FOLDERS = {"detect": "detect", "fit": "fit", "build": "build", "train": "model", "report": "report"}
KINDS = ("photos", "video")

# setting -> (default, the steps whose results it changes). ``min_frames`` is a gate (the
# step fails below it), not an input: changing it never reruns anything.
SETTINGS = {
    "min_frames": (8, ()),  # detect and fit fail when fewer input frames than this have a usable face
    "min_face_px": (64, ("detect",)),  # faces whose landmark box is smaller (longer side, pixels) are refused
    "mirror_detection": (True, ("detect",)),  # also detect on the mirrored frame and average (landmarks.py)
    "detection_views": (5, ("detect",)),  # views of each frame detected on and averaged (landmarks.VIEWS)
    "calibration": ("auto", ("fit",)),  # "auto": the bundled landmark calibration when present; "none": fit the vertices
    "crop_size": (512, ("fit",)),  # side of the aligned crops, pixels
    "crop_scale": (1.6, ("fit",)),  # crop side / longer side of the fitted face landmarks' box
    "build_samples": (None, ("build",)),  # render samples of the Blender build (None: its default)
    "build_resolution": (None, ("build",)),  # pass and target resolution of the build (None: its default)
    "train_preset": ("cpu-256", ("train",)),  # neural_core.train.config.PRESETS
    "train_steps": (None, ()),  # total steps (None: the preset's); a resumed run takes a new value
    "train_config": ({}, ("train",)),  # TrainConfig fields over the preset's (tests: a tiny model)
    "report_rows": (8, ("report",)),  # frames shown in the contact sheet (evenly spaced)
}
# steps whose folder updates itself when its inputs change (the Blender build keeps the frames a
# refit did not change and removes the others), so begin() leaves it alone
SELF_UPDATING = ("build",)
WRITE_ERRORS = (errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC, errno.EDQUOT, errno.EFBIG)


# what a detect step's per-frame records hold; a new value makes older detections stale
# (2: MediaPipe's relative depth kept beside the points, which photo fits weigh;
# 3: the image's eye cues, eye_closure.py)
DETECT_RECORDS = 3


class ActorError(NeuralFaceError):
    """An actor folder or one of its steps cannot be used as asked (one line for the user)."""


def digest(value):
    """sha256 hex of a JSON-able value (sorted keys)."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def file_digest(path):
    """sha256 hex of a file's bytes, or None when it does not exist."""
    path = Path(path)
    if not path.is_file():
        return None
    hasher = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            hasher.update(block)
    return hasher.hexdigest()


def now_text():
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


@contextmanager
def storage_errors():
    """Turn a full disk or a read-only folder into one clear line (ActorError)."""
    try:
        yield
    except OSError as error:
        if error.errno not in WRITE_ERRORS:
            raise
        where = error.filename or "the actor folder"
        raise ActorError(f"cannot write {where}: {error.strerror or error}; "
                         "the files already written are kept (free some space or make the folder writable, then rerun)") from None


def footage_kind(path):
    """"photos" for a folder or a JPEG/PNG file, else "video"."""
    path = Path(path)
    return "photos" if path.is_dir() or path.suffix.lower() in PHOTO_EXTENSIONS else "video"


def _stat_row(path):
    info = path.stat()
    return [path.name, info.st_size, info.st_mtime_ns]


class Actor:
    """An actor folder; see the module docstring. ``data``: the parsed actor.json."""

    def __init__(self, root, data):
        self.root = Path(root)
        self.data = data

    # -- creating and opening --------------------------------------------------------------
    @classmethod
    def create(cls, root, footage, stride=1, settings=None):
        """A new actor at ``root`` (folder created), or the existing one updated to this
        footage. Returns (actor, changed: bool). Checks every footage path now
        (FootageError naming the file)."""
        root = Path(root).resolve()
        if isinstance(stride, bool) or not isinstance(stride, int) or stride < 1:
            raise ActorError(f"--stride must be a whole number >= 1, got {stride!r}")
        if not footage:
            raise ActorError("no footage given: --footage PHOTO_FOLDER | PHOTO ... | VIDEO")
        paths = [Path(p).expanduser().resolve() for p in footage]
        for path in paths:
            if not path.exists():
                raise FootageError("no such file or folder", file=path)
        kinds = {footage_kind(p) for p in paths}
        if len(kinds) > 1:
            raise ActorError("an actor's footage is photos (files or folders) or videos, not a mix "
                             f"(given: {', '.join(str(p) for p in paths)})")
        kind = kinds.pop()
        if len(set(paths)) < len(paths):
            raise ActorError("the same footage is given twice")
        for path in paths:
            _check_footage(path, kind, stride)
        stored = [_stored_path(p, root) for p in paths]
        existing = cls._read(root) if (root / ACTOR_FILE).is_file() else None
        data = existing or {"format": FORMAT, "version": VERSION, "created": now_text(), "settings": {}}
        changed = existing is None or existing.get("footage") != stored or existing.get("stride") != stride
        data.update(footage=stored, kind=kind, stride=stride)
        actor = cls(root, data)
        changed = actor.update_settings(settings or {}, save=False) or changed
        if changed:
            with storage_errors():
                root.mkdir(parents=True, exist_ok=True)
                actor.save()
        return actor, changed

    @classmethod
    def open(cls, root):
        """The actor at ``root``; ActorError when there is none or actor.json is malformed."""
        root = Path(root).resolve()
        if not (root / ACTOR_FILE).is_file():
            raise ActorError(f"{root}: no actor here ({ACTOR_FILE} missing); make one with "
                             f"python -m neural_core actor new {root} --footage PATH ...")
        return cls(root, cls._read(root))

    @staticmethod
    def _read(root):
        path = Path(root) / ACTOR_FILE
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError) as error:
            raise ActorError(f"{path}: cannot be read ({error})") from None
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise ActorError(f"{path}: not a Neural Face actor file (format {data.get('format') if isinstance(data, dict) else None!r})")
        if data.get("version") != VERSION:
            raise ActorError(f"{path}: version {data.get('version')!r}; this Neural Face reads version {VERSION}")
        for field, kind in (("footage", list), ("kind", str), ("stride", int), ("settings", dict)):
            if not isinstance(data.get(field), kind):
                raise ActorError(f"{path}: field '{field}' is missing or not a {kind.__name__}")
        if data["kind"] not in KINDS:
            raise ActorError(f"{path}: field 'kind' is {data['kind']!r}, expected one of {', '.join(KINDS)}")
        return data

    def save(self):
        with storage_errors():
            write_text_atomically(self.root / ACTOR_FILE, json.dumps(self.data, indent=1) + "\n")

    # -- settings --------------------------------------------------------------------------
    def setting(self, name):
        return self.data["settings"].get(name, SETTINGS[name][0])

    def update_settings(self, values, save=True):
        """Store the given settings (None values are ignored); returns whether any changed."""
        changed = False
        for name, value in values.items():
            if name not in SETTINGS:
                raise ActorError(f"unknown actor setting {name!r}")
            if value is not None and self.setting(name) != value:
                self.data["settings"][name] = value
                changed = True
        if changed and save:
            self.save()
        return changed

    def step_settings(self, step):
        """The settings ``step``'s inputs hash. Training settings a run may change as it goes
        (lr, loss weights: ``RESUME_CHANGEABLE``) are left out: changing one continues the run."""
        settings = {name: self.setting(name) for name, (_, steps) in SETTINGS.items() if step in steps}
        if "train_config" in settings:
            from ..train.config import RESUME_CHANGEABLE

            settings["train_config"] = {k: v for k, v in settings["train_config"].items() if k not in RESUME_CHANGEABLE}
        return settings

    # -- footage ---------------------------------------------------------------------------
    @property
    def kind(self):
        return self.data["kind"]

    @property
    def stride(self):
        return self.data["stride"]

    def footage_paths(self):
        """Absolute paths of the footage entries, in order."""
        return [Path(p) if Path(p).is_absolute() else self.root / p for p in self.data["footage"]]

    def missing_footage(self):
        """Why the footage cannot be listed (a one-line message), or None when it can."""
        try:
            self.footage_listing()
        except FootageError as error:
            return f"{error}: the footage is not here; the steps after detect use its recorded results"
        return None

    def footage_listing(self):
        """What detection depends on: per entry its photo files or video (name, size, mtime)."""
        listing = []
        for stored, path in zip(self.data["footage"], self.footage_paths()):
            try:
                if self.kind == "photos" and path.is_dir():
                    rows = [_stat_row(p) for p in PhotoFolder(path).paths]
                else:
                    rows = [_stat_row(path)]
            except OSError as error:
                raise FootageError(f"cannot be read ({error.strerror or error})", file=path) from None
            listing.append({"path": stored, "files": rows})
        return listing

    # -- steps -----------------------------------------------------------------------------
    def folder(self, step):
        return self.root / FOLDERS[step]

    def state_path(self, step):
        return self.root / "state" / f"{step}.json"

    def state(self, step):
        """The step's state record (dict), or None."""
        path = self.state_path(step)
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            return None  # unreadable: as if the step never ran (it runs again)
        return record if isinstance(record, dict) else None

    def upstream(self, step):
        """The step whose outputs ``step`` reads (None for detect)."""
        return {"detect": None, "fit": "detect", "build": "fit", "train": "build", "report": "fit"}[step]

    def inputs(self, step):
        """Hash of everything ``step``'s results depend on, or None while a step before it is not done."""
        parts = {"step": step, "settings": self.step_settings(step)}
        if step == "detect":
            terms = self._detect_terms()  # with the footage listing, all that detect depends on
            try:
                footage = self.footage_listing()
            except FootageError as error:
                recorded = self.state("detect")
                if recorded is None or recorded.get("status") != "done":
                    raise  # nothing to go on from: detection needs the footage
                if recorded.get("terms", terms) != terms:
                    raise FootageError(f"{error.reason}; detection must run again (its settings changed since it ran), "
                                       "which needs the footage", file=error.file) from None
                return recorded["inputs"]  # footage absent, not changed: detect stands as recorded
            parts.update(terms, footage=footage)
        else:
            before = self.upstream(step)
            if not self.is_done(before):
                return None
            parts["upstream"] = self.state(before)["outputs"]
        if step == "fit":
            parts["fit"] = fit_dependencies(self.kind == "video", self.setting("calibration"))
        if step == "report":  # the report also shows the build's passes and the model when they are there
            parts["optional"] = {s: self.state(s)["outputs"] for s in ("build", "train") if self.is_done(s)}
        return digest(parts)

    def _detect_terms(self):
        """detect's inputs besides the footage (its settings, too), kept in its state for when the footage goes missing."""
        return {"settings": self.step_settings("detect"), "kind": self.kind, "stride": self.stride, "records": DETECT_RECORDS}

    def is_done(self, step):
        record = self.state(step)
        return record is not None and record.get("status") == "done" and record.get("inputs") == self.inputs(step)

    def status(self, step):
        """"done", "stale" (inputs changed since), "running" (interrupted or under way) or "not run"."""
        record = self.state(step)
        if record is None:
            return "not run"
        if record.get("status") == "done":
            return "done" if self.is_done(step) else "stale"
        return "running"

    def begin(self, step, inputs):
        """Start (or resume) ``step`` for ``inputs``: results of other inputs are removed
        (a model is moved aside; a ``SELF_UPDATING`` step's folder is kept), then the state
        says ``running``. Returns True when resuming a run with the same inputs."""
        record = self.state(step)
        resuming = record is not None and record.get("inputs") == inputs
        folder = self.folder(step)
        with storage_errors():
            if not resuming and step not in SELF_UPDATING and folder.exists() and any(folder.iterdir()):
                if step == "train":
                    aside = folder.with_name(f"{folder.name}.stale-{datetime.datetime.now():%Y%m%d-%H%M%S}")
                    folder.rename(aside)
                else:
                    shutil.rmtree(folder)
            folder.mkdir(parents=True, exist_ok=True)
            self._write_state(step, {"step": step, "inputs": inputs, "status": "running", "started": now_text()})
        return resuming

    def finish(self, step, inputs, outputs, summary):
        """Mark ``step`` done: ``outputs`` is the hash the next step depends on."""
        record = {"step": step, "inputs": inputs, "status": "done", "outputs": outputs, "finished": now_text(), "summary": summary}
        if step == "detect":
            record["terms"] = self._detect_terms()
        with storage_errors():
            self._write_state(step, record)

    def _write_state(self, step, record):
        path = self.state_path(step)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomically(path, json.dumps(record, indent=1) + "\n")

    def require(self, step):
        """ActorError unless ``step`` is done for the current inputs (named with the command to run)."""
        if not self.is_done(step):
            state = self.status(step)
            raise ActorError(f"{self.root}: step '{step}' is {state}; run python -m neural_core actor {step} {self.root} first")


def _stored_path(path, root):
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return str(path)


def _check_footage(path, kind, stride):
    """Open each footage entry once so bad input is named at ``actor new``."""
    if kind == "photos":
        PhotoFolder(path)
        return
    with Video(path, stride=stride) as video:
        if len(video) == 0:
            raise FootageError("the video has no frames", file=path)


def fit_dependencies(video, calibration):
    """What a fit depends on besides the landmarks: the solver settings and the model files."""
    from dataclasses import asdict

    from .calibration import DEFAULT_PATH as CALIBRATION
    from .calibration import DEPTH_PATH as DEPTH_CALIBRATION
    from .fit import FitSettings
    from .head_model import DEFAULT_PATH as HEAD_MODEL

    return {"settings": asdict(FitSettings(video=video)), "head_model": file_digest(HEAD_MODEL),
            "calibration": file_digest(CALIBRATION) if calibration == "auto" else "none",
            "depth_calibration": file_digest(DEPTH_CALIBRATION) if calibration == "auto" else "none"}


def remove_file(path):
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
