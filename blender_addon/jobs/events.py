"""The worker's JSON-lines events, folded into a progress record the UI can show.

Lines are parsed with the protocol's own client parser
(``neural_core.contract.protocol.parse_event``, reached through ``core_link``), which never raises
and turns anything that is not an event into ``{"event": "noise", "text": ...}``.
"""

from dataclasses import dataclass, field

from ..core_link import protocol


def parse_line(raw):
    """One stdout line (bytes or str) -> event dict with a string ``event`` key."""
    return protocol.parse_event(raw)


def format_duration(seconds):
    """``75`` -> ``"1:15"``; ``3725`` -> ``"1:02:05"``; None -> ``"--:--"``."""
    if seconds is None:
        return "--:--"
    seconds = max(0, int(round(seconds)))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


@dataclass
class JobProgress:
    """Everything the worker told us so far (events in, fields out)."""

    total: int = 0  # frames the worker will produce (from `start`, then `progress`)
    done: int = 0  # frames finished, written or skipped
    skipped: int = 0  # frames the worker found up to date
    fps: float | None = None  # frames per second over frames actually rendered
    eta_s: float | None = None  # seconds left, None until known
    last_frame: int | None = None  # frame number of the last finished frame
    last_path: str | None = None  # file written for it
    paths: dict = field(default_factory=dict)  # frame -> path written
    finished_frames: list = field(default_factory=list)  # frame numbers in the order they finished
    warnings: list = field(default_factory=list)
    errors: list = field(default_factory=list)  # `error` events as dicts
    noise: list = field(default_factory=list)  # non-protocol stdout lines (last 50)
    finished: bool = False  # a `done` event arrived
    status: str | None = None  # `done`'s status: ok, bad-input, cancelled, internal-error
    events: int = 0  # protocol events seen
    stage: str | None = None  # what the worker is doing between frames (the last progress event's ``stage``), else None

    @property
    def fraction(self):
        """0..1 share of frames finished."""
        return min(1.0, self.done / self.total) if self.total else 0.0

    def add(self, event):
        kind = event.get("event")
        if kind == "noise":
            if event.get("text", "").strip():
                self.noise = (self.noise + [event["text"]])[-50:]
            return
        self.events += 1
        if kind == "start":
            self.total = int(event.get("total") or 0)
        elif kind == "progress":
            self.done = int(event.get("done", self.done))
            self.total = int(event.get("total", self.total) or self.total)
            self.fps = event.get("fps")
            self.eta_s = event.get("eta_s")
            self.stage = str(event["stage"]) if event.get("stage") else None
        elif kind == "frame":
            frame = event.get("frame")
            self.last_frame = frame
            self.finished_frames.append(frame)
            if event.get("skipped"):
                self.skipped += 1
            if event.get("path"):
                self.last_path = event["path"]
                self.paths[frame] = event["path"]
        elif kind == "warning":
            self.warnings.append(str(event.get("message", "")))
        elif kind == "error":
            self.errors.append(event)
        elif kind == "done":
            self.finished = True
            self.status = event.get("status")
            self.done = int(event.get("done", self.done))
            self.skipped = int(event.get("skipped", self.skipped))

    def error_message(self):
        """The worker's own words for its failure (last `error` event), or None."""
        if not self.errors:
            return None
        error = self.errors[-1]
        where = [str(error[k]) if k == "file" else f"{k} {error[k]}" for k in ("file", "frame", "field") if error.get(k) is not None]
        message = str(error.get("message", "unknown error"))
        return f"{', '.join(where)}: {message}" if where else message

    def summary(self, done=None):
        """One line for a status bar or a log: ``Neural Face: 12/48 frames, 0.52 frames/s, 1:09 left``
        (``done`` overrides the count, for logging each finished frame)."""
        rate = f"{self.fps:.2f} frames/s" if self.fps else "-- frames/s"
        done = self.done if done is None else done
        return f"Neural Face: {done}/{self.total} frames, {rate}, {format_duration(self.eta_s)} left"
