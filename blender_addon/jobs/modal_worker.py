"""Running a worker process from an operator, with a window (modal) or without (blocking).

One home for what the render job (``render_job``, ``operators/render_animation.py``) and
the actor steps (``operators/actor_step.py``) do alike; each passes what differs: the
worker's argv, the scene's running-set (its ``mark_running(scene, running)``), where the
progress goes and its texts.

- :func:`start`, :func:`finish`: start a worker (tracked, so it stops with the add-on) and
  release it;
- :func:`wait`: no window (``blender -b``, the bpy module, scripts): to the end, Ctrl-C
  cancels gracefully;
- :func:`has_window`, :func:`begin_modal`, :func:`modal_event`, :func:`end_modal`,
  :func:`abandon`, :func:`stop_timer`: a modal operator polling the worker on a
  window-manager timer, with progress in the window manager, the status bar and the panel,
  Esc cancelling;
- :func:`show_state`, :func:`failed`, :func:`succeeded`: what the panel and the reports say.
"""

import bpy

from ..core_link import NeuralFaceError
from . import worker_client
from .events import format_duration

PROGRESS_STEPS = 1000  # window-manager progress runs 0..PROGRESS_STEPS
WARNINGS_SHOWN = 3  # the panel shows the last few worker warnings of the last job


def start(argv):
    """Start the worker ``argv`` (its first item the worker's Python) in the worker
    environment; tracked until :func:`finish`. Returns the WorkerProcess."""
    process = worker_client.WorkerProcess(argv, env=worker_client.worker_environment())
    return worker_client.track(process.start())


def finish(process, check=True):
    """Release ``process`` (killed if still running, reaped, files closed); with
    ``check``, raise WorkerError unless it exited successfully."""
    try:
        if check:
            process.check()
    finally:
        process.close()
        worker_client.untrack(process)


def wait(process, scene, mark_running, report, timeout=None, on_cancel=None, on_end=None):
    """The blocking path: ``scene`` is marked running while ``process`` runs to its end
    (``timeout`` seconds at most), ``report(progress)`` on every poll; then the worker is
    released (:func:`finish`: WorkerError unless it succeeded).

    A KeyboardInterrupt (Ctrl-C, or SIGTERM turned into one) cancels the worker gracefully
    (``on_cancel()`` first): it finishes its current item, then WorkerError("cancelled ...")
    is raised. ``on_end(progress)`` runs once the worker has ended, before its exit status
    is checked. Returns the :class:`~.events.JobProgress`.
    """
    mark_running(scene, True)
    ended = False
    try:
        try:
            process.wait(timeout=timeout, on_poll=report)
        except KeyboardInterrupt:
            if on_cancel is not None:
                on_cancel()
            process.cancel()
            process.wait(timeout=process.grace_s * 3 + 10, on_poll=report)
        ended = True
        if on_end is not None:
            on_end(process.progress)
    finally:
        mark_running(scene, False)
        finish(process, check=ended)
    return process.progress


def show_state(props, progress, status=None):
    """Copy what every job's panel shows of ``progress`` (a JobProgress) into ``props``:
    ``progress`` (0..1), ``eta_text``, ``status_text`` (``status``, else the progress
    summary) and ``warning_text`` (the last WARNINGS_SHOWN warnings, one per line)."""
    props.progress = progress.fraction
    props.eta_text = format_duration(progress.eta_s)
    props.status_text = status if status is not None else progress.summary()
    props.warning_text = "\n".join(progress.warnings[-WARNINGS_SHOWN:])


def failed(operator, props, error, report_prefix=""):
    """The job did not start or failed: ``Failed: <error>`` in ``props.status_text``, an
    error report ``<report_prefix><error>``; returns ``{"CANCELLED"}``."""
    props.status_text = f"Failed: {error}"
    operator.report({"ERROR"}, f"{report_prefix}{error}")
    return {"CANCELLED"}


def succeeded(operator, props, status, report):
    """The job is done: ``status`` in ``props.status_text``, ``report`` as an info report;
    returns ``{"FINISHED"}``."""
    props.status_text = status
    operator.report({"INFO"}, report)
    return {"FINISHED"}


# -- the modal operator ------------------------------------------------------------------------
def has_window(context):
    """Whether an operator can run modally: a window, not ``blender -b`` or the bpy module
    (there it runs the blocking path)."""
    return not bpy.app.background and context.window is not None


def redraw_properties(context):
    """Redraw every Properties editor (where the panels show the progress)."""
    for window in getattr(context.window_manager, "windows", ()):
        for area in window.screen.areas:
            if area.type == "PROPERTIES":
                area.tag_redraw()


def begin_modal(operator, context, interval_s):
    """Make ``operator`` modal: window-manager progress, a timer every ``interval_s``
    seconds on its window, its modal handler. Returns the timer (for :func:`modal_event`)."""
    wm = context.window_manager
    wm.progress_begin(0, PROGRESS_STEPS)
    timer = wm.event_timer_add(interval_s, window=context.window)
    wm.modal_handler_add(operator)
    return timer


def is_esc(event):
    return event.type == "ESC" and event.value == "PRESS"


def is_tick(event, timer):
    """Whether ``event`` is a tick of the operator's own ``timer`` (not another's)."""
    return event.type == "TIMER" and event.timer is timer


def modal_event(context, event, timer, process, on_esc, show, status_bar_text):
    """One event of a modal worker run.

    Esc: ``process.cancel()`` (the worker stops after its current item), ``on_esc()``,
    ``{"RUNNING_MODAL"}``. Anything but a tick of ``timer``: ``{"PASS_THROUGH"}``. A tick:
    poll the worker, ``show(progress, cancelling)``, update the window-manager progress
    and, unless cancelling, the status bar (``status_bar_text(progress)``), redraw the
    panels; ``{"PASS_THROUGH"}`` while the worker runs, None once it has ended (the
    operator then calls :func:`end_modal`).
    """
    if is_esc(event):
        process.cancel()
        on_esc()
        return {"RUNNING_MODAL"}
    if not is_tick(event, timer):
        return {"PASS_THROUGH"}
    running = process.poll()
    progress = process.progress
    cancelling = process.cancel_requested_at is not None
    show(progress, cancelling)
    context.window_manager.progress_update(int(progress.fraction * PROGRESS_STEPS))
    if context.workspace is not None and not cancelling:
        context.workspace.status_text_set(status_bar_text(progress))
    redraw_properties(context)
    return {"PASS_THROUGH"} if running else None


def end_modal(operator, context, process, scene, mark_running, props, report_prefix):
    """After the worker ended: release it (:func:`finish`), ``scene`` no longer running,
    panels redrawn. Returns True when it succeeded; else ``props.status_text`` says
    ``Stopped: <error>``, ``operator`` reports ``<report_prefix><error>`` (a warning after
    Esc, else an error) and it returns False."""
    try:
        finish(process)
    except NeuralFaceError as error:
        props.status_text = f"Stopped: {error}"
        operator.report({"WARNING"} if process.cancel_requested_at else {"ERROR"}, f"{report_prefix}{error}")
        return False
    finally:
        mark_running(scene, False)
        redraw_properties(context)
    return True


def abandon(process, scene, mark_running):
    """Blender ended the modal operator (file loaded, window closed): the worker (if
    started) is stopped and released, ``scene`` (if any) no longer running."""
    if process is not None:
        finish(process, check=False)
    if scene is not None:
        mark_running(scene, False)


def stop_timer(context, timer):
    """Remove the modal run's ``timer`` (if any) and its window-manager progress, give the
    status bar back. Returns None: the operator's timer from now on."""
    wm = context.window_manager
    if timer is not None:
        wm.event_timer_remove(timer)
        wm.progress_end()
    if context.workspace is not None:
        context.workspace.status_text_set(None)
    return None
