"""What one cluster worker holds: one shot, one model, chunk after chunk of frames.

A :class:`ChunkRenderer` loads the shot and the model once, on its first chunk, and then
renders any number of chunks of that shot into the shared output folder. Each chunk is
exactly a ``python -m neural_core render --frames <chunk>`` run of the same options: it
claims the chunk's frame locks, keeps its manifest ``OUT/<stem>.chunks/<chunk>.json`` and
its log, and makes every frame with the worker's own per-frame steps
(:meth:`~neural_core.worker.pipeline.ShotRenderer.prepare`, ``synthesise``, ``store``).
So its frames are bit-identical to a one-process render at the same torch thread count,
frames already current are skipped, and a chunk rerun after a crash (a lost node) skips
what the crashed run finished and removes its temporary files (:mod:`neural_core.worker.chunks`).

:meth:`ChunkRenderer.render_chunk` yields one plain dict per event (``frame``,
``warning``, ``busy``), so a scheduler (Ray, :mod:`.ray_render`) can stream them. Plain
Python: torch is imported on the first chunk, Ray never.
"""

import os
import socket
import time
from dataclasses import replace
from pathlib import Path

from ..contract.errors import NeuralFaceError
from ..contract.protocol import Reporter
from ..worker.chunks import LOCK_FILE, FrameLocks, OutputChunk, spans
from ..worker.pipeline import RenderOptions, ShotRenderer
from ..worker.threads import prepare_cpu_threads, use_cpu_threads

COMMAND = "farm-ray"  # the `command` of the protocol events, in the chunk logs too


def frame_list_spec(frames):
    """``[1, 2, 3, 7]`` -> ``"1,2,3,7"``: a --frames selection of exactly these frames."""
    return ",".join(str(frame) for frame in frames)


class _Nowhere(Reporter):
    """Drops every event (a chunk log's inner reporter: the events go to the driver as
    :meth:`ChunkRenderer.render_chunk`'s dicts instead)."""

    def emit(self, event, **fields):
        pass


class ChunkRenderer:
    """Renders chunks of one shot with one model, loaded once (a Ray actor's state).

    ``options``: the job's render options; their ``frames`` are ignored (each chunk names
    its own). ``threads``: torch CPU threads, set before torch loads (see
    :mod:`neural_core.worker.threads`); frames are bit-identical to a render with the
    same ``--threads``.
    """

    def __init__(self, options: RenderOptions, threads: int):
        self.options = options
        self.threads = prepare_cpu_threads(threads)  # before torch is imported in this process
        self.renderer = None  # ShotRenderer, made on the first chunk (loads the model)
        self.chunks_rendered = 0
        self.model_loads = 0

    def where(self):
        """``{"host", "pid"}`` of this process (the driver names a lost worker with it)."""
        return {"host": socket.gethostname(), "pid": os.getpid()}

    def busy(self, frames):
        """Frame runs ``[[first, last], ...]`` of ``frames`` that another live process
        renders right now (its record locks), [] when none; never claims anything."""
        folder = Path(self.options.out) / f"{self.stem()}.chunks"
        if not (folder / LOCK_FILE).is_file():
            return []
        locks = FrameLocks(folder / LOCK_FILE)
        try:
            return locks.busy(spans(frames, self.shot_frames())) if locks.available else []
        finally:
            locks.close()  # this process holds no chunk between chunks, so no lock of ours is dropped

    def stem(self):
        """The chunk folder's stem (``neural`` for ``neural_####``), as the renderer named it."""
        if self.renderer is not None:
            return self.renderer.chunk.folder.name.removesuffix(".chunks")
        return self.options.name.replace("#", "").rstrip("_.-") or "neural"

    def shot_frames(self):
        if self.renderer is not None:
            return self.renderer.shot.frame_numbers()
        from ..contract.shot import read_shot

        return read_shot(self.options.shot, check_passes=False).frame_numbers()

    def _claim(self, frames):
        """Make ``frames`` the renderer's chunk (its locks, manifest and log): on the first
        chunk by building the ShotRenderer (shot, model, checks), afterwards with the same
        job fingerprint and model."""
        if self.renderer is None:
            self.renderer = ShotRenderer(replace(self.options, frames=frame_list_spec(frames)))
            self.model_loads += 1
            use_cpu_threads(self.threads)
            return
        from ..contract.shot.validate import check_pass_files

        renderer = self.renderer
        check_pass_files(renderer.shot_folder, renderer.shot, frames=frames)
        chunk = OutputChunk(renderer.out, self.stem(), frames, renderer.shot.frame_numbers(), job=renderer.chunk.job,
                            file_names={frame: renderer.output_path(frame).name for frame in frames})
        renderer.frames, renderer.chunk, renderer.manifest = list(frames), chunk, chunk.manifest

    def render_chunk(self, frames):
        """Render the chunk ``frames`` (sorted frame numbers of the shot); yields dicts:

        ``{"event": "busy", "runs": [[a, b], ...], "message"}``: another live process holds
        some of these frames (nothing done; ask again later);
        ``{"event": "warning", "message"}``: the renderer's warnings (coefficients the
        model lacks, chunks made with other inputs), on the chunk that meets them;
        ``{"event": "frame", "frame", "path", "skipped", "host", "pid"}``: one per frame, once its file is complete.

        Raises NeuralFaceError for bad input (shot, model, storage), as ``render`` does.
        """
        frames = list(frames)
        taken = self.busy(frames)
        if taken:
            yield {"event": "busy", "runs": taken, "message": f"frames {_runs(taken)} are being rendered by another process"}
            return
        first = self.renderer is None
        try:
            self._claim(frames)
        except NeuralFaceError as error:
            taken = self.busy(frames)  # claimed by another process between our look and our claim
            if not taken:
                raise
            yield {"event": "busy", "runs": taken, "message": str(error)}
            return
        renderer = self.renderer
        log = renderer.chunk.log(_Nowhere())
        where = self.where()
        started, done, skipped = time.monotonic(), 0, 0
        try:
            log.start(COMMAND, len(frames), frames, chunk=renderer.chunk.name, **renderer.start_fields())
            for message in (renderer.warnings if first else []) + renderer.chunk.warnings:
                log.warning(message)
                yield {"event": "warning", "message": message}
            for frame in frames:
                work = renderer.prepare(frame)
                if work.passes is not None:
                    renderer.store(work, renderer.synthesise(work))
                done += 1
                skipped += work.passes is None
                log.frame(frame, path=str(work.path), skipped=work.passes is None)
                yield {"event": "frame", "frame": frame, "path": str(work.path), "skipped": work.passes is None, **where}
            log.done(done, skipped, len(frames), time.monotonic() - started, 0, command=COMMAND)
            self.chunks_rendered += 1
        except NeuralFaceError as error:
            log.error(str(error), "bad-input")
            log.done(done, skipped, len(frames), time.monotonic() - started, error.exit_code, command=COMMAND)
            raise
        finally:
            log.close()
            renderer.chunk.close()  # drops this chunk's frame locks: the next chunk claims its own

    def stats(self):
        """``{"model_loads", "chunks"}``: how often this worker loaded the model, chunks done."""
        return {"model_loads": self.model_loads, "chunks": self.chunks_rendered, **self.where()}


def _runs(runs):
    return ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in runs)
