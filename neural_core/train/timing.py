"""Training time that leaves out the time a run spent stopped.

A run paused with SIGSTOP (``kill -STOP``, a job control stop, a scheduler suspending it) and
continued with SIGCONT would otherwise count the whole pause as one step's time: its
``train_seconds`` and its ``--minutes`` budget would both be off by the pause. SIGCONT is the
one signal of the pair a process can catch, so :class:`StepTimer` notes it, and a step it
arrived in counts as long as the median of the steps before it.
"""

import signal
import statistics
import threading
import time
from collections import deque

RECENT_STEPS = 50  # steps whose median stands in for a step that held a pause


class StepTimer:
    """Times training steps: ``start()`` before one, ``stop()`` after it returns its seconds.

    Used as a context manager it catches SIGCONT (main thread, POSIX only; elsewhere nothing
    changes). ``paused`` is the wall time taken out so far, for a wall-clock budget."""

    def __init__(self, clock=time.monotonic):
        self.clock = clock  # seconds, monotonic
        self.recent = deque(maxlen=RECENT_STEPS)  # seconds of the latest steps that held no pause
        self.paused = 0.0  # wall seconds left out of the steps that held a pause
        self.continued = False  # a SIGCONT arrived since the current step started
        self._started = None
        self._previous = None  # the SIGCONT handler this one replaced

    def __enter__(self):
        if hasattr(signal, "SIGCONT") and threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGCONT, self._on_continue)
        return self

    def __exit__(self, *exc):
        if self._previous is not None:
            signal.signal(signal.SIGCONT, self._previous)
            self._previous = None
        return False

    def _on_continue(self, signum, frame):
        self.continued = True

    def start(self):
        self.continued = False
        self._started = self.clock()

    def stop(self) -> float:
        """Seconds of the step since ``start()``; a step that held a pause counts the median of
        the recent ones (or its own time when there are none yet, or when that is shorter)."""
        seconds = self.clock() - self._started
        if not self.continued:
            self.recent.append(seconds)
        elif self.recent:
            counted = min(seconds, statistics.median(self.recent))
            self.paused += seconds - counted
            seconds = counted
        return seconds
