"""Video as footage: :class:`Video`, frame-accurate over PyAV (footage.py describes the
rules: frames counted in decoder order, seeking from the last keyframe, display rotation)."""

from bisect import bisect_right
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .footage import INSTALL_HINT, FocalHint, FootageError, Frame, NeuralFaceError, positive_number

_VIDEO_FOCAL_KEYS = ("com.apple.quicktime.camera.focal_length.35mm_equivalent",)


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
            focal_35 = positive_number(tags.get(key))
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
