"""The user's footage of one real person, read as RGB frames (issue 14, actor models).

Two kinds of input, one interface (iterate for :class:`Frame` objects, ``frame(k)`` for
random access, ``warnings`` for what was skipped, ``close()``):

- :class:`PhotoFolder` (photos.py): a folder of photos, or one photo file. JPEG (MPO too) and PNG only,
  read by Pillow with every other Pillow format refused. EXIF orientation is applied;
  greyscale, palette, RGBA/LA (composited over mid grey), CMYK and 16-bit images become
  8-bit RGB. Photos are taken in natural name order (``IMG_2`` before ``IMG_10``); one
  that cannot be read is skipped and listed in ``warnings``, not fatal.
- :class:`Video` (video.py): any file PyAV/FFmpeg decodes (``av`` is imported on first use). Frame
  index ``k`` is the k-th frame the decoder puts out from the start of the first video
  stream (presentation order, counted, never derived from a frame rate), so variable
  frame rates are handled; each frame's time comes from its own pts and the stream's
  time_base. ``frame(k)`` seeks to the last keyframe at or before frame k and decodes
  forward; it returns the same pixels as frame k of a sequential read. The stream's
  display rotation (phones) is applied. ``stride`` keeps every stride-th frame.

Colours are the file's 8-bit values (no ICC/colour management); anamorphic pixel aspect
ratios are not resampled. Errors are :class:`FootageError` and name the file (and frame).
"""

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

try:
    from ..contract.errors import NeuralFaceError
except ImportError:  # before the contract package existed
    from ..errors import NeuralFaceError  # type: ignore[no-redef]

PHOTO_EXTENSIONS = (".jpg", ".jpeg", ".jpe", ".png")
DIAGONAL_35MM = math.hypot(36.0, 24.0)  # mm, the diagonal of a 36 x 24 mm frame
INSTALL_HINT = "install requirements/actor.txt: python -m pip install --no-deps -r requirements/actor.txt"


class FootageError(NeuralFaceError):
    """A photo or video cannot be used. ``file`` (and ``frame``, a frame index) say where."""

    def __init__(self, message, *, file=None, frame=None):
        self.file = str(file) if file is not None else None
        self.frame = frame
        where = [w for w in (self.file, None if frame is None else f"frame {frame}") if w]
        super().__init__((", ".join(where) + ": " if where else "") + message)
        self.reason = message


@dataclass(frozen=True)
class FocalHint:
    """What the file says about the lens, for the fitter's camera.

    ``focal_35mm``: 35 mm-equivalent focal length in mm (the diagonal definition: the
    focal length that gives the same diagonal field of view on a 36 x 24 mm frame).
    ``focal_mm``: the lens's real focal length in mm when the file has it. ``source``:
    which fields it came from.
    """

    focal_35mm: float
    source: str
    focal_mm: float | None = None

    def focal_px(self, width, height):
        """Focal length in pixels for an image of ``width`` x ``height`` pixels (either
        orientation: the diagonal does not change)."""
        return self.focal_35mm * math.hypot(width, height) / DIAGONAL_35MM


@dataclass(frozen=True, eq=False)
class Frame:
    """One frame of footage.

    ``image``: RGB uint8 [H, W, 3], upright (EXIF orientation / display rotation applied).
    ``index``: photos, the position in the folder's sorted photo list (skipped photos
    leave gaps); video, the decoder's output order from the start (0-based).
    ``time``: seconds since the video's first frame (from pts x time_base); None for photos.
    ``focal``: a :class:`FocalHint` or None.
    """

    source: Path
    index: int
    time: float | None
    image: np.ndarray
    focal: FocalHint | None = None

    @property
    def height(self):
        return int(self.image.shape[0])

    @property
    def width(self):
        return int(self.image.shape[1])

    @property
    def label(self):
        """How messages name this frame: the photo's file name, or ``clip.mp4 frame 12``."""
        return self.source.name if self.time is None else f"{self.source.name} frame {self.index}"


def positive_number(value):
    """An EXIF rational/int as a positive finite float, else None."""
    try:
        number = float(value)
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    return number if math.isfinite(number) and number > 0 else None
