"""The sample folder of an actor build (:mod:`.actor_build`): its files, what a new fit
makes stale, the lock against a second build, and the photo crop as the trainer's target.

Layout (``neural_core/train/dataset.py`` reads ``shot/``, ``targets/`` and ``frames.json``)::

    BUILD/shot/shot.json         every frame's record, written before any pass
    BUILD/shot/passes/####.exr   the passes of each frame
    BUILD/targets/####.png       the photo crop, sRGB RGB 8 bit
    BUILD/checks/####.json       per frame: crop hash and landmark check; present = the frame is whole
    BUILD/frames.json            written last: the build is complete
"""

import hashlib
import json
import os
import re
from pathlib import Path

import numpy as np

from ..core_link import NeuralFaceError
from ..core_link import shot as shot_format

COMPLETE = "frames.json"  # written last: the sample folder is complete
FRAME_FILE = re.compile(r"^-?\d{4,}\.(exr|png|json)$")  # the files a build owns in its folders


def crop_path(crops, frame):
    return Path(crops) / f"{int(frame):04d}.png"


def target_image(path, size):
    """The crop at ``path`` as the trainer's target: 8-bit RGB (PIL image) of ``size``."""
    from PIL import Image

    with Image.open(path) as image:
        image.load()
        if image.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N"):  # 16-bit grey
            pixels = np.asarray(image, dtype=np.float64)
            image = Image.fromarray(np.clip(np.round(pixels / 257.0), 0, 255).astype(np.uint8), "L")
        image = image.convert("RGB")
    if image.size != tuple(size):
        image = image.resize(tuple(size), Image.Resampling.LANCZOS)
    return image


def file_sha256(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _plain(value):
    return json.loads(json.dumps(value, default=lambda v: v.tolist() if hasattr(v, "tolist") else str(v)))


class BuildFolder:
    """The sample folder of one build: its files, what is stale, the lock."""

    def __init__(self, out):
        self.root = Path(out)
        self.shot = self.root / "shot"
        self.passes = self.shot / "passes"
        self.targets = self.root / "targets"
        self.checks = self.root / "checks"
        self._lock = None
        try:
            for folder in (self.passes, self.targets, self.checks):
                folder.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise NeuralFaceError(f"build folder '{self.root}' is not writable ({error.strerror or error})") from error

    def lock(self):
        """Refuse a second build running into the same folder (POSIX record lock)."""
        try:
            import fcntl
        except ImportError:  # Windows: not checked
            return
        try:
            self._lock = os.open(self.root / ".build.lock", os.O_RDWR | os.O_CREAT, 0o666)
        except OSError as error:
            raise NeuralFaceError(f"build folder '{self.root}' is not writable ({error.strerror or error})") from error
        try:
            fcntl.lockf(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            os.close(self._lock)
            self._lock = None
            raise NeuralFaceError(f"another build is running in '{self.root}'") from error

    def close(self):
        if self._lock is not None:
            os.close(self._lock)
            self._lock = None

    def paths(self, frame):
        """(passes EXR, target PNG, check JSON) of ``frame``."""
        return (shot_format.pass_path(self.shot, frame), self.targets / f"{frame:04d}.png",
                self.checks / f"{frame:04d}.json")

    def remove(self, frame):
        """Remove a frame's files, the check first (a check present = the frame is whole)."""
        for path in reversed(self.paths(frame)):
            path.unlink(missing_ok=True)

    def prepare(self, shot):
        """Remove what ``shot`` makes stale (every frame when a shot-wide fact changed, else
        the frames whose record changed or that are gone) and a killed build's temporary
        files, then write its shot.json."""
        from ..export.shared import first_difference

        new = _plain(shot_format.model.shot_to_dict(shot))
        try:
            old = shot_format.folder.load_shot_json(self.shot)
        except NeuralFaceError:
            old = None
        wide = ("frames", "source")
        kept = set()  # frames whose record is the same in the old and the new shot.json
        if old is not None and not first_difference({k: v for k, v in new.items() if k not in wide},
                                                    {k: v for k, v in old.items() if k not in wide}):
            wanted = {entry["frame"]: entry for entry in new["frames"]}
            kept = {entry.get("frame") for entry in old.get("frames", []) if isinstance(entry, dict)
                    and entry.get("frame") in wanted and not first_difference(wanted[entry["frame"]], entry)}
        present = {int(p.name.split(".")[0]) for folder in (self.passes, self.targets, self.checks)
                   for p in folder.iterdir() if FRAME_FILE.match(p.name)}
        stale = present - kept
        try:
            for folder in (self.root, self.shot, self.passes, self.targets, self.checks):
                for leftover in folder.glob(".*"):  # a killed build's temporaries (the lock keeps out a live one)
                    if (".partial-" in leftover.name or ".tmp-" in leftover.name) and leftover.is_file():
                        leftover.unlink()
            (self.root / COMPLETE).unlink(missing_ok=True)  # incomplete until the loop ends
            for frame in sorted(stale):
                self.remove(frame)
            shot_format.write_shot(self.shot, shot)
        except OSError as error:
            raise NeuralFaceError(f"cannot write the build's shot into '{self.shot}' ({error.strerror or error})") from error

    def done(self, frame, crop_hash):
        """True when ``frame`` is complete and made from a crop with ``crop_hash``."""
        exr, target, check = self.paths(frame)
        if not (exr.is_file() and target.is_file() and check.is_file()):
            return False
        try:
            return json.loads(check.read_text()).get("crop_sha256") == crop_hash
        except (OSError, ValueError):
            return False
