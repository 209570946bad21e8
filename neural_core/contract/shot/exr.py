"""Low-level OpenEXR helpers: read and write named float channels.

Uses the PyPI ``OpenEXR`` package (3.5.x), imported on first use so that importing
``neural_core.shot`` stays cheap. Channel names are the full names stored in the file,
e.g. ``"ViewLayer.Depth.Z"`` in a Blender multilayer EXR. Pixel arrays are
``[H, W]`` with row 0 at the top of the image (EXR's increasing-y order).
"""

import os
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


def _open(path, *, header_only):
    OpenEXR = _openexr()
    path = Path(path)
    if not path.is_file():
        raise ShotFormatError("file not found", file=path)
    try:
        return OpenEXR.File(str(path), separate_channels=True, header_only=header_only)
    except Exception as error:  # OpenEXR raises plain RuntimeError/OSError for bad files
        raise ShotFormatError(f"not a readable OpenEXR file ({error})", file=path) from error


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
    exr = _open(path, header_only=False)
    # OpenEXR 3.5 reports a truncated/corrupt pixel block by printing a warning and
    # returning a File with no parts (or parts without channels), not by raising
    if not exr.parts or any(not part.channels for part in exr.parts):
        raise ShotFormatError("pixel data cannot be read (truncated or corrupt OpenEXR file)", file=path)
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
