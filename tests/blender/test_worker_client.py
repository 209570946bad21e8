"""The add-on's worker client against a real protocol-speaking worker process."""

import os
import sys
import time
from pathlib import Path

import pytest

from blender_addon.jobs import worker_client as worker
from blender_addon.jobs.events import JobProgress, format_duration, parse_line
from tests.blender.render_helpers import is_reaped, leftovers, make_fake_python

pytestmark = pytest.mark.timeout(120)


def start(tmp_path, monkeypatch, mode="ok", frames=(1, 3), sleep=0.0, grace_s=10.0, python=None):
    monkeypatch.setenv("FAKE_WORKER_MODE", mode)
    monkeypatch.setenv("FAKE_WORKER_SLEEP", str(sleep))
    python = python or make_fake_python(tmp_path / "bin")
    request = worker.RenderRequest(shot=str(tmp_path / "shot"), out=str(tmp_path / "frames"),
                                   frame_start=frames[0], frame_end=frames[1])
    process = worker.WorkerProcess(worker.render_command(str(python), request),
                                   env=worker.worker_environment(), grace_s=grace_s)
    return process.start()


# -- which Python, which command line -------------------------------------------------
def test_preference_wins_over_checkout_and_environment(tmp_path):
    chosen = make_fake_python(tmp_path / "pref")
    other = make_fake_python(tmp_path / "env")
    assert worker.resolve_worker_python(str(chosen), environ={"NEURAL_FACE_PYTHON": str(other)}) == str(chosen)


def test_checkout_venv_is_the_default(tmp_path):
    root = tmp_path / "checkout"
    venv_python = make_fake_python(root / ".venv" / "bin")
    env_python = make_fake_python(tmp_path / "env")
    assert worker.resolve_worker_python("", environ={"NEURAL_FACE_PYTHON": str(env_python)}, root=root) == str(venv_python)


def test_environment_variable_when_not_in_a_checkout(tmp_path, monkeypatch):
    env_python = make_fake_python(tmp_path / "env")
    monkeypatch.setattr(worker, "repository_root", lambda: None)
    assert worker.resolve_worker_python("", environ={"NEURAL_FACE_PYTHON": str(env_python)}) == str(env_python)


def test_no_python_configured_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(worker, "repository_root", lambda: None)
    with pytest.raises(worker.WorkerError, match="Worker Python"):
        worker.resolve_worker_python("", environ={})


def test_preference_that_is_not_an_executable_is_refused(tmp_path):
    missing = tmp_path / "no" / "python"
    with pytest.raises(worker.WorkerError, match="not an executable file"):
        worker.resolve_worker_python(str(missing), environ={})


def test_render_command_line_follows_the_documented_options(tmp_path):
    request = worker.RenderRequest(shot="/s", out="/o", frame_start=3, frame_end=9, file_format="exr",
                                   model="", device="cpu", appearance=7)
    argv = worker.render_command("/py", request)
    assert argv == ["/py", "-m", "neural_core", "render", "/s", "--json", "--out", "/o", "--frames", "3-9",
                    "--format", "exr", "--model", "default", "--device", "cpu", "--appearance", "7",
                    "--name", "neural_####"]
    assert worker.output_path("/o", 3, "exr") == Path("/o/neural_0003.exr")
    named = worker.RenderRequest(shot="/s", out="/o", frame_start=1, frame_end=1, name="take2_###")
    argv = worker.render_command("/py", named)
    assert argv[argv.index("--name") + 1] == "take2_###"
    assert worker.output_path("/o", 3, "png", named.name) == Path("/o/take2_003.png")
    request = worker.RenderRequest(shot="/s", out="/o", frame_start=1, frame_end=1, png_depth=16, smoothing=0.5)
    argv = worker.render_command("/py", request)
    assert argv[argv.index("--depth") + 1] == "16" and argv[argv.index("--smoothing") + 1] == "0.5"
    assert "--stabilise-colour" not in argv
    held = worker.RenderRequest(shot="/s", out="/o", frame_start=1, frame_end=1, stabilise_colour=True)
    assert "--stabilise-colour" in worker.render_command("/py", held)
    assert "--stabilise-brightness" not in worker.render_command("/py", held)
    bright = worker.RenderRequest(shot="/s", out="/o", frame_start=1, frame_end=1, stabilise_colour=True,
                                  stabilise_brightness=True)
    assert worker.render_command("/py", bright)[-2:] == ["--stabilise-colour", "--stabilise-brightness"]


def test_environment_puts_the_checkout_on_pythonpath(tmp_path):
    env = worker.worker_environment(root=tmp_path, environ={"PYTHONPATH": "/elsewhere"})
    assert env["PYTHONPATH"].split(os.pathsep) == [str(tmp_path), "/elsewhere"]


# -- events -----------------------------------------------------------------------------
def test_progress_record_follows_the_events():
    progress = JobProgress()
    for line in (
        b'{"event": "start", "command": "render", "total": 4, "frames": [1, 2, 3, 4]}\n',
        b"not json at all\n",
        b'{"event": "frame", "frame": 1, "path": "/o/neural_0001.png", "skipped": false}\n',
        b'{"event": "progress", "done": 1, "total": 4, "fps": 0.5, "eta_s": 6.0}\n',
        b'{"event": "warning", "message": "slow"}\n',
    ):
        progress.add(parse_line(line))
    assert (progress.total, progress.done, progress.last_frame) == (4, 1, 1)
    assert progress.fraction == 0.25 and progress.eta_s == 6.0 and progress.warnings == ["slow"]
    assert progress.noise == ["not json at all"]
    assert progress.summary() == "Neural Face: 1/4 frames, 0.50 frames/s, 0:06 left"
    assert format_duration(3725) == "1:02:05" and format_duration(None) == "--:--"
    assert progress.stage is None
    progress.add(parse_line(b'{"event": "progress", "done": 3, "total": 9, "fps": null, "eta_s": 2.0, "stage": "fit: x 3/9"}'))
    assert progress.stage == "fit: x 3/9" and progress.fraction == 3 / 9
    progress.add(parse_line(b'{"event": "progress", "done": 2, "total": 4, "fps": 0.5, "eta_s": 4.0}'))
    assert progress.stage is None  # a stage lasts until the next progress event without one


# -- a real worker process --------------------------------------------------------------
def test_worker_runs_reports_progress_and_writes_frames(tmp_path, monkeypatch):
    process = start(tmp_path, monkeypatch, mode="noise", frames=(2, 4))
    seen = []
    process.wait(timeout=60, on_poll=lambda p: seen.append(p.done))
    process.check()
    process.close()
    progress = process.progress
    assert progress.finished and progress.status == "ok"
    assert (progress.total, progress.done) == (3, 3)
    assert sorted(progress.paths) == [2, 3, 4]
    assert all(Path(p).is_file() for p in progress.paths.values())
    assert Path(progress.paths[3]).name == "neural_0003.png"
    assert "some library chatter that is not JSON" in progress.noise
    assert seen == sorted(seen) and seen[-1] == 3
    assert is_reaped(process.pid)


def test_poll_returns_while_the_worker_is_silent(tmp_path, monkeypatch):
    """A worker that writes nothing must not block poll (a blocking read would hang
    here until the test timeout)."""
    process = start(tmp_path, monkeypatch, mode="stubborn")
    try:
        results = [process.poll() for _ in range(5)]
        assert results == [True] * 5
        assert process.progress.events == 0
    finally:
        process.close()
    assert is_reaped(process.pid)


def test_cancel_stops_after_a_complete_frame(tmp_path, monkeypatch):
    process = start(tmp_path, monkeypatch, frames=(1, 40), sleep=0.3)
    deadline = time.monotonic() + 60
    while process.poll() and process.progress.done < 1 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert process.progress.done >= 1
    process.cancel()
    process.wait(timeout=60)
    assert process.returncode == worker.EXIT_CANCELLED
    with pytest.raises(worker.WorkerError, match="cancelled after frame"):
        process.check()
    process.close()
    written = sorted((tmp_path / "frames").glob("neural_*.png"))
    assert 1 <= len(written) < 40
    assert len(written) == process.progress.done
    assert leftovers(tmp_path / "frames") == []
    assert process.progress.status == "cancelled"
    assert is_reaped(process.pid)


def test_cancel_escalates_to_kill_when_the_worker_ignores_signals(tmp_path, monkeypatch):
    process = start(tmp_path, monkeypatch, mode="stubborn", grace_s=0.3)
    deadline = time.monotonic() + 30
    while not (tmp_path / "frames" / "argv.json").exists() and time.monotonic() < deadline:
        time.sleep(0.05)  # let it install its signal handlers
    time.sleep(0.3)
    process.cancel()
    process.wait(timeout=30)
    assert process.returncode == -9
    with pytest.raises(worker.WorkerError, match="cancelled"):
        process.check()
    process.close()
    assert is_reaped(process.pid)


@pytest.mark.parametrize(
    "mode, code, words",
    [
        ("bad-input", worker.EXIT_BAD_INPUT, ["bad input", "shot.json", "frame 2", "coefficients", "coefficient is NaN"]),
        ("crash", worker.EXIT_INTERNAL, ["internal error", "fake worker crashed"]),
    ],
)
def test_failing_worker_gives_a_clear_error(tmp_path, monkeypatch, mode, code, words):
    process = start(tmp_path, monkeypatch, mode=mode)
    process.wait(timeout=60)
    assert process.returncode == code
    with pytest.raises(worker.WorkerError) as raised:
        process.check()
    process.close()
    assert raised.value.exit_code == code
    for word in words:
        assert word in str(raised.value)
    assert is_reaped(process.pid)


def test_missing_interpreter_cannot_start(tmp_path):
    process = worker.WorkerProcess([str(tmp_path / "nope" / "python"), "-c", "pass"])
    with pytest.raises(worker.WorkerError, match="cannot start the worker"):
        process.start()


def test_stop_all_kills_tracked_workers(tmp_path, monkeypatch):
    process = worker.track(start(tmp_path, monkeypatch, mode="stubborn"))
    assert process in worker.active_workers()
    worker.stop_all()
    assert worker.active_workers() == ()
    assert process.returncode is not None and is_reaped(process.pid)


def test_real_python_runs_the_fake_worker_through_pythonpath(tmp_path, monkeypatch):
    """The wrapper above uses this interpreter; check neural_core came from the checkout."""
    env = worker.worker_environment()
    import subprocess

    out = subprocess.run([sys.executable, "-c", "import neural_core; print(neural_core.__file__)"],
                         env=env, capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert Path(out.stdout.strip()).parent.parent == worker.repository_root()
