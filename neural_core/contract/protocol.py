"""Worker protocol: JSON-lines events on stdout, exit codes, cancel (docs/worker-protocol.md).

A command is a thin loop over :func:`run_frames` (or a :class:`Job` block)::

    reporter = make_reporter(args.json or None)  # --json, else JSON when stdout is not a terminal
    return run_frames("render", frames, render_one, reporter=reporter)

Events (one JSON object per line, ``"event"`` names the kind)::

    start    {command, protocol, total, frames, ...}
    progress {done, total, fps, eta_s}
    frame    {frame, path, skipped}
    warning  {message}
    error    {message, kind, file?, frame?, field?, reason?}
    done     {command, done, skipped, total, elapsed_s, exit_code, status}

Pure standard library; the signal handling lives in :mod:`.cancel`.
"""

import json
import math
import os
import sys
import time
import traceback

from .cancel import CancelToken
from .errors import CancelledError, CheckpointError, NeuralFaceError, ShotFormatError

PROTOCOL_VERSION = 1

EXIT_OK = 0  # every frame done
EXIT_INTERNAL = 1  # a bug: traceback on stderr
EXIT_BAD_INPUT = 2  # bad shot, checkpoint or argument: `error` event names it
EXIT_CANCELLED = 3  # SIGINT/SIGTERM: stopped after the last completely written frame

STATUS = {EXIT_OK: "ok", EXIT_INTERNAL: "internal-error", EXIT_BAD_INPUT: "bad-input", EXIT_CANCELLED: "cancelled"}
EVENTS = ("start", "progress", "frame", "warning", "error", "done")


def _plain(value):
    """JSON-safe copy: numpy scalars/arrays to Python, non-finite floats to None, paths to str."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, bool) or value is None or isinstance(value, (int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if hasattr(value, "tolist"):  # numpy scalar or array
        return _plain(value.tolist())
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    return str(value)


def format_event(event, **fields):
    """One protocol line (no newline): ``{"event": event, ...fields}``."""
    return json.dumps({"event": event, **_plain(fields)}, allow_nan=False, ensure_ascii=False)


def parse_event(line):
    """Parse one line of a worker's stdout (client side, used by the Blender add-on).

    Returns the event dict (``event`` is a string; unknown kinds pass through for
    forward compatibility). A line that is not a protocol event (library noise, blank,
    truncated JSON) gives ``{"event": "noise", "text": line}``; this never raises.
    """
    if isinstance(line, bytes):
        line = line.decode("utf-8", errors="replace")
    text = line.rstrip("\r\n")
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if not isinstance(data, dict) or not isinstance(data.get("event"), str):
        return {"event": "noise", "text": text}
    return data


class Reporter:
    """Receives the events of one job. Subclasses decide how to show them."""

    def emit(self, event, **fields):
        raise NotImplementedError

    def start(self, command, total, frames=(), **extra):
        self.emit("start", command=command, protocol=PROTOCOL_VERSION, total=total, frames=list(frames), **extra)

    def progress(self, done, total, fps=None, eta_s=None):
        self.emit("progress", done=done, total=total, fps=None if fps is None else round(fps, 4),
                  eta_s=None if eta_s is None else round(eta_s, 2))

    def frame(self, frame, path=None, skipped=False):
        self.emit("frame", frame=frame, path=path, skipped=skipped)

    def warning(self, message):
        self.emit("warning", message=message)

    def error(self, message, kind, file=None, frame=None, field=None, reason=None):
        """``message``: complete, readable alone (already names file/frame/field);
        ``reason``: the same without the location, for clients that show it apart."""
        extra = {k: v for k, v in (("file", file), ("frame", frame), ("field", field), ("reason", reason))
                 if v is not None}
        self.emit("error", message=message, kind=kind, **extra)

    def done(self, done, skipped, total, elapsed_s, exit_code, command=None):
        self.emit("done", command=command, done=done, skipped=skipped, total=total, elapsed_s=round(elapsed_s, 3),
                  exit_code=exit_code, status=STATUS.get(exit_code, "internal-error"))

    def close(self):
        pass


class JsonLinesReporter(Reporter):
    """Writes each event as one JSON line and flushes it at once."""

    def __init__(
        self,
        stream=None,  # text stream for the protocol lines; None = sys.stdout
    ):
        self.stream = sys.stdout if stream is None else stream
        self._restore_fd = None

    @classmethod
    def claim_stdout(cls):
        """Reporter on the real stdout that keeps stdout for protocol lines only: file
        descriptor 1 is moved to a private copy and fd 1 is pointed at stderr, so stray
        ``print`` calls and C libraries (OpenEXR prints warnings) land on stderr."""
        sys.stdout.flush()
        private = os.dup(1)
        saved = os.dup(1)
        os.dup2(2, 1)
        reporter = cls(os.fdopen(private, "w", encoding="utf-8", buffering=1))
        reporter._restore_fd = saved
        return reporter

    def emit(self, event, **fields):
        self.stream.write(format_event(event, **fields) + "\n")
        self.stream.flush()

    def close(self):
        if self._restore_fd is not None:
            sys.stdout.flush()
            self.stream.close()
            os.dup2(self._restore_fd, 1)
            os.close(self._restore_fd)
            self._restore_fd = None


def _clock(seconds):
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


class HumanReporter(Reporter):
    """A progress bar with frames/s and time left, for a person at a terminal."""

    def __init__(
        self,
        stream=None,  # text stream; None = sys.stderr
        width=30,  # bar width in characters
    ):
        self.stream = sys.stderr if stream is None else stream
        self.width = width
        self.command = ""
        self._bar_shown = False
        self._writes = False  # the job announced an output folder (`out`): its summary names the files
        self._first_path = self._last_path = None  # files the job reported (written or already current)
        self._tty = bool(getattr(self.stream, "isatty", lambda: False)())

    def _line(self, text):
        if self._bar_shown:
            self.stream.write("\n")
            self._bar_shown = False
        self.stream.write(text + "\n")
        self.stream.flush()

    def emit(self, event, **fields):
        if event == "start":
            self.command = fields.get("command", "")
            self._writes = bool(fields.get("out"))
            into = f" -> {fields['out']}" if self._writes else ""
            self._line(f"{self.command}: {fields.get('total', 0)} frame(s){into}")
        elif event == "frame":
            if fields.get("path"):
                self._first_path = self._first_path or fields["path"]
                self._last_path = fields["path"]
        elif event == "progress":
            done, total = fields["done"], max(fields["total"], 1)
            filled = int(self.width * done / total)
            rate = f"{fields['fps']:.2f} frames/s" if fields.get("fps") else "-- frames/s"
            left = f"{_clock(fields['eta_s'])} left" if fields.get("eta_s") is not None else "--:-- left"
            text = f"[{'#' * filled}{'.' * (self.width - filled)}] {done}/{fields['total']}  {rate}  {left}"
            if self._tty:
                self.stream.write("\r" + text)
                self._bar_shown = True
                self.stream.flush()
            elif done == fields["total"] or int(10 * done / total) != int(10 * (done - 1) / total):
                self._line(text)  # not a terminal: one line per 10%
        elif event == "warning":
            self._line(f"warning: {fields['message']}")
        elif event == "error":
            self._line(f"error: {fields['message']}")
        elif event == "done":
            status = fields.get("status", "ok")
            skipped = f", {fields['skipped']} skipped" if fields.get("skipped") else ""
            command = fields.get("command") or self.command
            self._line(f"{command}: {status}: {fields['done']}/{fields['total']} frame(s){skipped} "
                       f"in {fields['elapsed_s']:.1f} s{self._files()}")

    def _files(self):
        """``"; files: /out/neural_0001.png .. neural_0048.png"`` (where the frames went), or ""
        for a job that writes no output folder (``validate`` reports the files it checked)."""
        if not self._writes or self._first_path is None:
            return ""
        last = f" .. {os.path.basename(self._last_path)}" if self._last_path != self._first_path else ""
        return f"; files: {self._first_path}{last}"

    def close(self):
        if self._bar_shown:
            self.stream.write("\n")
            self._bar_shown = False
            self.stream.flush()


def make_reporter(json_mode=None):
    """JSON lines when ``json_mode`` is true, or when it is None and stdout is not a
    terminal (the worker is driven by a program); otherwise the human progress bar."""
    if json_mode is None:
        json_mode = not (hasattr(sys.stdout, "isatty") and sys.stdout.isatty())
    if json_mode:
        try:
            sys.stdout.fileno()
        except (AttributeError, OSError, ValueError):  # not a real file (tests, embedded)
            return JsonLinesReporter(sys.stdout)
        return JsonLinesReporter.claim_stdout()
    return HumanReporter(sys.stderr)


class RateMeter:
    """frames/s and time left over the frames actually processed (skipped ones excluded)."""

    def __init__(self, total):
        self.total = total
        self.processed = 0
        self.busy_s = 0.0

    def add(self, seconds):
        self.processed += 1
        self.busy_s += seconds

    def fps(self):
        return self.processed / self.busy_s if self.busy_s > 0 else None

    def eta_s(self, done):
        fps = self.fps()
        return (self.total - done) / fps if fps else None


def error_kind(error):
    """The ``kind`` of an ``error`` event for an exception."""
    if isinstance(error, CancelledError):
        return "cancelled"
    if isinstance(error, ShotFormatError):
        return "shot-format"
    if isinstance(error, CheckpointError):
        return "checkpoint"
    if isinstance(error, NeuralFaceError):
        return "bad-input"
    return "internal"


def _discard_if_closed(stream):
    """Point ``stream``'s file descriptor at the null device if its reader has gone, so
    what is still buffered (and the interpreter's last flush) goes nowhere, silently."""
    if stream is None:
        return
    try:
        stream.flush()
    except (BrokenPipeError, ValueError):  # ValueError: the stream is closed already
        try:
            null = os.open(os.devnull, os.O_WRONLY)
            os.dup2(null, stream.fileno())
            os.close(null)
        except (OSError, ValueError):
            pass


class Job:
    """One protocol run. Use as ``with Job(...) as job:``; afterwards ``job.exit_code``.

    On leaving the block: NeuralFaceError -> ``error`` event, exit 2; CancelledError or
    a second Ctrl-C -> exit 3; any other exception -> ``error`` event of kind
    ``internal``, traceback on stderr, exit 1. Exactly one ``done`` event ends every
    run. SIGINT/SIGTERM handlers are installed for the block and restored after it.
    """

    def __init__(
        self,
        command,  # command name reported in `start`, e.g. "render"
        reporter=None,  # a Reporter; None = make_reporter()
    ):
        self.command = command
        self.reporter = make_reporter() if reporter is None else reporter
        self.token = CancelToken()
        self.total = 0
        self.done = 0  # frames finished (written or skipped)
        self.skipped = 0
        self.last_frame = None
        self.exit_code = None
        self._meter = RateMeter(0)
        self._started = None
        self._frame_started = None

    def __enter__(self):
        self._started = time.monotonic()
        self.token.__enter__()
        return self

    def start(self, total, frames=(), **extra):
        """Announce the work: ``total`` frames (their numbers in ``frames``)."""
        self.total = int(total)
        self._meter = RateMeter(self.total)
        self.reporter.start(self.command, self.total, frames, **extra)

    def frames(self, numbers):
        """Iterate ``numbers``, checking for a cancel before each one (so a cancel
        requested during a frame takes effect once that frame is complete)."""
        for number in numbers:
            self.token.check(after_frame=self.last_frame)
            self._frame_started = time.monotonic()
            yield number

    def frame_done(self, frame, path=None, skipped=False):
        """Report ``frame`` complete: ``path`` written, or ``skipped`` (nothing made)."""
        if skipped:
            self.skipped += 1
        elif self._frame_started is not None:
            self._meter.add(time.monotonic() - self._frame_started)
        self.done += 1
        self.last_frame = frame
        self.reporter.frame(frame, path=path, skipped=skipped)
        self.reporter.progress(self.done, self.total, fps=self._meter.fps(), eta_s=self._meter.eta_s(self.done))

    def warning(self, message):
        self.reporter.warning(message)

    def __exit__(self, exc_type, error, tb):
        self.token.__exit__(exc_type, error, tb)
        if error is None:
            self.exit_code = EXIT_OK
        elif isinstance(error, KeyboardInterrupt):
            error = CancelledError(f"interrupted by a second SIGINT after frame {self.last_frame}")
            self.exit_code = EXIT_CANCELLED
        elif isinstance(error, BrokenPipeError):  # whoever read the output has gone (`| head`): stop, quietly
            for stream in (sys.stdout, sys.stderr, getattr(self.reporter, "stream", None)):
                _discard_if_closed(stream)
            self.exit_code = EXIT_CANCELLED
            return True
        elif isinstance(error, NeuralFaceError):
            self.exit_code = getattr(error, "exit_code", EXIT_BAD_INPUT)
        elif isinstance(error, Exception):
            traceback.print_exception(exc_type, error, tb, file=sys.stderr)
            sys.stderr.flush()
            self.exit_code = EXIT_INTERNAL
        else:  # SystemExit, GeneratorExit: not ours to handle
            return False
        if error is not None:
            message = str(error) or type(error).__name__
            if error_kind(error) == "internal":
                message = f"internal error: {type(error).__name__}: {error}"
            self.reporter.error(message, error_kind(error), file=getattr(error, "file", None),
                                frame=getattr(error, "frame", None), field=getattr(error, "field", None),
                                reason=getattr(error, "reason", None))
        self.reporter.done(self.done, self.skipped, self.total, time.monotonic() - self._started, self.exit_code,
                           command=self.command)
        return True


def run_frames(command, frames, process_frame, *, reporter=None, start_fields=None):
    """Run ``process_frame(frame)`` for every frame under the protocol; returns the exit code.

    ``frames``: frame numbers, or a callable returning them (called inside the job, so
    an error while e.g. reading the shot is reported as a protocol error).
    ``process_frame(frame)`` returns the path it wrote (atomically), or None when it
    skipped the frame. ``start_fields``: extra fields for the ``start`` event.
    A reporter made here (``reporter=None``) is closed at the end.
    """
    own = reporter is None
    job = Job(command, reporter)
    try:
        with job:
            numbers = list(frames() if callable(frames) else frames)
            job.start(len(numbers), numbers, **(start_fields or {}))
            for number in job.frames(numbers):
                path = process_frame(number)
                job.frame_done(number, path=path, skipped=path is None)
    finally:
        if own:
            job.reporter.close()
    return job.exit_code
