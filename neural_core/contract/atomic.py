"""Write a file so that readers only ever see the old file or the complete new one."""

import os
import stat
from pathlib import Path


def write_atomically(path, write):
    """Call ``write(temporary_path)``, then rename the result over ``path``.

    The temporary file sits next to ``path`` (same file system, so the rename is atomic),
    is hidden (``.name.tmp-<pid>``) and is removed if ``write`` fails; a file already at
    ``path`` is untouched until the new one is complete. Returns ``path``.

    Permissions: the new file keeps the mode of the file it replaces; a file that did not
    exist gets the mode a plain ``open(path, "w")`` would give it (0666 under the umask and
    the folder's default ACL), whatever mode ``write`` created the temporary with (safetensors
    creates 0600, which hid checkpoints from the other users of a shared farm folder).
    """
    path = Path(path)
    temporary = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        mode = _mode_for(path, temporary)
        write(temporary)
        if stat.S_IMODE(os.stat(temporary).st_mode) != mode:
            os.chmod(temporary, mode)
        os.replace(temporary, path)
    finally:
        if temporary.exists():
            temporary.unlink()
    return path


def _mode_for(path, probe):
    """Permission bits for the new ``path``: those of the file there now, else those a new
    file gets in its folder (learnt by creating ``probe``, an unused name there, and removing it)."""
    try:
        return stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError:
        pass
    if os.path.lexists(probe):  # left by a killed run of a process with our pid
        os.unlink(probe)
    descriptor = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        return stat.S_IMODE(os.fstat(descriptor).st_mode)
    finally:
        os.close(descriptor)
        os.unlink(probe)


def write_text_atomically(path, text):
    """UTF-8 text, flushed to disk before the rename."""

    def write(temporary):
        with open(temporary, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())

    return write_atomically(path, write)
