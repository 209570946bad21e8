"""Worker protocol: JSON-lines events, exit codes and cancel, driven as real subprocesses."""

import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from neural_core.contract import protocol
from neural_core.contract.errors import ShotFormatError

ROOT = Path(__file__).resolve().parents[2]
JOB = ROOT / "tests" / "core" / "jobs" / "sleepy.py"
TIMEOUT = 60


def run_job(out, *options):
    result = subprocess.run([sys.executable, str(JOB), str(out), *options], capture_output=True, text=True,
                            timeout=TIMEOUT, cwd=ROOT)
    events = [protocol.parse_event(line) for line in result.stdout.splitlines()]
    return result, events


def kinds(events):
    return [e["event"] for e in events]


def test_success_streams_start_frame_progress_done(tmp_path):
    result, events = run_job(tmp_path, "--frames", "3", "--first", "10")
    assert result.returncode == protocol.EXIT_OK == 0
    assert kinds(events) == ["start", "frame", "progress", "frame", "progress", "frame", "progress", "done"]
    start, done = events[0], events[-1]
    assert start["command"] == "sleepy" and start["total"] == 3 and start["frames"] == [10, 11, 12]
    assert start["protocol"] == protocol.PROTOCOL_VERSION
    assert [e["frame"] for e in events if e["event"] == "frame"] == [10, 11, 12]
    assert events[1]["path"] == str(tmp_path / "0010.txt") and events[1]["skipped"] is False
    progress = [e for e in events if e["event"] == "progress"]
    assert [p["done"] for p in progress] == [1, 2, 3] and {p["total"] for p in progress} == {3}
    assert all(p["fps"] > 0 for p in progress) and progress[-1]["eta_s"] == 0
    assert progress[0]["eta_s"] > 0
    assert done == {**done, "done": 3, "skipped": 0, "total": 3, "exit_code": 0, "status": "ok"}
    assert done["elapsed_s"] >= 0
    assert sorted(p.name for p in tmp_path.glob("*.txt")) == ["0010.txt", "0011.txt", "0012.txt"]


def test_skipped_frames_are_reported_and_counted(tmp_path):
    result, events = run_job(tmp_path, "--frames", "3", "--skip", "2")
    assert result.returncode == 0
    frames = [e for e in events if e["event"] == "frame"]
    assert [(f["frame"], f["skipped"], f["path"]) for f in frames][1] == (2, True, None)
    assert events[-1]["done"] == 3 and events[-1]["skipped"] == 1


def test_stdout_carries_only_protocol_lines_in_json_mode(tmp_path):
    result, events = run_job(tmp_path, "--noise", "--json")
    assert result.returncode == 0
    assert "noise" not in kinds(events), result.stdout
    assert result.stderr.count("noise from print") == 3 and result.stderr.count("noise from fd 1") == 3


def test_json_is_the_default_when_stdout_is_not_a_terminal(tmp_path):
    _, events = run_job(tmp_path)
    assert kinds(events)[0] == "start" and kinds(events)[-1] == "done"


def test_internal_error_exits_1_with_traceback_on_stderr(tmp_path):
    result, events = run_job(tmp_path, "--crash-at", "2")
    assert result.returncode == protocol.EXIT_INTERNAL == 1
    assert "Traceback" in result.stderr and "RuntimeError: boom in frame 2" in result.stderr
    assert kinds(events) == ["start", "frame", "progress", "error", "done"]
    assert events[-2]["kind"] == "internal" and "boom in frame 2" in events[-2]["message"]
    assert events[-1]["exit_code"] == 1 and events[-1]["status"] == "internal-error" and events[-1]["done"] == 1


def test_a_reader_that_goes_away_stops_the_job_quietly(tmp_path):
    """`job | head`: the protocol lines' pipe closes; no traceback, no internal error, exit 3."""
    job = subprocess.Popen([sys.executable, str(JOB), str(tmp_path), "--json", "--frames", "20"], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, cwd=ROOT)
    job.stdout.close()  # before the job writes its start event
    stderr = job.stderr.read().decode()
    assert job.wait(timeout=TIMEOUT) == protocol.EXIT_CANCELLED
    assert stderr == ""
    assert not (tmp_path / "started-0002").exists()  # it stopped at the first event it could not write


def test_bad_input_exits_2_with_file_frame_field(tmp_path):
    result, events = run_job(tmp_path, "--bad-at", "2")
    assert result.returncode == protocol.EXIT_BAD_INPUT == 2
    assert "Traceback" not in result.stderr
    error = events[-2]
    assert error["event"] == "error" and error["kind"] == "shot-format"
    assert (error["file"], error["frame"], error["field"]) == ("passes/0002.exr", 2, "passes")
    assert error["message"] == "passes/0002.exr, frame 2, field 'passes': pass file missing"
    assert error["reason"] == "pass file missing"
    assert events[-1]["status"] == "bad-input" and events[-1]["exit_code"] == 2


def test_bad_input_before_the_first_frame(tmp_path):
    result, events = run_job(tmp_path, "--bad-before-start")
    assert result.returncode == 2
    assert kinds(events) == ["error", "done"]
    assert events[0]["field"] == "camera.K" and events[0]["frame"] == 7
    assert events[1]["total"] == 0


def test_human_mode_prints_a_summary_to_stderr_and_nothing_to_stdout(tmp_path):
    result, _ = run_job(tmp_path, "--no-json", "--frames", "2")
    assert result.returncode == 0
    assert result.stdout == ""
    assert "sleepy: 2 frame(s)" in result.stderr
    assert "frames/s" in result.stderr and "2/2" in result.stderr
    assert "sleepy: ok: 2/2 frame(s)" in result.stderr


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_signal_cancels_after_the_current_frame_is_written(tmp_path, signum):
    process = subprocess.Popen([sys.executable, str(JOB), str(tmp_path), "--frames", "5", "--sleep", "0.6"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        deadline = time.monotonic() + TIMEOUT
        while not (tmp_path / "started-0002").exists():  # frame 2 is being written now
            assert time.monotonic() < deadline and process.poll() is None, process.communicate()
            time.sleep(0.01)
        process.send_signal(signum)
        stdout, stderr = process.communicate(timeout=TIMEOUT)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == protocol.EXIT_CANCELLED == 3, stderr
    events = [protocol.parse_event(line) for line in stdout.splitlines()]
    assert [e["frame"] for e in events if e["event"] == "frame"] == [1, 2]
    assert events[-2]["event"] == "error" and events[-2]["kind"] == "cancelled"
    assert signal.Signals(signum).name in events[-2]["message"] and "after frame 2" in events[-2]["message"]
    assert events[-1]["status"] == "cancelled" and events[-1]["done"] == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["0001.txt", "0002.txt", "started-0001", "started-0002"]
    assert (tmp_path / "0002.txt").read_text() == "frame 2 first half\nframe 2 second half\n"
    assert "Traceback" not in stderr


def test_cancel_token_restores_previous_handlers():
    from neural_core.contract.cancel import CancelToken

    def mine(signum, frame):
        pass

    previous = signal.signal(signal.SIGTERM, mine)
    try:
        with CancelToken() as token:
            assert token.installed and signal.getsignal(signal.SIGTERM) != mine
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.01)  # the handler runs between bytecodes of the main thread
            assert token.cancelled and token.signal_name == "SIGTERM"
            with pytest.raises(protocol.CancelledError, match="cancelled by SIGTERM after frame 4"):
                token.check(after_frame=4)
        assert signal.getsignal(signal.SIGTERM) is mine
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_run_frames_in_process_with_a_string_stream():
    stream = io.StringIO()
    written = []
    code = protocol.run_frames("demo", [3, 4], lambda f: written.append(f) or f"/x/{f}.png",
                               reporter=protocol.JsonLinesReporter(stream))
    assert code == 0 and written == [3, 4]
    events = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [e["event"] for e in events] == ["start", "frame", "progress", "frame", "progress", "done"]
    assert events[3]["path"] == "/x/4.png"


def test_run_frames_maps_neural_face_errors_to_2():
    stream = io.StringIO()

    def bad(frame):
        raise ShotFormatError("expected a 3x3 matrix, got 3x4", file="shot.json", frame=frame, field="camera.K")

    assert protocol.run_frames("demo", [12], bad, reporter=protocol.JsonLinesReporter(stream)) == 2
    error = json.loads(stream.getvalue().splitlines()[-2])
    assert error["message"] == "shot.json, frame 12, field 'camera.K': expected a 3x3 matrix, got 3x4"


@pytest.mark.parametrize("line, expected", [
    ('{"event": "frame", "frame": 3, "path": "a.png"}\n', {"event": "frame", "frame": 3, "path": "a.png"}),
    (b'{"event": "done", "done": 1}\r\n', {"event": "done", "done": 1}),
    ('{"event": "future-kind", "x": 1}', {"event": "future-kind", "x": 1}),
    ("Warning: Exception raised reading pixel data\n", {"event": "noise",
                                                        "text": "Warning: Exception raised reading pixel data"}),
    ("", {"event": "noise", "text": ""}),
    ('{"event": "progress", "done": ', {"event": "noise", "text": '{"event": "progress", "done": '}),
    ('[1, 2]', {"event": "noise", "text": "[1, 2]"}),
    ('{"no_event": 1}', {"event": "noise", "text": '{"no_event": 1}'}),
    ('{"event": 5}', {"event": "noise", "text": '{"event": 5}'}),
    (b"\xff\xfe not utf-8", {"event": "noise", "text": "\ufffd\ufffd not utf-8"}),
])
def test_parse_event_is_tolerant(line, expected):
    assert protocol.parse_event(line) == expected


def test_events_are_json_safe():
    import numpy as np

    line = protocol.format_event("progress", done=np.int64(2), fps=float("inf"), eta_s=float("nan"),
                                 path=Path("/a/b.png"), values=np.arange(2))
    assert json.loads(line) == {"event": "progress", "done": 2, "fps": None, "eta_s": None, "path": "/a/b.png",
                                "values": [0, 1]}


def test_human_reporter_draws_a_bar_with_rate_and_time_left():
    stream = io.StringIO()
    reporter = protocol.HumanReporter(stream, width=10)
    reporter.start("render", 4, [1, 2, 3, 4])
    reporter.progress(1, 4, fps=2.0, eta_s=75.0)
    reporter.warning("slow disk")
    reporter.done(4, 0, 4, 2.04, 0, command="render")
    text = stream.getvalue()
    assert "[##........] 1/4  2.00 frames/s  1:15 left" in text
    assert "warning: slow disk" in text and "render: ok: 4/4 frame(s) in 2.0 s" in text


def test_human_reporter_says_where_the_files_went():
    # issue 13.12: human-mode `render` never said where its files were written
    stream = io.StringIO()
    reporter = protocol.HumanReporter(stream, width=10)
    reporter.start("render", 3, [1, 2, 3], out="/farm/shot/neural")
    for frame in (1, 2, 3):
        reporter.frame(frame, path=f"/farm/shot/neural/neural_000{frame}.png", skipped=frame == 2)
    reporter.done(3, 1, 3, 2.04, 0, command="render")
    lines = stream.getvalue().splitlines()
    assert lines[0] == "render: 3 frame(s) -> /farm/shot/neural"
    assert lines[-1] == ("render: ok: 3/3 frame(s), 1 skipped in 2.0 s; "
                         "files: /farm/shot/neural/neural_0001.png .. neural_0003.png")


def test_human_reporter_names_one_file_once_and_no_files_when_none_were_made():
    stream = io.StringIO()
    reporter = protocol.HumanReporter(stream)
    reporter.start("render", 1, [7], out="/out")
    reporter.frame(7, path="/out/neural_0007.png")
    reporter.done(1, 0, 1, 0.5, 0, command="render")
    assert stream.getvalue().splitlines()[-1] == "render: ok: 1/1 frame(s) in 0.5 s; files: /out/neural_0007.png"
    stream = io.StringIO()  # a job without an output folder (validate) checked these files: not "files"
    reporter = protocol.HumanReporter(stream)
    reporter.start("validate", 1, [7])
    reporter.frame(7, path="/shot/passes/0007.exr")
    reporter.done(1, 0, 1, 0.5, 0, command="validate")
    assert stream.getvalue().splitlines()[-1] == "validate: ok: 1/1 frame(s) in 0.5 s"
    stream = io.StringIO()
    reporter = protocol.HumanReporter(stream)
    reporter.error("bad shot", "bad-input")
    reporter.done(0, 0, 0, 0.1, 2, command="render")
    assert stream.getvalue().splitlines()[-1] == "render: bad-input: 0/0 frame(s) in 0.1 s"


def test_human_mode_is_the_default_when_stdout_is_a_terminal(tmp_path):
    import pty

    master, slave = pty.openpty()
    try:
        result = subprocess.run([sys.executable, str(JOB), str(tmp_path), "--frames", "2"], stdout=slave,
                                stderr=subprocess.PIPE, text=True, timeout=TIMEOUT, cwd=ROOT)
        os.close(slave)
        slave = None
        chunks = []
        while True:
            try:
                chunk = os.read(master, 4096)
            except OSError:  # EIO: the terminal has no writer left
                break
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        if slave is not None:
            os.close(slave)
        os.close(master)
    assert result.returncode == 0
    assert b"".join(chunks) == b""  # no JSON on the terminal
    assert "sleepy: ok: 2/2 frame(s)" in result.stderr and '"event"' not in result.stderr
