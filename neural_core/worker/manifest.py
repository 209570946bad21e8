"""Render records: which output frame was made from which inputs, per chunk.

Several processes may render chunks of one shot into one output folder at once (a farm,
docs/farm.md). Each process keeps its own manifest, ``OUT/<stem>.chunks/<chunk>.json``
(``neural.chunks/0001-0012.json``), so every manifest file has exactly one writer and
no lock is needed to update it; a reader merges all of them. (One shared manifest would
need a read-merge-write under a file lock for every frame, and locks are the part of
shared storage that is least reliable; :mod:`.chunks` uses them only to keep two
processes off the same frames.)

A record is ``{"file": name, "hash": hex, "stat": [size, mtime_ns, inode]}``: the SHA-256
of everything that decides the frame's pixels (see ``ShotRenderer.prepare``) and the
identity of the file written. A frame is current when some manifest holds a record
whose hash matches and whose stat is the file's now; so when two chunks have rendered
the same frame at different times only the record of the file on disk counts. Each
manifest is rewritten atomically after every frame, so a killed process loses at most
the record of the frame in flight (which is then rendered again).
"""

import hashlib
import json
import os
import socket
from pathlib import Path

from ..contract.atomic import write_atomically

MANIFEST_VERSION = 2  # 1: one OUT/<stem>.manifest.json hashing pass-file bytes (ignored now)


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


def array_parts(arrays):
    """Hash parts of a ``{name: numpy array}`` dict, names sorted: for each array its
    name, dtype and shape, then its raw bytes (C order). Volatile things around the pixels
    (EXR headers with render times, file names, compression) never enter."""
    import numpy as np

    parts = []
    for name in sorted(arrays):
        array = np.ascontiguousarray(arrays[name])
        parts.append([name, array.dtype.str, list(array.shape)])
        parts.append(array.tobytes())
    return parts


def file_identity(path):
    """``[size, mtime_ns, inode]`` of ``path``: changes whenever the file is replaced."""
    stat = os.stat(path)
    return [stat.st_size, stat.st_mtime_ns, stat.st_ino]


def _encode(record):
    return json.dumps(record, sort_keys=True)


def load_manifest(path):
    """A manifest file's dict, or None when missing, unreadable or of another version."""
    try:
        data = json.loads(Path(path).read_text())
    except (ValueError, OSError):
        return None  # unreadable: its frames are simply rendered again
    if not isinstance(data, dict) or data.get("version") != MANIFEST_VERSION or not isinstance(data.get("records"), dict):
        return None
    return data


class Manifest:
    """This process's chunk manifest, plus the records of every other chunk in the folder.

    ``folder``: ``OUT/<stem>.chunks``; ``chunk``: this chunk's name (see
    :func:`.chunks.chunk_name`); ``header``: JSON-able facts written at the top of the
    file (``spans`` locked, ``job`` fingerprint, ...). Records this chunk made in an
    earlier run (same name) are kept.
    """

    def __init__(self, folder, chunk, header=None):
        self.folder = Path(folder)
        self.chunk = chunk
        self.path = self.folder / f"{chunk}.json"
        self.header = {"host": socket.gethostname(), "pid": os.getpid(), **(header or {})}
        self.frames = {}  # frame -> this chunk's record
        self.others = {}  # other chunk name -> its manifest dict (header + records)
        for path in sorted(self.folder.glob("*.json")) if self.folder.is_dir() else ():
            data = load_manifest(path)
            if data is None:
                continue
            if path.name == self.path.name:
                self.frames = {int(k): v for k, v in data["records"].items() if isinstance(v, dict)}
            else:
                self.others[path.stem] = data
        self._lines = {frame: _encode(record) for frame, record in self.frames.items()}  # frame -> its JSON text

    def records(self, frame):
        """Every record of ``frame``: this chunk's first, then the other chunks'."""
        own = self.frames.get(frame)
        found = [own] if own is not None else []
        for data in self.others.values():
            record = data["records"].get(str(frame))
            if isinstance(record, dict):
                found.append(record)
        return found

    def is_current(self, frame, file_path, digest):
        """Whether ``file_path`` holds ``frame`` made from inputs hashing to ``digest``."""
        file_path = Path(file_path)
        wanted = [r for r in self.records(frame) if r.get("hash") == digest and r.get("file") == file_path.name]
        if not wanted:
            return False
        try:
            identity = file_identity(file_path)
        except OSError:
            return False
        return any(r.get("stat") == identity for r in wanted)

    def record(self, frame, file_path, digest):
        """Note that ``file_path`` (just written) holds ``frame`` for ``digest``; saves."""
        self.frames[frame] = {"file": Path(file_path).name, "hash": digest, "stat": file_identity(file_path)}
        self._lines[frame] = _encode(self.frames[frame])
        self.save()

    def save(self):
        """Rewrite this chunk's file: one line per frame, each encoded once when recorded,
        so a save costs a join rather than re-encoding every record of a long chunk."""
        body = ",\n".join(f' "{frame}": {self._lines[frame]}' for frame in sorted(self._lines))
        head = json.dumps({"version": MANIFEST_VERSION, "chunk": self.chunk, **self.header}, sort_keys=True)[:-1]
        text = f'{head}, "records": {{\n{body}\n}}}}\n'
        self.folder.mkdir(parents=True, exist_ok=True)
        write_atomically(self.path, lambda temporary: temporary.write_text(text))
