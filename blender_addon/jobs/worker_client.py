"""The neural core worker as a separate process, seen from Blender.

The worker is ``python -m neural_core render SHOT --json --out DIR --frames A-B ...``
(docs/worker-protocol.md) run by a Python that has torch, never by Blender's own Python.
This module builds that command line, finds the interpreter, starts the process in its
own process group, reads its JSON-lines progress without ever blocking Blender's main
thread, and cancels it (SIGINT, then SIGTERM, then SIGKILL after grace periods).

Reading: a daemon thread does nothing but read the stdout pipe line by line into a
``queue.Queue`` (it never touches ``bpy``); the main thread drains the queue from a
modal timer or a blocking loop. stderr goes to a temporary file (a full stderr pipe
would stall the worker); its tail explains a crash.

Which Python runs the worker, first match wins:
  1. the add-on preference ``worker_python``;
  2. the repository's ``.venv/bin/python`` when the add-on runs from a checkout;
  3. for an extension installed from a zip that ``tools/build_extension.py`` built: the
     ``.venv/bin/python`` of the checkout it was built from, named in the package's
     ``checkout.json``, when that file still exists;
  4. the ``NEURAL_FACE_PYTHON`` environment variable;
  5. otherwise :class:`WorkerError` asks the user to set the preference (naming the
     path it looked for).
``neural_core`` must be importable by it: from a checkout, ``PYTHONPATH`` is prefixed
with the repository root; the checkout's ``.venv`` has it on its path already
(``neural_face_repo.pth``, written by ``tools/ensure_venv``); otherwise install the project
into that Python (``pip install -e <checkout>``).
"""

import os
import queue
import signal
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..core_link import NeuralFaceError, frames, protocol
from .events import JobProgress, parse_line

WORKER_PYTHON_ENV = "NEURAL_FACE_PYTHON"
EXIT_OK, EXIT_INTERNAL = protocol.EXIT_OK, protocol.EXIT_INTERNAL
EXIT_BAD_INPUT, EXIT_CANCELLED = protocol.EXIT_BAD_INPUT, protocol.EXIT_CANCELLED


class WorkerError(NeuralFaceError):
    """The worker could not be started, failed, or was cancelled. ``exit_code``: the
    worker's exit status (``EXIT_CANCELLED`` for any cancel, even one that ended in
    SIGKILL; negative = killed by that signal; None when it never ran)."""

    def __init__(self, message, exit_code=None):
        super().__init__(message)
        self.exit_code = exit_code


def repository_root():
    """The checkout holding this add-on (a folder with ``neural_core/__main__.py`` next to
    ``blender_addon/``), or None when the add-on runs as an installed extension."""
    root = Path(__file__).resolve().parents[2]  # blender_addon/jobs/ -> checkout
    if (root / "neural_core" / "__main__.py").is_file() and (root / "blender_addon").is_dir():
        return root
    return None


def _venv_python(root):
    bin_dir = "Scripts" if os.name == "nt" else "bin"
    name = "python.exe" if os.name == "nt" else "python"
    return root / ".venv" / bin_dir / name


# Written into the extension package by tools/build_extension.py: {"checkout": ...,
# "worker_python": ...}, the checkout the zip was built from and its .venv's Python.
BUILD_INFO = Path(__file__).resolve().parents[1] / "checkout.json"


def built_from(path=None):
    """(checkout, worker Python) named by the package's ``checkout.json`` (``path``,
    default :data:`BUILD_INFO`), or None when there is none or it cannot be read."""
    import json

    path = BUILD_INFO if path is None else Path(path)
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
        return Path(info["checkout"]), Path(info["worker_python"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def resolve_worker_python(preference="", environ=None, root=None, build_info=None):
    """Path of the interpreter that runs the worker (see the module docstring).

    preference: the add-on preference (a path, may be empty).
    environ: environment mapping (default ``os.environ``); root: the checkout or None
    (default :func:`repository_root`); build_info: the package's ``checkout.json``
    (default :data:`BUILD_INFO`). Raises :class:`WorkerError` when nothing is set or the
    chosen path is not an executable file.
    """
    environ = os.environ if environ is None else environ
    root = repository_root() if root is None else root
    built = built_from(build_info)
    candidates = []
    if preference:
        candidates.append(("the add-on preference 'Worker Python'", Path(os.path.expanduser(preference))))
    elif root is not None and _venv_python(root).exists():
        candidates.append(("the checkout's virtual environment", _venv_python(root)))
    elif built is not None and built[1].exists():
        candidates.append((f"the virtual environment of {built[0]}, the checkout this extension was built from",
                           built[1]))
    elif environ.get(WORKER_PYTHON_ENV):
        candidates.append((f"the {WORKER_PYTHON_ENV} environment variable", Path(environ[WORKER_PYTHON_ENV])))
    if not candidates:
        looked = (f" (this extension was built from {built[0]}, but {built[1]} does not exist: "
                  "run ./tools/test there to make it)") if built is not None else ""
        raise WorkerError(
            "no Python to run the Neural Face worker: set Preferences > Add-ons > Neural Face > "
            f"'Worker Python' (or the {WORKER_PYTHON_ENV} environment variable) to a Python 3.11 "
            f"that has torch and neural_core installed, e.g. a checkout's .venv/bin/python{looked}; "
            "Blender's own Python is never used"
        )
    origin, path = candidates[0]
    if not path.is_file() or not os.access(path, os.X_OK):
        raise WorkerError(f"worker Python '{path}' (from {origin}) is not an executable file")
    return str(path)


def worker_environment(root=None, environ=None):
    """Environment for the worker: ``PYTHONPATH`` prefixed with the checkout root (when
    there is one) so ``python -m neural_core`` imports this checkout's core; unbuffered
    output so progress lines arrive as they are written."""
    env = dict(os.environ if environ is None else environ)
    root = repository_root() if root is None else root
    if root is not None:
        parts = [str(root)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
        env["PYTHONPATH"] = os.pathsep.join(parts)
    env["PYTHONUNBUFFERED"] = "1"
    return env


@dataclass
class RenderRequest:
    """What one worker run renders. Paths are absolute."""

    shot: str  # shot folder written by the exporter
    out: str  # folder for the frames, named by ``name``
    frame_start: int
    frame_end: int  # inclusive
    file_format: str = "png"  # "png" | "exr"
    png_depth: int = 8  # bits per channel of PNG output: 8 | 16
    model: str = ""  # checkpoint path; "" = the bundled default model
    device: str = "auto"  # "auto" | "cpu" | "cuda"
    appearance: int | str = 0  # the look, fixed per shot: a seed, "mean", "typical" or "frame:N" (contract/looks.py)
    smoothing: float = 0.0  # temporal filter on the conditioning: Gaussian sigma in frames, 0 = off
    stabilise_colour: bool = False  # hold the skin's colour to the shot's reference (needs the regions pass)
    stabilise_brightness: bool = False  # and its mean brightness (shots lit the same throughout)
    force: bool = False  # re-render frames the manifest says are up to date
    name: str = frames.DEFAULT_NAME  # output file pattern; the last run of '#' is the padded frame number
    extra: list = field(default_factory=list)  # further arguments, passed verbatim


def render_command(python, request):
    """The worker's argv for ``request``. Options the worker treats as defaults (8-bit
    PNG, no smoothing, no colour stabiliser, no force) are left out, keeping the line to the documented core:
    ``--json --out --frames --format --model --device --appearance --name``."""
    args = [
        python, "-m", "neural_core", "render", request.shot,
        "--json",
        "--out", request.out,
        "--frames", f"{request.frame_start}-{request.frame_end}",
        "--format", request.file_format,
        "--model", request.model or "default",
        "--device", request.device,
        "--appearance", str(request.appearance),
        "--name", request.name,
    ]
    if request.file_format == "png" and int(request.png_depth) != 8:
        args += ["--depth", str(int(request.png_depth))]
    if request.smoothing > 0:
        args += ["--smoothing", f"{request.smoothing:g}"]
    if request.stabilise_colour:
        args.append("--stabilise-colour")
    if request.stabilise_brightness:
        args.append("--stabilise-brightness")
    if request.force:
        args.append("--force")
    return args + [str(a) for a in request.extra]


def output_path(out, frame, file_format="png", name=frames.DEFAULT_NAME):
    """The worker's output file for ``frame``: ``out/neural_0001.png`` (the same rule the
    worker follows, from the contract's ``frames`` module)."""
    return Path(out) / frames.output_file_name(frame, file_format, name)


def _read_lines(stream, lines):
    """Reader thread body: pipe -> queue, nothing else (no bpy). ``None`` marks the end."""
    try:
        for raw in iter(stream.readline, b""):
            lines.put(raw)
    except (OSError, ValueError):
        pass
    finally:
        lines.put(None)


class WorkerProcess:
    """One running worker. Call :meth:`poll` often from the main thread; it never blocks.

    Typical use: ``w = WorkerProcess(argv, env); w.start(); while w.poll(): ...``;
    then ``w.check()`` raises :class:`WorkerError` unless the worker succeeded.
    """

    def __init__(
        self,
        argv,  # command line, argv[0] = interpreter
        env=None,  # environment mapping (default: os.environ)
        cwd=None,  # working directory of the worker
        grace_s=10.0,  # after SIGINT, seconds before SIGTERM; again before SIGKILL
    ):
        self.argv = [str(a) for a in argv]
        self.env = env
        self.cwd = cwd
        self.grace_s = grace_s
        self.progress = JobProgress()
        self.process = None
        self.returncode = None
        self.cancel_requested_at = None
        self._escalation = 0  # signals sent: 1 SIGINT, 2 SIGTERM, 3 SIGKILL
        self._lines = queue.Queue()
        self._reader = None
        self._stderr = None
        self._stdout_closed = False

    # -- lifecycle ----------------------------------------------------------------
    def start(self):
        self._stderr = tempfile.TemporaryFile(prefix="neural_face_worker_", suffix=".log")
        kwargs = {}
        if os.name == "nt":
            kwargs["creationflags"] = subprocess.CREATE_NEW_PROCESS_GROUP
        else:
            kwargs["start_new_session"] = True  # own process group: signals reach only the worker
        try:
            self.process = subprocess.Popen(
                self.argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=self._stderr,
                env=self.env, cwd=self.cwd, **kwargs,
            )
        except OSError as error:
            self._stderr.close()
            raise WorkerError(f"cannot start the worker '{self.argv[0]}': {error.strerror or error}") from error
        self._reader = threading.Thread(
            target=_read_lines, args=(self.process.stdout, self._lines), name="neural-face-worker-reader", daemon=True
        )
        self._reader.start()
        return self

    @property
    def pid(self):
        return self.process.pid if self.process else None

    def poll(self):
        """Take in every line that arrived, escalate a pending cancel if its grace period
        ran out. Returns True while the worker is running or output is still pending."""
        while True:
            try:
                raw = self._lines.get_nowait()
            except queue.Empty:
                break
            if raw is None:
                self._stdout_closed = True
                break
            self.progress.add(parse_line(raw))
        if self.process is None:
            return False
        if self.returncode is None:
            self.returncode = self.process.poll()
        if self.returncode is None:
            self._escalate()
            return True
        if not self._stdout_closed:
            self._reader.join(timeout=0.0)
            return self._reader.is_alive() or not self._lines.empty()
        self._close_files()
        return False

    def wait(self, timeout=None, interval=0.05, on_poll=None):
        """Block until the worker exits (headless path). ``on_poll(progress)`` is called
        after each poll. Raises :class:`WorkerError` after ``timeout`` seconds (the worker
        is killed first)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll():
            if on_poll is not None:
                on_poll(self.progress)
            if deadline is not None and time.monotonic() > deadline:
                self.kill()
                raise WorkerError(f"the worker did not finish within {timeout:g} s and was killed")
            time.sleep(interval)
        if on_poll is not None:
            on_poll(self.progress)
        return self.returncode

    def cancel(self):
        """Ask the worker to stop after its current frame (SIGINT). If it is still alive
        ``grace_s`` later, :meth:`poll` sends SIGTERM, and ``grace_s`` after that SIGKILL."""
        if self.process is None or self.returncode is not None or self.cancel_requested_at is not None:
            return
        self.cancel_requested_at = time.monotonic()
        self._send(1)

    def kill(self):
        """Stop the worker at once (SIGKILL) and reap it."""
        if self.process is not None and self.process.poll() is None:
            self._send(3)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        self.poll()

    def _escalate(self):
        if self.cancel_requested_at is None or self._escalation >= 3:
            return
        waited = time.monotonic() - self.cancel_requested_at
        if waited > self.grace_s * self._escalation:
            self._send(self._escalation + 1)

    def _send(self, level):
        self._escalation = max(self._escalation, level)
        if os.name == "nt":
            sig = {1: signal.CTRL_BREAK_EVENT, 2: signal.SIGTERM}.get(level)
            if sig is None:
                self.process.kill()
            else:
                self.process.send_signal(sig)
            return
        sig = {1: signal.SIGINT, 2: signal.SIGTERM, 3: signal.SIGKILL}[level]
        try:
            os.killpg(self.process.pid, sig)
        except ProcessLookupError:
            pass

    def _close_files(self):
        if self.process is not None and self.process.stdout and not self.process.stdout.closed:
            self.process.stdout.close()

    # -- results ------------------------------------------------------------------
    def stderr_tail(self, limit=2000):
        """Last ``limit`` characters the worker wrote to stderr."""
        if self._stderr is None or self._stderr.closed:
            return ""
        self._stderr.seek(0, os.SEEK_END)
        size = self._stderr.tell()
        self._stderr.seek(max(0, size - limit * 4))
        return self._stderr.read().decode("utf-8", errors="replace")[-limit:].strip()

    def check(self):
        """Raise :class:`WorkerError` unless the worker exited 0; the message says why
        (the worker's ``error`` event, or the tail of its stderr)."""
        code = self.returncode
        if code == EXIT_OK:
            return
        if code is None:
            raise WorkerError("the worker is still running")
        if code == EXIT_CANCELLED or (self.cancel_requested_at is not None and code != EXIT_OK):
            last = self.progress.last_frame
            after = f" after frame {last}" if last is not None else " before the first frame was written"
            raise WorkerError(f"cancelled{after}", exit_code=EXIT_CANCELLED)
        detail = self.progress.error_message() or self.stderr_tail(600).splitlines()[-1:] or ["no message"]
        if isinstance(detail, list):
            detail = detail[0]
        meaning = {EXIT_BAD_INPUT: "bad input", EXIT_INTERNAL: "internal error"}.get(code)
        if meaning is None:
            meaning = f"killed by signal {-code}" if code < 0 else f"exit code {code}"
        raise WorkerError(f"the worker failed ({meaning}): {detail}", exit_code=code)

    def close(self):
        """Kill the worker if it still runs, reap it, release the pipe and the log file."""
        self.kill()
        if self._reader is not None:
            self._reader.join(timeout=2)
        self._close_files()
        if self._stderr is not None and not self._stderr.closed:
            self._stderr.close()


_ACTIVE = set()  # workers started by the add-on and not yet closed (cancelled on unregister)


def track(worker):
    _ACTIVE.add(worker)
    return worker


def untrack(worker):
    _ACTIVE.discard(worker)


def active_workers():
    return tuple(_ACTIVE)


def stop_all():
    """Kill every worker the add-on still runs (add-on disabled or Blender quitting)."""
    for worker in tuple(_ACTIVE):
        worker.close()
        _ACTIVE.discard(worker)

