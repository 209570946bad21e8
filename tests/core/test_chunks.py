"""Several ``python -m neural_core render --frames a-b`` processes on one shot and one output
folder (issue 15.1): the same bits as one process, crash recovery, and every fault of
"Bad input and faults" as a clear error or a clean recovery, never a half-written frame.

Real processes throughout. A process that must be caught holding its frames is stopped
with SIGSTOP right after its ``start`` event (by then it has claimed its frames and
written its manifest) and continued with SIGCONT, so nothing here depends on timing.
"""

import ctypes
import json
import os
import resource
import signal
import subprocess
import sys

import pytest

from neural_core.contract.shot.folder import load_shot_json
from tests.conftest import ROOT
from tests.core.synthetic_shot import COEFFICIENTS, write_shot_folder

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.timeout(600)

FRAMES = 48
SIZE = (32, 32)
CHUNKS = ("1-12", "13-24", "25-36", "37-48")


def _save_model(path, seed):
    from neural_core.face_model.checkpoint import save_conditional
    from neural_core.face_model.config import tiny_config
    from neural_core.face_model.model import ConditionalModel

    torch.manual_seed(seed)
    save_conditional(ConditionalModel(tiny_config(coefficient_names=COEFFICIENTS[:2])), path)
    return path


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """A 48-frame shot, two different tiny models, and the one-process render of the shot."""
    base = tmp_path_factory.mktemp("chunks")
    values = [[0.02 * i, 0.5 + 0.01 * i, 0.03 * i] for i in range(FRAMES)]  # every frame different
    write_shot_folder(base / "shot", n_frames=FRAMES, size=SIZE, coefficient_values=values)
    model, other_model = _save_model(base / "tiny.safetensors", 0), _save_model(base / "other.safetensors", 1)
    result = run(base / "shot", base / "reference", model)
    assert result.returncode == 0, result.stderr
    return {"base": base, "shot": base / "shot", "model": model, "other_model": other_model,
            "reference": base / "reference"}


class Run:
    """A finished render process: exit status, protocol events, stderr."""

    def __init__(self, returncode, stdout, stderr):
        self.returncode = returncode
        self.events = [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]
        self.stderr = stderr

    def frames(self, skipped=None):
        return [e["frame"] for e in self.events if e["event"] == "frame" and (skipped is None or e["skipped"] == skipped)]

    def error(self):
        errors = [e for e in self.events if e["event"] == "error"]
        assert len(errors) == 1, (self.events, self.stderr)
        return errors[0]["message"]

    def warnings(self):
        return [e["message"] for e in self.events if e["event"] == "warning"]


def command(shot, out, model, *extra):
    return [sys.executable, "-m", "neural_core", "render", str(shot), "--out", str(out), "--model", str(model),
            "--json", "--device", "cpu", *map(str, extra)]


def start(shot, out, model, *extra, preexec_fn=None):
    return subprocess.Popen(command(shot, out, model, *extra), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, cwd=ROOT, preexec_fn=preexec_fn)


def finish(process, seen="", timeout=300):
    stdout, stderr = process.communicate(timeout=timeout)
    return Run(process.returncode, seen + stdout, stderr)


def run(shot, out, model, *extra, preexec_fn=None):
    return finish(start(shot, out, model, *extra, preexec_fn=preexec_fn))


def read_until(process, event, count=1):
    """Protocol lines up to and including the ``count``-th ``event``."""
    lines = []
    for line in process.stdout:
        lines.append(line)
        if line.startswith("{") and json.loads(line)["event"] == event:
            count -= 1
            if count == 0:
                return "".join(lines)
    raise AssertionError(f"the process ended before {event!r}: {''.join(lines)[-2000:]}")


def stopped_after_start(shot, out, model, *extra, preexec_fn=None):
    """A render process frozen (SIGSTOP) once it announced its frames (``start``):
    it holds its frame locks and its manifest is on disk. Returns (process, lines read)."""
    process = start(shot, out, model, *extra, preexec_fn=preexec_fn)
    seen = read_until(process, "start")
    os.kill(process.pid, signal.SIGSTOP)
    return process, seen


def resume(process, seen):
    os.kill(process.pid, signal.SIGCONT)
    return finish(process, seen)


def frame_names(first=1, last=FRAMES):
    return [f"neural_{frame:04d}.png" for frame in range(first, last + 1)]


def assert_same_as_reference(setup, out, first=1, last=FRAMES):
    for name in frame_names(first, last):
        assert (out / name).read_bytes() == (setup["reference"] / name).read_bytes(), name


def leftovers(out):
    """Hidden temporary files in the output folder or its chunk folder."""
    return sorted(p.name for folder in (out, out / "neural.chunks") if folder.is_dir()
                  for p in folder.iterdir() if p.name.startswith("."))


def test_four_chunk_processes_at_once_give_the_bits_of_one_process(setup, tmp_path):
    out = tmp_path / "out"
    processes = [start(setup["shot"], out, setup["model"], "--frames", chunk) for chunk in CHUNKS]
    runs = [finish(process) for process in processes]
    for chunk, result in zip(CHUNKS, runs):
        first, last = map(int, chunk.split("-"))
        assert result.returncode == 0, result.stderr
        assert result.frames(skipped=False) == list(range(first, last + 1))
    assert sorted(p.name for p in out.glob("*.png")) == frame_names()
    assert_same_as_reference(setup, out)
    assert leftovers(out) == []
    chunks = out / "neural.chunks"
    for chunk in CHUNKS:  # each chunk has its own manifest and its own log
        first, last = map(int, chunk.split("-"))
        name = f"{first:04d}-{last:04d}"
        manifest = json.loads((chunks / f"{name}.json").read_text())
        assert sorted(map(int, manifest["records"])) == list(range(first, last + 1))
        log = [json.loads(line.split(" ", 2)[2]) for line in (chunks / f"{name}.log").read_text().splitlines()]
        assert log[0]["event"] == "start" and log[0]["chunk"] == name and log[-1]["event"] == "done"
        assert [e["frame"] for e in log if e["event"] == "frame"] == list(range(first, last + 1))

    again = run(setup["shot"], out, setup["model"])  # one process over the whole shot finds every frame current
    assert again.returncode == 0 and again.frames(skipped=True) == list(range(1, FRAMES + 1))


def test_a_chunk_killed_mid_frame_and_rerun_gives_the_same_bits(setup, tmp_path):
    out = tmp_path / "out"
    other = start(setup["shot"], out, setup["model"], "--frames", "1-24")
    victim = start(setup["shot"], out, setup["model"], "--frames", "25-48")
    read_until(victim, "frame", count=2)
    victim.kill()  # SIGKILL: no cleanup of any kind
    victim.communicate(timeout=60)
    assert finish(other).returncode == 0
    made = [name for name in frame_names(25, 48) if (out / name).is_file()]
    assert 2 <= len(made) < 24
    half_written = out / ".neural_0047.png.tmp-999999"  # what a kill inside the PNG write leaves
    half_written.write_bytes(b"\x89PNG\r\n\x1a\n truncated")

    rerun = run(setup["shot"], out, setup["model"], "--frames", "25-48")
    assert rerun.returncode == 0, rerun.stderr
    assert len(rerun.frames(skipped=True)) >= 2  # the frames the killed run finished
    assert_same_as_reference(setup, out)
    assert leftovers(out) == []


def test_overlapping_chunks_at_once_are_refused_and_the_running_one_finishes(setup, tmp_path):
    out = tmp_path / "out"
    first, seen = stopped_after_start(setup["shot"], out, setup["model"], "--frames", "1-24")
    try:
        second = run(setup["shot"], out, setup["model"], "--frames", "13-36")
        assert second.returncode == 2
        message = second.error()
        assert "frames 13-24 are being rendered by another process" in message
        assert "chunk 0001-0024" in message and f"pid {first.pid}" in message
        assert not list(out.glob("neural_00[23]?.png"))  # it wrote nothing, not even 25-36
    finally:
        done = resume(first, seen)
    assert done.returncode == 0 and done.frames(skipped=False) == list(range(1, 25))
    later = run(setup["shot"], out, setup["model"], "--frames", "13-36")  # once the first is done: a plain resume
    assert later.returncode == 0 and later.frames(skipped=True) == list(range(13, 25))
    assert_same_as_reference(setup, out, 1, 36)


def test_a_chunk_outside_the_shot_is_refused_before_anything_is_written(setup, tmp_path):
    result = run(setup["shot"], tmp_path / "out", setup["model"], "--frames", "40-60")
    assert result.returncode == 2
    assert "no frame 49, 50, 51, 52, 53 ..." in result.error() and "it has frames 1-48" in result.error()
    assert not (tmp_path / "out").exists()


def test_two_models_in_one_output_folder(setup, tmp_path):
    out = tmp_path / "out"
    first, seen = stopped_after_start(setup["shot"], out, setup["model"], "--frames", "1-24")
    try:
        second = run(setup["shot"], out, setup["other_model"], "--frames", "25-48")
        assert second.returncode == 2
        assert "another render is writing into this folder right now with a different model" in second.error()
        assert {p.name for p in out.glob("*.png")} <= set(frame_names(1, 24))  # only the first one's frames
    finally:
        assert resume(first, seen).returncode == 0
    assert_same_as_reference(setup, out, 1, 24)

    # one after the other is a re-render: every frame made again with the new model
    other = run(setup["shot"], out, setup["other_model"])
    assert other.returncode == 0 and other.frames(skipped=False) == list(range(1, FRAMES + 1))
    assert any("0001-0024 were rendered with a different model" in w for w in other.warnings())
    changed = [n for n in frame_names(1, 24) if (out / n).read_bytes() != (setup["reference"] / n).read_bytes()]
    assert changed == frame_names(1, 24)
    assert run(setup["shot"], out, setup["other_model"]).frames(skipped=True) == list(range(1, FRAMES + 1))


def _rewrite_shot(shot_folder, frame_index, value):
    """shot.json with one coefficient changed, replaced atomically as an export does."""
    data = load_shot_json(shot_folder)
    data["frames"][frame_index]["coefficients"][0] = value
    temporary = shot_folder / ".shot.json.tmp-test"
    temporary.write_text(json.dumps(data))
    os.replace(temporary, shot_folder / "shot.json")


def test_a_shot_replaced_while_a_chunk_runs_stops_it_cleanly(setup, tmp_path):
    shot = tmp_path / "shot"
    write_shot_folder(shot, n_frames=8, size=SIZE)
    out = tmp_path / "out"
    process, seen = stopped_after_start(shot, out, setup["model"])
    _rewrite_shot(shot, 5, 0.9)
    result = resume(process, seen)
    assert result.returncode == 2
    assert "shot.json" in result.error() and "changed while this render was running" in result.error()
    assert len(list(out.glob("*.png"))) <= 1  # at most a frame prepared before the change
    assert leftovers(out) == []


def test_a_shot_changed_between_chunks_rerenders_only_the_changed_frame(setup, tmp_path):
    shot = tmp_path / "shot"
    write_shot_folder(shot, n_frames=8, size=SIZE)
    out = tmp_path / "out"
    assert run(shot, out, setup["model"], "--frames", "1-4").returncode == 0
    _rewrite_shot(shot, 5, 0.9)  # frame 6
    second = run(shot, out, setup["model"], "--frames", "5-8")
    assert second.returncode == 0
    assert any("0001-0004 were rendered with a different shot (shot.json)" in w for w in second.warnings())
    _rewrite_shot(shot, 1, 0.7)  # frame 2
    whole = run(shot, out, setup["model"])
    assert whole.returncode == 0 and whole.frames(skipped=False) == [2]


def _without_root_powers():
    """preexec_fn for a child that obeys permission bits even when the tests run as root
    (drops CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH from the bounding set before exec)."""
    if os.geteuid() != 0:
        return None

    def drop():
        libc = ctypes.CDLL(None, use_errno=True)
        for capability in (1, 2):
            if libc.prctl(24, capability, 0, 0, 0) != 0:  # PR_CAPBSET_DROP
                raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")

    return drop


def _set_writable(folder, writable):
    for path in (folder, folder / "neural.chunks"):
        path.chmod(0o755 if writable else 0o555)


def test_a_read_only_output_folder_is_a_clear_error_and_nothing_is_lost(setup, tmp_path):
    out = tmp_path / "out"
    assert run(setup["shot"], out, setup["model"], "--frames", "1-12").returncode == 0
    before = {p.name: p.read_bytes() for p in out.glob("*.png")}
    _set_writable(out, False)
    try:
        refused = run(setup["shot"], out, setup["model"], "--frames", "13-24", preexec_fn=_without_root_powers())
        assert refused.returncode == 2 and "output folder is not writable" in refused.error()
        _set_writable(out, True)
        process, seen = stopped_after_start(setup["shot"], out, setup["model"], "--frames", "13-24",
                                            preexec_fn=_without_root_powers())
        _set_writable(out, False)  # the share turns read-only while the chunk runs
        broken = resume(process, seen)
        assert broken.returncode == 2
        assert "cannot write frame 13: the folder is read-only" in broken.error()
    finally:
        _set_writable(out, True)
    assert {p.name: p.read_bytes() for p in out.glob("*.png")} == before
    assert leftovers(out) == []
    again = run(setup["shot"], out, setup["model"], "--frames", "13-24")
    assert again.returncode == 0
    assert_same_as_reference(setup, out, 1, 24)


def test_full_storage_is_a_clear_error_and_the_rerun_completes(setup, tmp_path):
    out = tmp_path / "out"
    frame_size = (setup["reference"] / "neural_0001.png").stat().st_size
    limit = frame_size // 2  # every file larger than this fails with EFBIG, as on a full disk (ENOSPC)

    def small_files():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    full = run(setup["shot"], out, setup["model"], "--frames", "1-4", preexec_fn=small_files)
    assert full.returncode == 2, full.stderr
    assert "cannot write frame 1: the storage is full" in full.error()
    assert not list(out.glob("*.png")) and leftovers(out) == []
    again = run(setup["shot"], out, setup["model"], "--frames", "1-4")
    assert again.returncode == 0 and again.frames(skipped=False) == [1, 2, 3, 4]
    assert_same_as_reference(setup, out, 1, 4)
    assert sorted(p.name for p in out.glob("*.png")) == frame_names(1, 4)


def test_a_lock_file_this_user_cannot_write_turns_overlap_checks_off_with_a_warning(setup, tmp_path):
    out = tmp_path / "out"
    assert run(setup["shot"], out, setup["model"], "--frames", "1-4").returncode == 0
    (out / "neural.chunks" / "frames.lock").chmod(0o444)  # as if another farm user had made it
    result = run(setup["shot"], out, setup["model"], "--frames", "5-8", preexec_fn=_without_root_powers())
    assert result.returncode == 0, result.stderr
    assert any("frames.lock not writable by this user" in w for w in result.warnings())
    assert_same_as_reference(setup, out, 1, 8)
