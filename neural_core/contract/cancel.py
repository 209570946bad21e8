"""Cooperative cancel on SIGINT/SIGTERM, checked between frames.

The first signal only sets a flag: the frame being made is finished and written, then
the job stops at the next :meth:`CancelToken.check`. A second SIGINT interrupts at once
(``KeyboardInterrupt``); files are written under temporary names and renamed, so even
then no partial frame file is left.
"""

import signal
import threading

from .errors import CancelledError

SIGNALS = tuple(s for s in (getattr(signal, "SIGINT", None), getattr(signal, "SIGTERM", None)) if s is not None)


class CancelToken:
    """Context manager: installs the handlers on enter, restores the previous ones on exit.

    Outside the main thread handlers cannot be installed; the token then only reacts
    to :meth:`cancel` (``installed`` is False).
    """

    def __init__(self):
        self.signal_name = None  # "SIGINT" / "SIGTERM" / "request" once cancelled
        self.installed = False
        self._previous = {}
        self._event = threading.Event()

    @property
    def cancelled(self):
        return self._event.is_set()

    def cancel(self, reason="request"):
        """Ask the job to stop after the current frame (also usable from another thread)."""
        if not self._event.is_set():
            self.signal_name = reason
            self._event.set()

    def _handle(self, signum, frame):
        name = signal.Signals(signum).name
        if self.cancelled and signum == signal.SIGINT:
            raise KeyboardInterrupt  # second Ctrl-C: stop now
        self.cancel(name)

    def check(self, after_frame=None):
        """Raise :class:`CancelledError` if a cancel was requested."""
        if self.cancelled:
            where = f" after frame {after_frame}" if after_frame is not None else " before the first frame"
            raise CancelledError(f"cancelled by {self.signal_name}{where}")

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for signum in SIGNALS:
                self._previous[signum] = signal.signal(signum, self._handle)
            self.installed = True
        return self

    def __exit__(self, *exc):
        for signum, previous in self._previous.items():
            signal.signal(signum, previous if previous is not None else signal.SIG_DFL)
        self._previous.clear()
        self.installed = False
        return False
