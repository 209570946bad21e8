"""Shot folders: ``shot.json`` + ``passes/####.exr`` (format v1, docs/shot-format.md)."""

from .exr import exr_size, read_exr_channels, write_exr_channels
from .folder import read_shot, validate_shot, write_shot
from .model import FORMAT_NAME, FORMAT_VERSION, FrameRecord, PassInfo, Shot, Transform, pass_path


def __getattr__(name):
    # read_passes lives in .passes (the exporter's canonical pass reader); loaded on first use
    if name == "read_passes":
        from .passes import read_passes

        return read_passes
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "FORMAT_NAME", "FORMAT_VERSION", "FrameRecord", "PassInfo", "Shot", "Transform",
    "exr_size", "pass_path", "read_exr_channels", "read_shot", "validate_shot",
    "write_exr_channels", "write_shot",
]
