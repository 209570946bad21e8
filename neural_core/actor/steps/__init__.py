"""The steps of the actor workflow (``python -m neural_core actor STEP ACTOR_DIR``).

Each module has ``run(context)``: ``context`` is a :class:`Context` holding the
:class:`~..project.Actor`, the protocol :class:`~...contract.protocol.Job` it reports
through (``job.start`` is called by the step) and ``note(text)`` for a line meant for a
person (stderr). Steps are idempotent and resumable; see :mod:`..project`.
"""

from dataclasses import dataclass


@dataclass
class Context:
    actor: object  # project.Actor
    job: object  # contract.protocol.Job
    note: object  # note(text): one line for a person (stderr)
    options: dict = None  # the step's own options that are no actor setting (train: minutes, device)

    def option(self, name, default=None):
        return (self.options or {}).get(name, default)

    def stage(self, text, done=0, total=None, eta_s=None):
        """A progress event for work that is no frame (a solver stage); ``stage`` names it.
        ``total`` (default: the step's frames) counts that stage's own work, so a progress bar
        moves through it."""
        self.job.reporter.emit("progress", done=done, total=self.job.total if total is None else total, fps=None,
                               eta_s=eta_s, stage=text)


def up_to_date(context, step, summary):
    """Report a step that has nothing to do (``start`` with ``up_to_date``, then the note)."""
    context.job.start(0, [], step=step, actor=str(context.actor.root), up_to_date=True, summary=summary)
    described = ", ".join(f"{key} {value}" for key, value in (summary or {}).items() if not isinstance(value, (list, dict)))
    context.note(f"actor {step}: already done for these inputs, nothing to do" + (f" ({described})" if described else ""))
