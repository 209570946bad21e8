"""The user's footage of one real person, read as RGB frames (issue 14, actor models).

Two kinds of input, one interface (iterate for :class:`Frame` objects, ``frame(k)`` for
random access, ``warnings`` for what was skipped, ``close()``):

- :class:`PhotoFolder`: a folder of photos, or one photo file. JPEG (MPO too) and PNG only,
  read by Pillow with every other Pillow format refused. EXIF orientation is applied;
  greyscale, palette, RGBA/LA (composited over mid grey), CMYK and 16-bit images become
  8-bit RGB. Photos are taken in natural name order (``IMG_2`` before ``IMG_10``); one
  that cannot be read is skipped and listed in ``warnings``, not fatal.
- :class:`Video`: any file PyAV/FFmpeg decodes (``av`` is imported on first use). Frame
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
import re
from bisect import bisect_right
from dataclasses import dataclass
from pathlib import Path

import numpy as np

try:
    from ..contract.errors import NeuralFaceError
except ImportError:  # before the contract package existed
    from ..errors import NeuralFaceError  # type: ignore[no-redef]

PHOTO_EXTENSIONS = (".jpg", ".jpeg", ".jpe", ".png")
PILLOW_FORMATS = ["JPEG", "PNG"]  # everything else Pillow knows is refused (MPO opens as JPEG)
DIAGONAL_35MM = math.hypot(36.0, 24.0)  # mm, the diagonal of a 36 x 24 mm frame
ALPHA_BACKGROUND = 128  # grey level transparent pixels are composited over
INSTALL_HINT = "install requirements/actor.txt: python -m pip install --no-deps -r requirements/actor.txt"
# EXIF tags (Exif sub-IFD unless noted)
_EXIF_IFD = 0x8769
_FOCAL_LENGTH, _FOCAL_35MM = 0x920A, 0xA405
_PLANE_XRES, _PLANE_YRES, _PLANE_UNIT = 0xA20E, 0xA20F, 0xA210
_PIXEL_X, _PIXEL_Y = 0xA002, 0xA003
_PLANE_UNIT_MM = {2: 25.4, 3: 10.0, 4: 1.0, 5: 0.001}  # EXIF FocalPlaneResolutionUnit; 2 (inch) is the default
_VIDEO_FOCAL_KEYS = ("com.apple.quicktime.camera.focal_length.35mm_equivalent",)


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


def open_footage(path, *, stride=1):
    """A :class:`PhotoFolder` for a folder or a JPEG/PNG file, else a :class:`Video`."""
    path = Path(path)
    if path.is_dir() or path.suffix.lower() in PHOTO_EXTENSIONS:
        return PhotoFolder(path)
    return Video(path, stride=stride)


# -- photos ---------------------------------------------------------------------------
def load_photo(path, index=0):
    """Read one photo as an upright 8-bit RGB :class:`Frame`; :class:`FootageError` if unreadable."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    path = Path(path)
    try:
        with Image.open(path, formats=PILLOW_FORMATS) as image:
            image.load()  # decode now: a truncated file fails here, not later
            focal = _focal_from_exif(image.getexif(), image.size)
            upright = ImageOps.exif_transpose(image)
            rgb = _to_rgb8(upright)
    except FileNotFoundError:
        raise FootageError("no such file", file=path) from None
    except IsADirectoryError:
        raise FootageError("is a folder, not a photo", file=path) from None
    except PermissionError:
        raise FootageError("permission denied", file=path) from None
    except UnidentifiedImageError:
        raise FootageError("not a JPEG or PNG image (or not one Pillow can read)", file=path) from None
    except Image.DecompressionBombError as error:
        raise FootageError(f"image too large to read safely: {error}", file=path) from None
    except (OSError, SyntaxError, ValueError, EOFError) as error:
        raise FootageError(f"cannot read the image (truncated or corrupt?): {error}", file=path) from None
    return Frame(source=path, index=index, time=None, image=rgb, focal=focal)


def _to_rgb8(image):
    """Any Pillow image -> RGB uint8 [H, W, 3]. 16-bit and 32-bit integer greyscale
    ("I;16*", "I") are scaled from 0..65535; alpha is composited over grey 128."""
    from PIL import Image

    mode = image.mode
    if mode.startswith("I"):
        values = np.clip(np.asarray(image).astype(np.int64), 0, 65535)
        grey = ((values * 255 + 32767) // 65535).astype(np.uint8)
        return np.ascontiguousarray(np.repeat(grey[..., None], 3, axis=2))
    if mode == "F":
        grey = np.clip(np.asarray(image, dtype=np.float64) * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return np.ascontiguousarray(np.repeat(grey[..., None], 3, axis=2))
    if "A" in mode or "a" in mode or "transparency" in image.info:
        rgba = image.convert("RGBA")
        canvas = Image.new("RGBA", rgba.size, (ALPHA_BACKGROUND,) * 3 + (255,))
        canvas.alpha_composite(rgba)
        image = canvas
    return np.ascontiguousarray(np.asarray(image.convert("RGB"), dtype=np.uint8))


def _number(value):
    """An EXIF rational/int as a positive finite float, else None."""
    try:
        number = float(value)
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    return number if math.isfinite(number) and number > 0 else None


def _focal_from_exif(exif, size):
    """FocalLengthIn35mmFilm, else FocalLength with the sensor size from the focal-plane
    resolution tags; None when neither is there (or the values are implausible)."""
    sub = exif.get_ifd(_EXIF_IFD)
    focal_mm = _number(sub.get(_FOCAL_LENGTH))
    focal_35 = _number(sub.get(_FOCAL_35MM))
    if focal_35 is not None and 4.0 <= focal_35 <= 2000.0:
        return FocalHint(focal_35, "EXIF FocalLengthIn35mmFilm", focal_mm)
    xres, yres = _number(sub.get(_PLANE_XRES)), _number(sub.get(_PLANE_YRES))
    unit_mm = _PLANE_UNIT_MM.get(int(_number(sub.get(_PLANE_UNIT)) or 2))
    if focal_mm is None or xres is None or unit_mm is None:
        return None
    width = _number(sub.get(_PIXEL_X)) or size[0]
    height = _number(sub.get(_PIXEL_Y)) or size[1]
    sensor_diagonal = math.hypot(width / xres * unit_mm, height / (yres or xres) * unit_mm)
    if not 1.0 <= sensor_diagonal <= 100.0:  # cameras do write nonsense here
        return None
    focal_35 = focal_mm * DIAGONAL_35MM / sensor_diagonal
    return FocalHint(focal_35, "EXIF FocalLength + FocalPlaneX/YResolution", focal_mm)


def _natural_key(path):
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", path.name)]


class PhotoFolder:
    """The photos of a folder (or one photo file), read one at a time.

    ``paths``: the JPEG/PNG files in natural name order (hidden files ignored; other files
    are listed in ``warnings``). Iterating yields a :class:`Frame` per readable photo and
    adds one warning per skipped photo; if none at all can be read it raises.
    """

    def __init__(self, path):
        self.path = Path(path)
        self._listing_warnings = []
        self.skipped = []  # (path, reason) of the last iteration
        if self.path.is_file():
            self.paths = [self.path]
            return
        if not self.path.is_dir():
            raise FootageError("no such folder or photo", file=self.path)
        files = sorted((p for p in self.path.iterdir() if p.is_file() and not p.name.startswith(".")), key=_natural_key)
        self.paths = [p for p in files if p.suffix.lower() in PHOTO_EXTENSIONS]
        others = [p.name for p in files if p.suffix.lower() not in PHOTO_EXTENSIONS]
        if not self.paths:
            shown = ", ".join(others[:5]) + (", ..." if len(others) > 5 else "")
            found = f" (it holds only: {shown})" if others else " (it is empty)"
            raise FootageError(f"no JPEG or PNG photos in this folder{found}", file=self.path)
        if others:
            shown = ", ".join(others[:5]) + (f" and {len(others) - 5} more" if len(others) > 5 else "")
            self._listing_warnings.append(f"{self.path}: ignored {len(others)} file(s) that are not JPEG or PNG: {shown}")

    @property
    def warnings(self):
        return self._listing_warnings + [f"skipped {path}: {reason}" for path, reason in self.skipped]

    def __len__(self):
        return len(self.paths)

    def frame(self, index):
        """Photo ``index`` of ``paths``; raises :class:`FootageError` if it is unreadable."""
        if not 0 <= index < len(self.paths):
            raise FootageError(f"photo {index} is out of range (0..{len(self.paths) - 1})", file=self.path)
        return load_photo(self.paths[index], index)

    def __iter__(self):
        self.skipped = []
        for index, path in enumerate(self.paths):
            try:
                frame = load_photo(path, index)
            except FootageError as error:
                self.skipped.append((path, error.reason))
                continue
            yield frame
        if len(self.skipped) == len(self.paths):
            reasons = "; ".join(f"{p.name}: {r}" for p, r in self.skipped[:5])
            raise FootageError(f"none of the {len(self.paths)} photo(s) could be read ({reasons})", file=self.path)

    def close(self):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


# -- video ----------------------------------------------------------------------------
def _import_av():
    try:
        import av
    except ImportError:
        raise NeuralFaceError(f"reading videos needs PyAV (the 'av' package), which this Python lacks; {INSTALL_HINT}") from None
    return av


def _reason(error):
    """An FFmpeg error's message without the file name (FootageError adds that)."""
    return getattr(error, "strerror", None) or str(error)


def _focal_from_metadata(*metadata):
    for tags in metadata:
        tags = {str(key).lower(): value for key, value in tags.items()}  # Matroska upper-cases tag names
        for key in _VIDEO_FOCAL_KEYS:
            focal_35 = _number(tags.get(key))
            if focal_35 is not None and 4.0 <= focal_35 <= 2000.0:
                return FocalHint(focal_35, f"video metadata {key}")
    return None


@dataclass(frozen=True)
class _Index:
    pts: tuple  # presentation timestamps of frames 0..n-1 (stream time_base), ascending
    keyframes: tuple  # (pts, seek offset) per keyframe, ascending pts; empty: seek from the start
    time_base: object  # fractions.Fraction, seconds per pts unit


class Video:
    """The first video stream of a file, as :class:`Frame` objects.

    The frame table (every frame's pts, the keyframes) is built on first use by reading
    the file's packets without decoding them. Iterating decodes the whole stream once and
    yields frames ``0, stride, 2 * stride, ...``; ``frame(k)`` ignores ``stride``.
    Frames the decoder cannot produce are skipped and listed in ``warnings``.
    """

    def __init__(self, path, *, stride=1):
        self.path = Path(path)
        if isinstance(stride, bool) or not isinstance(stride, int) or stride < 1:
            raise FootageError(f"stride must be a whole number >= 1, got {stride!r}", file=self.path)
        self.stride = stride
        self.warnings = []
        self._av = _import_av()
        if not self.path.is_file():
            raise FootageError("no such file" if not self.path.exists() else "not a file", file=self.path)
        container = self._open()
        try:
            demuxer = container.format.name
            if demuxer == "tty" or demuxer == "image2" or demuxer.endswith("_pipe"):
                what = "text" if demuxer == "tty" else "a still image"
                raise FootageError(f"not a video: FFmpeg reads it as {what} ({container.format.long_name})", file=self.path)
            attached = self._av.stream.Disposition.attached_pic  # cover art is no video
            streams = [s for s in container.streams.video if not s.disposition & attached]
            if not streams:
                kinds = [s.type for s in container.streams]
                found = ", ".join(f"{kinds.count(k)} {k}" for k in dict.fromkeys(kinds)) or "no streams at all"
                raise FootageError(f"has no video stream (found: {found})", file=self.path)
            self._stream_index = streams[0].index
            self.focal = _focal_from_metadata(container.metadata, streams[0].metadata)
            if len(streams) > 1:
                self.warnings.append(f"{self.path}: {len(streams)} video streams, reading the first (#{self._stream_index})")
        except BaseException:
            container.close()
            raise
        self._seeker = container  # kept open for frame(k)
        self._cursor = None  # (decoding generator of _seeker, pts of the frame it gave last)
        self._table = None

    # -- the frame table ---------------------------------------------------------------
    @property
    def frame_count(self):
        return len(self._index().pts)

    @property
    def times(self):
        """Seconds since the first frame, per frame index (list of float)."""
        index = self._index()
        return [float((p - index.pts[0]) * index.time_base) for p in index.pts]

    @property
    def indices(self):
        """The frame indices iteration yields."""
        return range(0, self.frame_count, self.stride)

    def __len__(self):
        return len(self.indices)

    def _index(self):
        if self._table is None:
            self._table = self._scan()
        return self._table

    def _open(self):
        try:
            return self._av.open(str(self.path), mode="r")
        except self._av.FFmpegError as error:
            raise FootageError(f"not a video FFmpeg can read (corrupt or truncated?): {_reason(error)}", file=self.path) from None

    def _scan(self):
        container = self._open()
        try:
            stream = container.streams[self._stream_index]
            time_base, pts, keyframes = stream.time_base, [], []
            if stream.duration and time_base:  # the video's own length, else the file's (seconds)
                declared = float(stream.duration * time_base)
            else:
                declared = container.duration / 1e6 if container.duration else None
            for packet in self._packets(container, stream):
                if packet.pts is None:  # e.g. a raw elementary stream: decode to learn the pts
                    pts, keyframes = self._decoded_pts(), []
                    break
                pts.append(packet.pts)
                if packet.is_keyframe:
                    keyframes.append((packet.pts, min(t for t in (packet.pts, packet.dts) if t is not None)))
        finally:
            container.close()
        if not pts:
            raise FootageError("the video stream has no frames", file=self.path)
        if time_base is None:
            raise FootageError("the video stream has no time base", file=self.path)
        unique = sorted(set(pts))
        if len(unique) < len(pts):
            repeats = len(pts) - len(unique)
            self.warnings.append(f"{self.path}: {repeats} frame(s) repeat another frame's timestamp; each timestamp is read once")
        last = float((unique[-1] - unique[0]) * time_base)
        if declared is not None and declared - last > max(0.5, 0.05 * declared):
            self.warnings.append(
                f"{self.path}: the file declares {declared:.2f} s but its frames stop at {last:.2f} s (truncated?)"
            )
        return _Index(tuple(unique), tuple(sorted(keyframes)), time_base)

    def _decoded_pts(self):
        container = self._open()
        try:
            stream = container.streams[self._stream_index]
            pts = [frame.pts for frame in self._decoded(container, stream)]
        finally:
            container.close()
        if None in pts:
            raise FootageError(
                "its frames carry no timestamps; remux it first, e.g. ffmpeg -i IN -c copy OUT.mkv", file=self.path
            )
        return pts

    def _packets(self, container, stream):
        """The stream's packets, without the empty flush packets and discarded ones."""
        try:
            for packet in container.demux(stream):
                if packet.size and not packet.is_discard:
                    yield packet
        except self._av.FFmpegError as error:
            raise FootageError(f"cannot read the video (truncated or corrupt?): {_reason(error)}", file=self.path) from None

    def _decoded(self, container, stream):
        """Decoded frames; a packet the decoder rejects is skipped (its frame is missed)."""
        packets = container.demux(stream)
        while True:
            try:
                packet = next(packets)
            except StopIteration:
                return
            except self._av.FFmpegError as error:
                raise FootageError(f"cannot read the video (truncated or corrupt?): {_reason(error)}", file=self.path) from None
            try:
                frames = packet.decode()
            except self._av.FFmpegError as error:
                self.warnings.append(f"{self.path}: the decoder rejected a packet (pts {packet.pts}): {_reason(error)}")
                continue
            yield from frames

    # -- reading -----------------------------------------------------------------------
    def __iter__(self):
        index = self._index()
        position = {p: i for i, p in enumerate(index.pts)}
        container = self._open()
        try:
            stream = container.streams[self._stream_index]
            stream.thread_type = "AUTO"
            expected = 0
            for decoded in self._decoded(container, stream):
                i = position.get(decoded.pts)
                if i is None or i < expected:
                    continue
                if i > expected:
                    self._warn_missing(expected, i - 1)
                expected = i + 1
                if i % self.stride == 0:
                    yield self._frame(decoded, i, index)
            if expected < len(index.pts):
                self._warn_missing(expected, len(index.pts) - 1)
        finally:
            container.close()

    def _warn_missing(self, first, last):
        span = f"frame {first}" if first == last else f"frames {first}-{last}"
        self.warnings.append(f"{self.path}: {span} could not be decoded and were skipped")

    def frame(self, index):
        """Frame ``index`` (decoder output order, 0-based) by seeking: equal to the frame a
        sequential read gives at that index."""
        table = self._index()
        count = len(table.pts)
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)) or not 0 <= index < count:
            raise FootageError(f"frame {index!r} is out of range: the video has {count} frames (0..{count - 1})", file=self.path)
        index = int(index)
        target = table.pts[index]
        if self._cursor is not None:  # still inside the GOP decoded last time: decode on
            generator, last = self._cursor
            keys = [k for k, _ in table.keyframes]
            if last < target and bisect_right(keys, target) == bisect_right(keys, last):
                found = self._decode_until(generator, target)
                if found is not None:
                    return self._frame(found, index, table)
        before = [offset for pts, offset in table.keyframes if pts <= target]
        for offset in before[::-1][:2] + [None]:  # the keyframe at/before, the one before that, the start
            found = self._decode_until(self._seek(offset), target)
            if found is not None:
                return self._frame(found, index, table)
        raise FootageError("could not be decoded", file=self.path, frame=index)

    def _seek(self, offset):
        """A decoding generator positioned at the keyframe at/before ``offset`` (None: the start)."""
        self._cursor = None
        if offset is not None:
            try:
                self._seeker.seek(offset, stream=self._seeker.streams[self._stream_index], backward=True)
            except self._av.FFmpegError:
                offset = None
        if offset is None:
            self._seeker.close()
            self._seeker = self._open()
        return self._decoded(self._seeker, self._seeker.streams[self._stream_index])

    def _decode_until(self, generator, target):
        for decoded in generator:
            if decoded.pts is None:
                continue
            if decoded.pts == target:
                self._cursor = (generator, decoded.pts)
                return decoded
            if decoded.pts > target:
                break
        self._cursor = None
        return None

    def _frame(self, decoded, index, table):
        rgb = decoded.to_ndarray(format="rgb24")
        quarter_turns = round((decoded.rotation or 0) / 90.0) % 4  # counter-clockwise, as PyAV reports it
        if quarter_turns:
            rgb = np.rot90(rgb, quarter_turns)
        time = float((table.pts[index] - table.pts[0]) * table.time_base)
        return Frame(source=self.path, index=index, time=time, image=np.ascontiguousarray(rgb), focal=self.focal)

    def close(self):
        self._cursor = None
        self._seeker.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
