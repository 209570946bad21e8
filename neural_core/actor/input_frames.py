"""An actor's input frames: every photo of its footage, or every ``stride``-th frame of its video.

Input frames are numbered 0..N-1 in footage order (photos in each folder's natural name
order; a video's frames in decoder order). :class:`FootageReader` reads one input frame's
image again later (the fit step's crops) without decoding a whole video.
"""

from dataclasses import dataclass
from pathlib import Path

from .footage import PHOTO_EXTENSIONS
from .photos import PhotoFolder, load_photo
from .video import Video


def open_footage(path, *, stride=1):
    """A :class:`PhotoFolder` for a folder or a JPEG/PNG file, else a :class:`Video`."""
    path = Path(path)
    if path.is_dir() or path.suffix.lower() in PHOTO_EXTENSIONS:
        return PhotoFolder(path)
    return Video(path, stride=stride)


@dataclass(frozen=True)
class InputFrame:
    """One input frame of an actor."""

    number: int  # 0..N-1 over the whole footage
    entry: int  # which footage entry (actor.json "footage" list)
    name: str  # photo: its file name inside a folder entry ("" when the entry is the photo itself); video: ""
    index: int  # photo: position in its folder; video: frame index (decoder order, 0-based)
    label: str  # how messages name it: "IMG_0001.jpg", "clip.mp4 frame 12"

    def describe(self, paths):
        """{"file": path, "index": k} for provenance (``paths``: the actor's footage paths)."""
        path = Path(paths[self.entry])
        return {"file": str(path / self.name) if self.name else str(path), "index": self.index}


def list_input_frames(actor):
    """Every :class:`InputFrame` of the actor's footage (FootageError when an entry cannot be listed)."""
    frames = []
    for entry, path in enumerate(actor.footage_paths()):
        if actor.kind == "photos":
            folder = PhotoFolder(path)
            for index, photo in enumerate(folder.paths):
                name = photo.name if path.is_dir() else ""
                frames.append(InputFrame(len(frames), entry, name, index, photo.name))
        else:
            with Video(path, stride=actor.stride) as video:
                for index in video.indices:
                    frames.append(InputFrame(len(frames), entry, "", int(index), f"{path.name} frame {index}"))
    return frames


class FootageReader:
    """Reads input frames' images (RGB uint8 [H, W, 3], upright) on demand; one open video per entry."""

    def __init__(self, actor):
        self.paths = actor.footage_paths()
        self.kind = actor.kind
        self.stride = actor.stride
        self._videos = {}

    def read(self, frame):
        """The :class:`~.footage.Frame` of ``frame`` (an :class:`InputFrame`); FootageError if unreadable."""
        path = self.paths[frame.entry]
        if self.kind == "photos":
            return load_photo(path / frame.name if frame.name else path, frame.index)
        if frame.entry not in self._videos:
            self._videos[frame.entry] = Video(path, stride=self.stride)
        return self._videos[frame.entry].frame(frame.index)

    def close(self):
        for video in self._videos.values():
            video.close()
        self._videos.clear()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
