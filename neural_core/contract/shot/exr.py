"""Low-level OpenEXR helpers: read and write named float channels.

Uses the PyPI ``OpenEXR`` package (3.5.x), imported on first use so that importing
``neural_core.shot`` stays cheap. Channel names are the full names stored in the file,
e.g. ``"ViewLayer.Depth.Z"`` in a Blender multilayer EXR. Pixel arrays are
``[H, W]`` with row 0 at the top of the image (EXR's increasing-y order).
"""

import os
import re
import sys
import tempfile
import threading
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from ..atomic import write_atomically
from ..errors import ShotFormatError


def _openexr():
    try:
        import OpenEXR
    except ImportError as error:  # pragma: no cover - the package is a declared dependency
        raise ShotFormatError("the OpenEXR Python package is not installed (pip install OpenEXR)") from error
    if OpenEXR.global_thread_count() == 0:  # decompress a file's chunks on every core (default: one thread)
        OpenEXR.set_global_thread_count(min(os.cpu_count() or 1, 8))
    return OpenEXR


# what OpenEXR's C++ library prints on its own about a bad file: "<path>: (EXR_ERR_...) text"
# (stderr) and "Warning: Exception raised reading pixel data for part 0 - text" (stdout)
_NOISE = re.compile(rb"^(?:.*?: \((EXR_ERR_\w+)\) (.*)|Warning: Exception raised reading pixel data.*)$")
_QUIET = threading.Lock()  # one quiet section at a time: each swaps the process's fds 1 and 2
_CAPTURES = {}  # fd -> reusable temporary file that receives it during a quiet section


@contextmanager
def _quiet_openexr():
    """Run the block with file descriptors 1 and 2 pointed at temporary files, so that
    OpenEXR's C++ library cannot print its own messages about a bad file around ours.

    Yields a list that, after the block, holds OpenEXR's messages (``"EXR_ERR_...: text"``)
    for the caller's error. Anything else written to fd 1 or 2 meanwhile (another thread,
    a warning) is written back to where it was going once the block ends. Where the
    descriptors cannot be swapped (no stdout/stderr, e.g. a windowed Blender), the block
    runs as it is.
    """
    messages = []
    with _QUIET:
        saved = {}  # fd -> a copy of where it pointed, for each fd pointed at its capture
        try:
            for stream in (sys.stdout, sys.stderr):
                if stream is not None:
                    stream.flush()
            for fd in (1, 2):
                if fd not in _CAPTURES:
                    _CAPTURES[fd] = tempfile.TemporaryFile(prefix="neural_face_openexr_")
                copy = os.dup(fd)
                try:
                    os.dup2(_CAPTURES[fd].fileno(), fd)
                except OSError:
                    os.close(copy)
                    raise
                saved[fd] = copy
        except (OSError, ValueError, AttributeError):  # fd 1 or 2 not open, odd streams: stay loud
            for fd, copy in saved.items():
                os.dup2(copy, fd)
                os.close(copy)
                _pass_on(_CAPTURES[fd], fd)
            saved = {}
        try:
            yield messages
        finally:
            for fd, copy in saved.items():
                os.dup2(copy, fd)
                os.close(copy)
                messages.extend(_pass_on(_CAPTURES[fd], fd))


def _pass_on(capture, fd):
    """Empty ``capture``: write its lines that are not OpenEXR's messages to ``fd``;
    returns OpenEXR's messages."""
    capture.seek(0)
    text = capture.read()
    capture.seek(0)
    capture.truncate()
    messages, other = [], []
    for line in text.splitlines(keepends=True):
        match = _NOISE.match(line.rstrip(b"\r\n"))
        if match is None:
            other.append(line)
        elif match.group(1):
            messages.append(f"{match.group(1).decode()}: {match.group(2).decode(errors='replace')}")
    if other:
        os.write(fd, b"".join(other))
    return messages


def _explained(reason, messages):
    """``reason`` with OpenEXR's first own message, if it printed one."""
    return f"{reason}; OpenEXR says {messages[0]}" if messages else reason


def _open(path, *, header_only, messages=None):
    """``OpenEXR.File`` of ``path``; OpenEXR's own messages go to ``messages`` (a list)."""
    OpenEXR = _openexr()
    path = Path(path)
    if not path.is_file():
        raise ShotFormatError("file not found", file=path)
    failure = None
    with _quiet_openexr() as printed:
        try:
            exr = OpenEXR.File(str(path), separate_channels=True, header_only=header_only)
        except Exception as error:  # OpenEXR raises plain RuntimeError/OSError for bad files
            failure = error
    if messages is not None:
        messages.extend(printed)
    if failure is not None:
        raise ShotFormatError(_explained(f"not a readable OpenEXR file ({failure})", printed), file=path) from failure
    return exr


def _window_size(header, path):
    """(width, height) of a part's data window."""
    try:
        low, high = header["dataWindow"]
        width = int(high[0]) - int(low[0]) + 1
        height = int(high[1]) - int(low[1]) + 1
    except (KeyError, TypeError, ValueError, IndexError) as error:
        raise ShotFormatError("EXR header has no usable dataWindow", file=path) from error
    return width, height


def exr_size(path):
    """Return ``(width, height)`` in pixels of an EXR file, reading only its header.

    For a multi-part file this is the size of the first part. Raises
    :class:`ShotFormatError` naming the file if it is missing or unreadable.
    """
    exr = _open(path, header_only=True)
    return _window_size(exr.parts[0].header, path)


def exr_channel_names(path):
    """Return the full channel names of an EXR file (all parts), reading only headers."""
    exr = _open(path, header_only=True)
    names = []
    for part in exr.parts:
        names.extend(channel.name for channel in part.header["channels"])
    return names


def read_exr_channels(path, names=None):
    """Read every channel of an EXR file, or at least the channels ``names``.

    Returns ``{full channel name: float32 [H, W]}`` (half and uint channels are
    converted to float32). Channels of every part are merged; a name that occurs in two
    parts is an error. Raises :class:`ShotFormatError` naming the file when the file is
    missing, unreadable, or its channels disagree in size. With ``names``, a single-part
    file (what Blender 4.5 writes) converts only those channels (about half the time of
    reading all of a pass file); other files are read whole.
    """
    path = Path(path)
    if names is not None:
        selected = _read_selected(path, list(names))
        if selected is not None:
            return selected
    messages = []
    exr = _open(path, header_only=False, messages=messages)
    # OpenEXR 3.5 reports a truncated/corrupt pixel block by printing a warning and
    # returning a File with no parts (or parts without channels), not by raising
    if not exr.parts or any(not part.channels for part in exr.parts):
        raise ShotFormatError(_explained("pixel data cannot be read (truncated or corrupt OpenEXR file)", messages),
                              file=path)
    channels = {}
    size = None
    for part in exr.parts:
        for name, channel in part.channels.items():
            if name in channels:
                raise ShotFormatError(f"channel '{name}' occurs in more than one part", file=path)
            pixels = np.asarray(channel.pixels)
            if pixels.ndim != 2:
                raise ShotFormatError(
                    f"channel '{name}' has shape {list(pixels.shape)}, expected [H, W]", file=path
                )
            if size is None:
                size = pixels.shape
            elif pixels.shape != size:
                raise ShotFormatError(
                    f"channel '{name}' is {pixels.shape[1]}x{pixels.shape[0]}, "
                    f"other channels are {size[1]}x{size[0]} (subsampled channels are not supported)",
                    file=path,
                )
            channels[name] = np.ascontiguousarray(pixels, dtype=np.float32)
    return channels


def _read_selected(path, names):
    """``{name: float32 [H, W]}`` of a single-part scanline file holding every channel in
    ``names`` at full resolution, through OpenEXR's channel-subset reader; None for any
    other file or any failure (the general reader then reads it and names the problem)."""
    OpenEXR = _openexr()
    try:
        import Imath

        with _quiet_openexr():
            handle = OpenEXR.InputFile(str(path))  # sees the first part only: hence the channel check
            header = handle.header()
            available = header["channels"]
            if any(name not in available or available[name].xSampling != 1 or available[name].ySampling != 1
                   for name in names):
                return None
            window = header["dataWindow"]
            width, height = window.max.x - window.min.x + 1, window.max.y - window.min.y + 1
            data = handle.channels(names, Imath.PixelType(Imath.PixelType.FLOAT))
    except Exception:  # noqa: BLE001 - corrupt, truncated, multi-part, tiled: the general reader reports it
        return None
    if any(len(block) != 4 * width * height for block in data):
        return None
    return {name: np.frombuffer(block, dtype=np.float32).reshape(height, width) for name, block in zip(names, data)}


def write_exr_channels(path, channels, half=False):
    """Write a single-part scanline EXR with the given channels, atomically.

    ``channels``: ``{full channel name: array [H, W]}``, all the same size; values are
    stored as 32-bit float, or 16-bit half when ``half`` is true. The file is written
    under a temporary name next to ``path`` and then renamed over it. Returns ``path``.
    """
    OpenEXR = _openexr()
    path = Path(path)
    if not channels:
        raise ShotFormatError("no channels to write", file=path)
    dtype = np.float16 if half else np.float32
    arrays = {}
    size = None
    for name, values in channels.items():
        array = np.ascontiguousarray(values, dtype=dtype)
        if array.ndim != 2:
            raise ShotFormatError(f"channel '{name}' has shape {list(array.shape)}, expected [H, W]", file=path)
        if size is None:
            size = array.shape
        elif array.shape != size:
            raise ShotFormatError(f"channel '{name}' has shape {list(array.shape)}, expected {list(size)}", file=path)
        arrays[str(name)] = array
    header = {"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage}
    write_atomically(path, lambda temporary: OpenEXR.File(header, arrays).write(str(temporary)))
    return path
