"""Write a file so that readers only ever see the old file or the complete new one."""

import os
from pathlib import Path


def write_atomically(path, write):
    """Call ``write(temporary_path)``, then rename the result over ``path``.

    The temporary file sits next to ``path`` (same file system, so the rename is atomic),
    is hidden (``.name.tmp-<pid>``) and is removed if ``write`` fails; a file already at
    ``path`` is untouched until the new one is complete. Returns ``path``.
    """
    path = Path(path)
    temporary = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        write(temporary)
        os.replace(temporary, path)
    finally:
        if temporary.exists():
            temporary.unlink()
    return path


def write_text_atomically(path, text):
    """UTF-8 text, flushed to disk before the rename."""

    def write(temporary):
        with open(temporary, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())

    return write_atomically(path, write)
