"""The train step: the conditional face model on the built samples, with per-frame appearance codes.

A new run takes the ``train_preset`` setting (neural_core/train/config.py ``PRESETS``:
``cpu-256`` or ``cuda-512``, both with appearance codes and the adversarial term) and
``train_steps`` when set; a run already in ``model/`` for the same build and preset
resumes (``--steps`` may change its length). ``--minutes`` is a time budget: the run stops
with a checkpoint and the next ``actor train`` continues it. The step is done when the
run has reached its last step. A SIGINT/SIGTERM stops it with a checkpoint (exit 3).

Progress: the trainer's own bar at a terminal; protocol ``progress`` events otherwise
(``done``/``total`` in steps, ``fps`` in steps per second), at most one every 2 seconds.
"""

import sys
import time

from ...contract.errors import CancelledError
from ...contract.protocol import JsonLinesReporter
from ..project import ActorError, digest, storage_errors
from . import up_to_date

REPORT_EVERY_S = 2.0


class ProtocolProgress:
    """The trainer's Progress interface, as protocol progress events."""

    def __init__(self, job, total):
        self.job, self.total = job, total
        self.last = 0.0
        self.step_time = None

    def update(self, step, losses, step_seconds, deadline_seconds=None):
        self.step_time = step_seconds if self.step_time is None else 0.9 * self.step_time + 0.1 * step_seconds
        now = time.monotonic()
        if now - self.last >= REPORT_EVERY_S or step >= self.total:
            left = (self.total - step) * self.step_time
            if deadline_seconds is not None:
                left = min(left, max(0.0, deadline_seconds))
            self.job.reporter.emit("progress", done=step, total=self.total, fps=round(1.0 / max(self.step_time, 1e-9), 4),
                                   eta_s=round(left, 2), losses={k: round(float(v), 5) for k, v in losses.items()})
            self.last = now

    def close(self):
        pass


def run(context):
    actor, job = context.actor, context.job
    actor.require("build")
    inputs = actor.inputs("train")
    state = actor.state("train")
    steps_wanted = actor.setting("train_steps")
    if actor.is_done("train") and (steps_wanted is None or steps_wanted <= state["summary"]["steps"]):
        return up_to_date(context, "train", state.get("summary"))
    from ...train.config import PRESETS, RESUME_CHANGEABLE, preset_config
    from ...train.progress import Progress
    from ...train.trainer import CHECKPOINT, Trainer

    preset = actor.setting("train_preset")
    if preset not in PRESETS:
        raise ActorError(f"unknown training preset {preset!r} (known: {', '.join(PRESETS)})")
    folder = actor.folder("train")
    resuming = actor.begin("train", inputs) and (folder / CHECKPOINT).is_file()
    overrides = {"steps": steps_wanted} if steps_wanted is not None else {}
    config = preset_config(preset, **{**actor.setting("train_config"), **overrides})
    if resuming:  # the settings a run may change as it goes take their current values (the trainer logs which changed)
        overrides = {**{k: v for k, v in actor.setting("train_config").items() if k in RESUME_CHANGEABLE}, **overrides}
    messages = []

    def log(message):
        messages.append(message)
        context.note(message)

    with storage_errors():
        trainer = Trainer(folder, [str(actor.folder("build"))], config, device=context.option("device", "auto"),
                          resume=resuming, log=log, changes=overrides if resuming else None)
    total = trainer.config.steps
    job.start(total, [], step="train", actor=str(actor.root), preset=preset, resumed_at=trainer.step if resuming else None,
              device=trainer.device_note)
    if preset == "cuda-512" and trainer.device.type == "cpu":
        job.warning("the cuda-512 preset is training on the CPU: its 512 px model takes minutes per step there; "
                    "rerun with --preset cpu-256 for the CPU's preset (this run is then moved aside)")
    json_lines = isinstance(job.reporter, JsonLinesReporter)
    progress = ProtocolProgress(job, total) if json_lines else Progress(total, stream=sys.stderr)
    minutes = float(context.option("minutes") or 0.0)
    job.token.check()
    with storage_errors():
        step = trainer.run(minutes, progress)
    job.done = step  # the done event counts steps, as the progress events do (a client shows it last)
    summary = {"steps": step, "preset": preset, "frames": len(trainer.dataset), "train_seconds": round(trainer.elapsed, 1)}
    if step < total:
        if any(m.startswith("stopped by signal") for m in messages):
            raise CancelledError(f"training stopped at step {step} of {total} (checkpoint kept; rerun to continue)")
        context.note(f"actor train: stopped at step {step} of {total} (time budget); rerun to continue")
        return
    model = folder / "ema.safetensors"
    actor.finish("train", inputs, digest([str(model), model.stat().st_size, model.stat().st_mtime_ns, step]), summary)
    context.note(f"actor train: done, {step} steps -> {model}")
