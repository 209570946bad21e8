"""contract/atomic.py: readers see the old file or the new one, with the permissions a user expects."""

import os
import stat
import subprocess
import sys

import pytest

from neural_core.contract.atomic import write_atomically, write_text_atomically
from tests.conftest import ROOT


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture
def umask():
    """Sets the process umask for one test, restores it afterwards."""
    saved = os.umask(0o022)
    yield os.umask
    os.umask(saved)


def private_writer(temporary):
    """Writes the way safetensors does: a new file with mode 0600."""
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.write(descriptor, b"data")
    os.close(descriptor)


@pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")
@pytest.mark.parametrize("mask, expected", [(0o022, 0o644), (0o002, 0o664), (0o027, 0o640)])
def test_a_new_file_gets_the_mode_of_a_plain_open_whatever_the_writer_made(tmp_path, umask, mask, expected):
    # issue 13.12: `neural_core convert` left its output 0600, unreadable on a shared farm folder
    umask(mask)
    write_atomically(tmp_path / "model.safetensors", private_writer)
    with open(tmp_path / "plain", "w"):
        pass
    assert mode(tmp_path / "model.safetensors") == mode(tmp_path / "plain") == expected
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.safetensors", "plain"]


@pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")
@pytest.mark.parametrize("existing", [0o640, 0o755, 0o600])
def test_a_replaced_file_keeps_its_mode(tmp_path, umask, existing):
    path = tmp_path / "frame.png"
    path.write_bytes(b"old")
    path.chmod(existing)
    write_atomically(path, private_writer)
    assert path.read_bytes() == b"data" and mode(path) == existing
    write_text_atomically(path, "text")
    assert path.read_text() == "text" and mode(path) == existing


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    path = tmp_path / "a.json"
    path.write_text("old")

    def fail(temporary):
        private_writer(temporary)
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        write_atomically(path, fail)
    with pytest.raises(RuntimeError, match="disk full"):
        write_atomically(tmp_path / "new.json", fail)
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"] and path.read_text() == "old"


@pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")
def test_a_stale_temporary_of_our_pid_does_not_stop_the_write(tmp_path):
    (tmp_path / f".x.bin.tmp-{os.getpid()}").write_bytes(b"left by a killed run")
    write_atomically(tmp_path / "x.bin", private_writer)
    assert [p.name for p in tmp_path.iterdir()] == ["x.bin"]


CONVERT = """
import os, sys
os.umask(0o022)
import numpy as np
from safetensors.numpy import save_file
from neural_core.contract.atomic import write_atomically
write_atomically(sys.argv[1], lambda temporary: save_file({"w": np.zeros(3, np.float32)}, str(temporary)))
print(oct(os.stat(sys.argv[1]).st_mode & 0o777))
"""


@pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")
def test_a_real_safetensors_file_is_readable_by_the_group_and_others(tmp_path):
    pytest.importorskip("safetensors")
    result = subprocess.run([sys.executable, "-c", CONVERT, str(tmp_path / "g.safetensors")],
                            capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "0o644"


@pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")
def test_neural_core_convert_writes_a_file_others_can_read(tmp_path):
    output = tmp_path / "g.safetensors"
    command = [sys.executable, "-m", "neural_core", "convert",
               str(ROOT / "tests/data/stylegan2/rosinality_s32.pt"), str(output)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=ROOT,
                            preexec_fn=lambda: os.umask(0o022))
    assert result.returncode == 0, result.stderr
    assert mode(output) == 0o644
    output.chmod(0o640)  # the farm's choice for this file: kept by --force
    result = subprocess.run(command + ["--force"], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert mode(output) == 0o640
