"""One progress line for a training run: step, losses, seconds per step, time left.

On a terminal the line is redrawn in place (``\\r``); otherwise (a log file) a full
line is written at most every ``interval`` seconds. Goes to stderr by default.
"""

import sys
import time


def format_duration(seconds: float) -> str:
    seconds = max(0, int(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{seconds:02d}s"


class Progress:
    def __init__(
        self,
        total: int,  # the step the run ends at
        stream=None,  # default sys.stderr
        interval: float = 30.0,  # seconds between lines when not on a terminal
        width: int = 24,  # characters of the bar
    ):
        self.total = total
        self.stream = stream or sys.stderr
        self.interval = interval
        self.width = width
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.last_print = 0.0
        self.step_time = None  # moving average, seconds per step

    def update(self, step: int, losses: dict, step_seconds: float, deadline_seconds: float | None = None):
        """Report ``step`` (done), its losses and the duration of the last step."""
        self.step_time = step_seconds if self.step_time is None else 0.9 * self.step_time + 0.1 * step_seconds
        left = (self.total - step) * self.step_time
        if deadline_seconds is not None:
            left = min(left, max(0.0, deadline_seconds))
        done = int(self.width * step / max(1, self.total))
        bar = "#" * done + "-" * (self.width - done)
        text = " ".join(f"{k} {v:.4f}" for k, v in losses.items())
        line = f"step {step}/{self.total} [{bar}] {text} | {self.step_time:.2f} s/step, {format_duration(left)} left"
        now = time.monotonic()
        if self.tty:
            self.stream.write("\r" + line + "\x1b[K")
            self.stream.flush()
        elif now - self.last_print >= self.interval or step >= self.total:
            self.stream.write(line + "\n")
            self.stream.flush()
            self.last_print = now
        return line

    def close(self):
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()
