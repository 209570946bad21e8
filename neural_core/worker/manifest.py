"""The render manifest: which output frame was made from which inputs.

``OUT/<name>.manifest.json`` maps each frame to the file written and the SHA-256 of
everything that decides its pixels (model file, render options, the frame's conditioning
and pass file). A rerun skips a frame whose file exists and whose hash matches; anything
else is rendered again. The manifest is rewritten atomically after every frame, so a
killed job loses at most the record of the frame in flight (which is then re-rendered).
"""

import hashlib
import json
from pathlib import Path

from ..contract.atomic import write_atomically

MANIFEST_VERSION = 1


def file_sha256(path, chunk=1 << 20):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def frame_hash(*parts):
    """SHA-256 over byte strings / JSON-able values, in order."""
    digest = hashlib.sha256()
    for part in parts:
        data = part if isinstance(part, bytes) else json.dumps(part, sort_keys=True).encode()
        digest.update(len(data).to_bytes(8, "little"))
        digest.update(data)
    return digest.hexdigest()


def _encode(record):
    return json.dumps(record, sort_keys=True)


class Manifest:
    """Per-frame records ``{frame: {"file": name, "hash": hex}}`` in one JSON file."""

    def __init__(self, path):
        self.path = Path(path)
        self.frames = {}
        if self.path.is_file():
            try:
                data = json.loads(self.path.read_text())
                if data.get("version") == MANIFEST_VERSION:
                    self.frames = {int(k): v for k, v in data.get("frames", {}).items()}
            except (ValueError, OSError, AttributeError):
                self.frames = {}  # unreadable: every frame is simply rendered again
        self._lines = {frame: _encode(record) for frame, record in self.frames.items()}  # frame -> its JSON text

    def is_current(self, frame, file_path, digest):
        record = self.frames.get(frame)
        return (record is not None and record.get("hash") == digest
                and record.get("file") == Path(file_path).name and Path(file_path).is_file())

    def record(self, frame, file_path, digest):
        self.frames[frame] = {"file": Path(file_path).name, "hash": digest}
        self._lines[frame] = _encode(self.frames[frame])
        self.save()

    def save(self):
        """Rewrite the file: one line per frame, each encoded once when recorded, so a save
        costs a join rather than re-encoding every record of a long shot."""
        body = ",\n".join(f' "{frame}": {self._lines[frame]}' for frame in sorted(self._lines))
        text = f'{{"version": {MANIFEST_VERSION}, "frames": {{\n{body}\n}}}}\n'
        write_atomically(self.path, lambda temporary: temporary.write_text(text))
