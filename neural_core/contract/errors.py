"""Error types of the neural core. Each carries a message meant for the user."""


class NeuralFaceError(Exception):
    """Base class: something the user can fix (bad file, bad argument), not a bug."""

    exit_code = 2  # worker protocol: 2 = bad input


class ShotFormatError(NeuralFaceError):
    """A shot folder breaks the format. Names the file, frame and field when known."""

    def __init__(self, message, *, file=None, frame=None, field=None):
        self.file = str(file) if file is not None else None
        self.frame = frame
        self.field = field
        self.reason = message  # the message without where
        where = []
        if self.file is not None:
            where.append(self.file)
        if frame is not None:
            where.append(f"frame {frame}")
        if field is not None:
            where.append(f"field '{field}'")
        prefix = ": ".join([", ".join(where)]) + ": " if where else ""
        super().__init__(prefix + message)
        self.reason = message


class CheckpointError(NeuralFaceError):
    """A model file cannot be loaded (unknown format, corrupt, refused global, ...)."""


class CancelledError(NeuralFaceError):
    """The job was cancelled (SIGINT/SIGTERM) after the last frame was safely written."""

    exit_code = 3
