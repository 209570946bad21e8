"""One render process's share of an output folder: its chunk of frames, locks, manifest, log.

Any ``python -m neural_core render`` run is a chunk: the frames it was asked for. Under
``OUT/<stem>.chunks/`` (``neural.chunks/`` for the default ``neural_####``) it keeps

- ``frames.lock``: one byte per frame number; a chunk holds POSIX record locks
  (``fcntl.lockf``, which NFS forwards to its lock manager) on the bytes of its frames
  while it runs. A second process asking for any of them is refused at once with a
  clear error; the kernel drops the locks of a process that dies (SIGKILL, a lost node
  once its NFS lease expires), so a rerun is never blocked by a crash;
- ``<chunk>.json``: its manifest (:mod:`.manifest`), one writer per file;
- ``<chunk>.log``: its log, the protocol events of every run of that chunk, one line
  each with time, host and pid.

The name of a chunk is its first and last frame (``0001-0012``), plus a short hash when it
is not every shot frame in between (``0001-0012.1a2b3c4d`` for ``1,5,12``). POSIX locks
belong to the process: two chunks in one process do not exclude each other, and closing
any descriptor of ``frames.lock`` in a process drops all its locks (one chunk per process).
"""

import errno
import hashlib
import json
import os
import socket
import time
from pathlib import Path

from ..contract.errors import NeuralFaceError
from ..contract.protocol import Reporter
from .manifest import Manifest, load_manifest

try:
    import fcntl
except ImportError:  # Windows: no record locks, nothing is checked
    fcntl = None

LOCK_FILE = "frames.lock"
STORAGE_FULL = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)  # what a full disk, quota or file-size limit raises
READ_ONLY = (errno.EROFS, errno.EACCES, errno.EPERM)


def chunk_name(frames, shot_frames):
    """``0001-0012`` for every shot frame from 1 to 12; with a hash of the list otherwise."""
    first, last = frames[0], frames[-1]
    name = f"{first:04d}-{last:04d}"
    if list(frames) != [f for f in shot_frames if first <= f <= last]:
        name += "." + hashlib.sha256(json.dumps(list(frames)).encode()).hexdigest()[:8]
    return name


def spans(frames, shot_frames):
    """``frames`` as ``[[first, last], ...]``: runs of consecutive shot frames (a stepped
    shot's 1, 3, 5 is one run ``[1, 5]``), so a chunk is one lock range."""
    position = {frame: index for index, frame in enumerate(shot_frames)}
    runs = []
    for frame in frames:
        if runs and position.get(frame) == position.get(runs[-1][1], -2) + 1:
            runs[-1][1] = frame
        else:
            runs.append([frame, frame])
    return runs


def subtract(runs, taken):
    """Parts of the ``[first, last]`` runs not covered by the runs ``taken``."""
    left = [list(run) for run in runs]
    for low, high in taken:
        next_left = []
        for first, last in left:
            if last < low or first > high:
                next_left.append([first, last])
                continue
            if first < low:
                next_left.append([first, low - 1])
            if last > high:
                next_left.append([high + 1, last])
        left = next_left
    return left


def _format_runs(runs):
    return ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in runs)


class FrameLocks:
    """Record locks on ``frames.lock``, one byte per frame number. On a file system
    without record locks :attr:`available` turns False and nothing is checked."""

    def __init__(self, path):
        self.path = Path(path)
        self.available = fcntl is not None
        self.fd = None
        self.held = []
        if self.available:
            try:
                self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
            except PermissionError:  # another farm user's lock file, not writable by us: nothing is checked
                self.available = False

    def _lock(self, command, first, last):
        fcntl.lockf(self.fd, command, last - first + 1, first, os.SEEK_SET)

    def claim(self, runs):
        """Lock ``runs`` exclusively; returns the runs another process holds (then
        nothing is kept locked), or [] on success."""
        if not self.available:
            return []
        for index, (first, last) in enumerate(runs):
            try:
                self._lock(fcntl.LOCK_EX | fcntl.LOCK_NB, first, last)
            except OSError as error:
                if error.errno == errno.ENOLCK:  # e.g. NFS mounted with nolock
                    self.available = False
                    return []
                if error.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
                for done_first, done_last in runs[:index]:
                    self._lock(fcntl.LOCK_UN, done_first, done_last)
                return self.busy(runs[index:])
        self.held = [list(run) for run in runs]
        return []

    def busy(self, runs, limit=10000):
        """The parts of ``runs`` (not ours) another process has locked (frame by frame,
        up to ``limit`` frames: only used to word an error)."""
        found = []
        for first, last in subtract(runs, self.held):
            for frame in range(first, min(last, first + limit) + 1):
                if self._probe(frame, frame):
                    if found and found[-1][1] == frame - 1:
                        found[-1][1] = frame
                    else:
                        found.append([frame, frame])
        return found

    def _probe(self, first, last):
        """Whether another process locks any of ``first..last`` (never one of ours)."""
        try:
            self._lock(fcntl.LOCK_SH | fcntl.LOCK_NB, first, last)
        except OSError as error:
            if error.errno in (errno.EAGAIN, errno.EACCES):
                return True
            raise
        self._lock(fcntl.LOCK_UN, first, last)
        return False

    def live(self, runs):
        """Whether another process holds a lock on any frame of ``runs`` (minus ours)."""
        if not self.available:
            return False
        return any(self._probe(first, last) for first, last in subtract(runs, self.held))

    def close(self):
        if self.fd is not None:
            os.close(self.fd)  # drops every lock of this process on the file
            self.fd = None


class ChunkLog(Reporter):
    """Passes every event on to ``inner`` and appends it to ``path`` as
    ``<UTC time> <host>:<pid> <JSON event>``. A log that cannot be written (full disk)
    is dropped with a note on stderr; the render goes on."""

    def __init__(self, inner, path):
        self.inner = inner
        self.path = Path(path)
        self.prefix = f"{socket.gethostname()}:{os.getpid()}"
        try:
            self.handle = open(self.path, "a", encoding="utf-8")
        except OSError:
            self.handle = None

    def emit(self, event, **fields):
        self.inner.emit(event, **fields)
        if self.handle is None:
            return
        from ..contract.protocol import format_event

        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())
        try:
            self.handle.write(f"{stamp} {self.prefix} {format_event(event, **fields)}\n")
            self.handle.flush()
        except OSError as error:
            import sys

            print(f"neural_core: chunk log {self.path} dropped ({error.strerror})", file=sys.stderr)
            self._close_handle()

    def _close_handle(self):
        handle, self.handle = self.handle, None
        if handle is not None:
            try:
                handle.close()
            except OSError:
                pass

    def close(self):
        self._close_handle()
        self.inner.close()


class OutputChunk:
    """Claims ``frames`` of the output folder for this process and loads the records.

    ``out``: output folder; ``stem``: output name without ``#`` (``neural``);
    ``frames``: this chunk's frame numbers (sorted); ``shot_frames``: every frame of the
    shot; ``job``: JSON-able fingerprint of what this run makes (model, options, shot);
    ``file_names``: ``{frame: output file name}``, whose leftover temporary files are
    removed once the frames are ours.

    Raises NeuralFaceError when another live process renders any of these frames, or
    renders into this folder with another ``job`` (a different model, options or shot).
    Finished chunks with another ``job`` only give :attr:`warnings`: their frames are
    rendered again when their chunk runs again.
    """

    def __init__(self, out, stem, frames, shot_frames, job, file_names):
        self.out = Path(out)
        self.folder = self.out / f"{stem}.chunks"
        self.name = chunk_name(frames, shot_frames)
        self.spans = spans(frames, shot_frames)
        self.job = job
        self.warnings = []
        try:
            self.folder.mkdir(exist_ok=True)
            self.locks = FrameLocks(self.folder / LOCK_FILE)
        except OSError as error:
            raise storage_error(error, self.folder, "cannot create the chunk folder") from error
        busy = self.locks.claim(self.spans)
        if busy:
            holders = self._holders(busy)
            self.locks.close()
            raise NeuralFaceError(
                f"{self.out}: frames {_format_runs(busy)} are being rendered by another process right now "
                f"({holders}); chunks running at the same time must not overlap")
        if not self.locks.available:
            self.warnings.append(f"{self.folder}: no record locks here (a file system without them, or "
                                 f"{LOCK_FILE} not writable by this user): chunks rendering at once are not "
                                 "checked for overlap")
        self._remove_leftovers(file_names)
        self.manifest = Manifest(self.folder, self.name, {"spans": self.spans, "job": job})
        try:
            self.manifest.save()  # announce our job before looking at the others (two starting at once see each other)
        except OSError as error:
            self.locks.close()
            raise storage_error(error, self.manifest.path, "cannot write the chunk manifest") from error
        self._check_other_jobs()

    def _holders(self, busy):
        """Who holds ``busy``, from the live chunks' manifests (words for an error)."""
        names = []
        for path in sorted(self.folder.glob("*.json")):
            data = load_manifest(path) or {}
            spans = data.get("spans") or []
            if subtract(busy, spans) != busy and self.locks.live(spans):
                names.append(f"chunk {path.stem}, pid {data.get('pid')} on {data.get('host')}")
        return "; ".join(names) or "see the logs in " + str(self.folder)

    def _check_other_jobs(self):
        stale = []
        for name, data in self.manifest.others.items():
            if data.get("job") == self.job:
                continue
            if self.locks.live(data.get("spans") or []):
                self.locks.close()
                raise NeuralFaceError(
                    f"{self.out}: another render is writing into this folder right now with a different "
                    f"{_difference(data.get('job'), self.job)} (chunk {name}, pid {data.get('pid')} on "
                    f"{data.get('host')}); use one output folder per model, options and shot")
            stale.append(name)
        if stale:
            self.warnings.append(
                f"{self.folder}: chunk(s) {', '.join(stale)} were rendered with a different "
                f"{_difference(self.manifest.others[stale[0]].get('job'), self.job)}; their frames are "
                "rendered again when those chunks run again")

    def _remove_leftovers(self, file_names):
        """Temporary files a killed run of these frames left (``.name.tmp-<pid>``)."""
        for name in [*file_names.values()]:
            for leftover in self.out.glob(f".{name}.tmp-*"):
                leftover.unlink(missing_ok=True)
        for leftover in self.folder.glob(f".{self.name}.json.tmp-*"):
            leftover.unlink(missing_ok=True)

    def log(self, reporter):
        """``reporter`` that also appends every event to this chunk's log file."""
        return ChunkLog(reporter, self.folder / f"{self.name}.log")

    def close(self):
        self.locks.close()


def _difference(theirs, ours):
    """Which part of two job fingerprints differs, in words."""
    theirs = theirs if isinstance(theirs, dict) else {}
    keys = [key for key in sorted(set(theirs) | set(ours)) if theirs.get(key) != ours.get(key)]
    words = {"model_sha256": "model", "shot_sha256": "shot (shot.json)", "options": "render options"}
    return ", ".join(words.get(key, key) for key in keys) or "job"


def storage_error(error, path, doing):
    """A NeuralFaceError for an OSError while writing ``path`` that names full or
    read-only storage plainly (one line, no traceback)."""
    if error.errno in STORAGE_FULL:
        reason = f"the storage is full ({error.strerror})"
    elif error.errno in READ_ONLY:
        reason = f"the folder is read-only or not ours ({error.strerror})"
    else:
        reason = error.strerror or str(error)
    return NeuralFaceError(f"{path}: {doing}: {reason}")
