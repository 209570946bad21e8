"""The build step: Blender renders the fitted head's passes for every shot frame (training samples).

Runs ``python -m blender_addon.dataset.actor_build --shot fit/shot --crops fit/crops --out
build [--samples N] [--resolution R] --json`` in a subprocess (this Python, the checkout's
root as working folder: the neural core never imports ``blender_addon`` or ``bpy``),
reads its worker-protocol events and passes them on. Its stderr goes to
``build/blender.log``. A cancel (SIGINT/SIGTERM) is passed on as SIGINT; the Blender side
finishes its current frame and exits 3. ``BUILD_TIMEOUT_S`` without any event from it, or
``EXIT_GRACE_S`` after its ``done`` event without it exiting (bpy can hang at exit), or
``CANCEL_GRACE_S`` after a cancel, and it is killed. The step is done when the build folder holds a complete sample folder
(``shot/`` + ``targets/`` + ``frames.json``, see neural_core/train/dataset.py).
"""

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from ...contract.errors import CancelledError
from ...contract.protocol import parse_event
from ..project import ActorError, digest, file_digest, storage_errors
from . import up_to_date

MODULE = "blender_addon.dataset.actor_build"
BUILD_TIMEOUT_S = 1800.0  # seconds without an event from the Blender side before it is killed
EXIT_GRACE_S = 60.0  # seconds it may take to exit after its done event
CANCEL_GRACE_S = 600.0  # seconds it may take to finish its frame after a cancel
CHECKOUT = Path(__file__).resolve().parents[3]  # the folder holding neural_core/ and blender_addon/


def command(actor):
    """The Blender side's command line."""
    fit = actor.folder("fit")
    line = [sys.executable, "-m", MODULE, "--shot", str(fit / "shot"), "--crops", str(fit / "crops"),
            "--out", str(actor.folder("build")), "--json"]
    for option, name in (("--samples", "build_samples"), ("--resolution", "build_resolution")):
        if actor.setting(name) is not None:
            line += [option, str(actor.setting(name))]
    return line


def sample_folders(actor):
    from ...train.dataset import find_sample_folders

    folder = actor.folder("build")
    return find_sample_folders(folder) if folder.is_dir() else []


def outputs(folders):
    """Hash of the built samples: their shot.json and frames.json, and every target's name and size."""
    parts = []
    for folder in folders:
        targets = sorted((p.name, p.stat().st_size) for p in (folder / "targets").glob("*.png"))
        parts.append([file_digest(folder / "shot" / "shot.json"), file_digest(folder / "frames.json"), targets])
    return digest(parts)


def _reader(stream, lines):
    for line in stream:
        lines.put(line)
    lines.put(None)


def run(context):
    actor, job = context.actor, context.job
    actor.require("fit")
    inputs = actor.inputs("build")
    if actor.is_done("build"):
        return up_to_date(context, "build", actor.state("build").get("summary"))
    script = CHECKOUT / (MODULE.replace(".", "/") + ".py")
    if not script.is_file():
        raise ActorError(f"the Blender side of the build ({script}) is not in this checkout; update Neural Face")
    frames = actor.state("fit")["summary"]["shot_frames"]
    actor.begin("build", inputs)
    job.start(frames, list(range(1, frames + 1)), step="build", actor=str(actor.root))
    code, error = spawn(context, command(actor), actor.folder("build") / "blender.log")
    if code == 3 or job.token.cancelled:
        raise CancelledError(error or f"the build was cancelled after frame {job.last_frame}")
    if code != 0:
        raise ActorError(f"the Blender build failed (exit {code}): {error or 'no error reported'}; "
                         f"log: {actor.folder('build') / 'blender.log'}")
    folders = sample_folders(actor)
    if not folders:
        raise ActorError(f"the Blender build ended without a complete sample folder in {actor.folder('build')}")
    summary = {"sample_folders": len(folders), "frames": frames}
    actor.finish("build", inputs, outputs(folders), summary)
    context.note(f"actor build: {frames} training frame(s) -> {actor.folder('build')}")


def spawn(context, line, log_path):
    """Run the Blender side; pass its events on. Returns (exit code, its last error message)."""
    job = context.job
    with storage_errors():
        log = open(log_path, "ab")
    process = subprocess.Popen(line, cwd=CHECKOUT, stdout=subprocess.PIPE, stderr=log, stdin=subprocess.DEVNULL,
                               env={**os.environ, "PYTHONUNBUFFERED": "1"})
    lines = queue.Queue()
    threading.Thread(target=_reader, args=(process.stdout, lines), daemon=True).start()
    error, finished, forwarded, last_event = None, None, None, time.monotonic()
    try:
        while True:
            if job.token.cancelled and not forwarded:
                process.send_signal(signal.SIGINT)
                forwarded = time.monotonic()
            if forwarded and time.monotonic() - forwarded > CANCEL_GRACE_S:
                process.kill()  # it did not finish its frame in time
            try:
                raw = lines.get(timeout=0.5)
            except queue.Empty:
                waited = time.monotonic() - last_event
                if finished is not None and waited > EXIT_GRACE_S:
                    process.kill()
                    break
                if finished is None and waited > BUILD_TIMEOUT_S:
                    process.kill()
                    process.wait()
                    return 1, f"no progress from the Blender side for {BUILD_TIMEOUT_S / 60:.0f} minutes; killed"
                if process.poll() is not None and lines.empty():
                    break
                continue
            if raw is None:
                break
            last_event = time.monotonic()
            event = parse_event(raw)
            kind = event.get("event")
            if kind == "frame":  # counted here, reported as the Blender side reports it
                job.done += 1
                job.skipped += bool(event.get("skipped"))
                job.last_frame = event.get("frame")
                job.reporter.frame(event.get("frame"), path=event.get("path"), skipped=bool(event.get("skipped")))
            elif kind == "progress":
                job.reporter.progress(job.done, job.total, fps=event.get("fps"), eta_s=event.get("eta_s"))
            elif kind == "warning":
                job.warning(str(event.get("message")))
            elif kind == "error":
                error = str(event.get("message"))
            elif kind == "done":
                finished = event.get("exit_code")
        try:
            code = process.wait(timeout=EXIT_GRACE_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            code = finished
        if finished is not None and code != finished:
            code = finished  # killed while hanging at exit: its done event is the word
        return (code if code is not None else 1), error
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        log.close()
