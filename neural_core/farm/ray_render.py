"""``python -m neural_core farm ray SHOT --address HOST:PORT``: a shot's frames on a Ray cluster.

Design (docs/farm.md "Ray"):

- **Actors we manage, not ray.data.** Each Ray actor holds one
  :class:`~neural_core.farm.chunk_renderer.ChunkRenderer`: the shot and the model are
  loaded once per actor, on its first chunk, and every chunk after that reuses them.
  ``ray.data``'s ``map_batches`` with a callable class would also load the model once per
  actor, but it brings pyarrow and pandas (hundreds of MB) into the worker environment,
  moves the frames through its object store as table rows and decides the batches itself;
  here the frames never leave the shared output folder, a chunk is exactly a
  ``render --frames`` chunk (its locks, manifest and log), and the driver sees every frame
  as it is written.
- **Chunks handed out as actors come free.** The frames are cut into chunks of consecutive
  frames; an actor gets its next chunk when it finishes one, so fast and slow nodes share
  the work. ``render_chunk`` is a Ray streaming generator: the driver gets one event per
  finished frame and reports it at once (``frame`` + ``progress``, in the order frames
  finish).
- **A lost node.** The chunk an actor was rendering when it died (node lost, process
  killed, out of memory) goes back to the front of the queue and the next free actor
  renders it again: the frames the dead actor finished are current in the chunk's
  manifest and are skipped, its temporary file is removed, so no frame is ever half
  written or rendered twice into different bits. Actors are created with
  ``max_restarts=-1``, so Ray brings a lost one back wherever resources appear (a
  replacement node); the driver hands it chunks again once it answers. A chunk whose
  actor is lost ``tries`` times in a row stops the job (exit 2), as does a cluster where no
  actor says anything for ``wait_s`` seconds.

Ray is imported only inside :func:`render_on_ray` (and by the actor processes), so
``import neural_core`` never imports it.
"""

import logging
import time
from collections import deque
from dataclasses import dataclass, replace
from pathlib import Path

from ..contract.errors import NeuralFaceError
from ..contract.protocol import Job, Reporter
from ..worker.pipeline import RenderOptions
from .chunk_renderer import COMMAND, ChunkRenderer

INSTALL_HINT = ("install the Ray extra into the worker environment: NEURAL_FACE_EXTRAS=ray ./tools/test (or "
                "pip install -r requirements/farm-ray.txt)")
MAX_CHUNK = 24  # frames per chunk at most, by default: what one lost actor costs again
BUSY_BACKOFF_S = (1, 2, 4, 8, 15, 30)  # waits before asking again for a chunk another process holds


@dataclass
class RayFarmOptions:
    address: str  # the cluster's GCS address, HOST:PORT (what `ray start --head` prints), or "auto"
    actors: int = 0  # actors to start; 0 = as many as the cluster's CPUs (GPUs) allow
    cpus_per_actor: float = 1.0  # CPUs each actor reserves (Ray's num_cpus)
    gpus_per_actor: float = 0.0  # GPUs each actor reserves (Ray's num_gpus); > 0 renders on CUDA
    chunk_size: int = 0  # frames per chunk; 0 = about four chunks per actor, at most MAX_CHUNK
    threads: int = 0  # torch CPU threads per actor; 0 = cpus_per_actor rounded down (at least 1)
    wait_s: float = 300.0  # stop when no actor reports anything for this long
    tries: int = 3  # stop when one chunk's actor is lost this many times


@dataclass
class Chunk:
    """A run of frames handed to one actor at a time."""

    frames: list
    lost: int = 0  # actors lost while rendering it, in a row
    not_before: float = 0.0  # time.monotonic() before which it is not handed out (busy elsewhere)
    busy_since: float | None = None  # when another process was first found holding its frames
    busy: int = 0  # times it was found busy
    seen: set = None  # frames its current run has reported (a run ends only once each one has)
    waiting: bool = False  # its current run answered "busy"

    @property
    def name(self):
        first, last = self.frames[0], self.frames[-1]
        return str(first) if first == last else f"{first}-{last}"


def import_ray():
    try:
        import ray
    except ImportError as error:
        raise NeuralFaceError(f"farm ray: Ray is not installed ({error}); {INSTALL_HINT}") from error
    return ray


def check_reachable(address, timeout_s=10.0):
    """A TCP connection to ``address`` (HOST:PORT of the head's GCS), so that a wrong
    address is a clear error at once: ``ray.init`` retries an unreachable one for
    minutes. Other forms (``auto``, ``ray://...``) are left to Ray."""
    import socket

    host, _, port = address.rpartition(":")
    host = host.strip("[]")
    if not host or not port.isdigit() or "/" in address:
        return
    try:
        socket.create_connection((host, int(port)), timeout=timeout_s).close()
    except OSError as error:
        raise NeuralFaceError(f"farm ray: cannot connect to the Ray cluster at {address}: "
                              f"{error.strerror or error} (is its head started? 'ray start --head' prints the address)") from error


def split_chunks(frames, size):
    """``frames`` (sorted) in runs of ``size`` frames, in order."""
    return [list(frames[i:i + size]) for i in range(0, len(frames), size)]


def default_chunk_size(frame_count, actor_count):
    """About four chunks per actor (so a lost actor costs a quarter of its share and the
    last chunks balance the nodes), at most MAX_CHUNK frames."""
    return max(1, min(MAX_CHUNK, -(-frame_count // max(1, 4 * actor_count))))


def plan(options: RenderOptions):
    """Check the job on the submitting machine before any cluster work: the shot, the
    frames, their pass files, the output folder. Returns (options with absolute paths,
    frame numbers)."""
    from ..contract.frames import parse_frame_spec
    from ..contract.shot import read_shot
    from ..contract.shot.validate import check_pass_files
    from ..worker.chunks import storage_error

    shot_folder = Path(options.shot).resolve()
    shot = read_shot(shot_folder, check_passes=False)
    frames = parse_frame_spec(options.frames, shot.frame_numbers(), shot.frame_step)
    check_pass_files(shot_folder, shot, frames=frames)
    out = Path(options.out).resolve()
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise storage_error(error, out, "cannot create the output folder") from error
    model = options.model if options.model in (None, "", "default") else str(Path(options.model).expanduser().resolve())
    # every actor runs on another machine: absolute paths, as the nodes see the shared storage
    return replace(options, shot=str(shot_folder), out=str(out), model=model or "default"), frames


class FarmJob(Job):
    """A protocol job whose frames/s is the cluster's: frames made over the wall seconds
    since the first chunk was handed out (several frames are in flight at once)."""

    def __init__(self, command, reporter):
        super().__init__(command, reporter)
        self.rendered = 0
        self.since = None  # time.monotonic() of the first chunk handed out

    def frame_done(self, frame, path=None, skipped=False):
        self.done += 1
        self.skipped += bool(skipped)
        self.rendered += not skipped
        self.last_frame = frame
        elapsed = time.monotonic() - (self.since or time.monotonic())
        fps = self.rendered / elapsed if self.rendered and elapsed > 0 else None
        self.reporter.frame(frame, path=path, skipped=skipped)
        self.reporter.progress(self.done, self.total, fps=fps, eta_s=(self.total - self.done) / fps if fps else None)


class DoneFields(Reporter):
    """Passes events on to ``inner``, adding ``fields`` (a dict filled while the job runs)
    to the ``done`` event: here ``workers``, each actor's host, pid and model loads."""

    def __init__(self, inner, fields):
        self.inner = inner
        self.fields = fields

    def emit(self, event, **fields):
        self.inner.emit(event, **(dict(fields, **self.fields) if event == "done" else fields))

    def close(self):
        self.inner.close()


def lost_errors(ray):
    """The Ray exceptions that mean "the actor (its process or node) is gone", not "the
    chunk failed": its chunk is rendered again elsewhere."""
    from ray import exceptions

    return (exceptions.RayActorError, exceptions.WorkerCrashedError, exceptions.NodeDiedError,
            exceptions.ObjectLostError)


def _short(error):
    text = " ".join(str(error).split())
    return text if len(text) <= 200 else text[:197] + "..."


class Scheduler:
    """Hands chunks to actors and turns what they yield into protocol events."""

    def __init__(self, ray, job, farm: RayFarmOptions, make_actor, actor_count, chunks):
        self.ray = ray
        self.job = job
        self.farm = farm
        self.lost_types = lost_errors(ray)
        self.chunks = chunks
        self.queue = deque(Chunk(frames) for frames in chunks)
        self.actors = [make_actor() for _ in range(actor_count)]
        self.where = {}  # actor -> {"host", "pid", "node"} once it answered
        self.idle = deque()  # actors that answered and have no chunk
        self.running = {}  # streaming generator -> (actor, chunk)
        self.pings = {actor.where.remote(): actor for actor in self.actors}  # answer = alive and ready
        self.reported = set()  # frames reported (a chunk rendered again reports only new ones)
        self.warned = set()
        self.last_news = time.monotonic()
        self.last_error = None

    def run(self):
        while self.queue or self.running:
            self.job.token.check(after_frame=self.job.last_frame)
            now = time.monotonic()
            self.dispatch(now)
            waiting = list(self.running) + list(self.pings)
            if not waiting and not self.actors:
                raise NeuralFaceError(f"farm ray: every Ray actor was lost or failed to start (last: {self.last_error}); "
                                      "is this checkout importable on every node? (docs/farm.md)")
            if not waiting:  # only chunks another process holds, each waiting for its time
                time.sleep(0.2)
                continue
            for item in self.ray.wait(waiting, num_returns=1, timeout=0.5)[0]:
                if item in self.pings:
                    self.answered(item)
                else:
                    self.advance(item)
            if time.monotonic() - self.last_news > self.farm.wait_s:
                raise NeuralFaceError(self.stalled_message())
        missing = sorted(set(frame for chunk in self.chunks for frame in chunk) - self.reported)
        if missing:
            raise RuntimeError(f"farm ray: the chunks ended without frames {missing}")  # a bug: never exit 0 without them

    def dispatch(self, now):
        while self.idle:
            chunk = next((c for c in self.queue if c.not_before <= now), None)
            if chunk is None:
                return
            self.queue.remove(chunk)
            actor = self.idle.popleft()
            if self.job.since is None:
                self.job.since = now
            chunk.seen, chunk.waiting = set(), False
            self.running[actor.render_chunk.remote(chunk.frames)] = (actor, chunk)

    def answered(self, ping):
        actor = self.pings.pop(ping)
        try:
            self.where[actor] = self.ray.get(ping)
        except self.lost_types as error:
            self.actor_failed(actor, error)
            return
        self.last_news = time.monotonic()
        self.idle.append(actor)

    def actor_failed(self, actor, error):
        """An actor that cannot run: dropped when Ray gave up on it, else asked again
        (Ray restarts it where resources allow)."""
        self.last_error = _short(error)
        if isinstance(error, self.ray.exceptions.ActorDiedError) and not getattr(error, "preempted", False):
            if actor in self.actors:
                self.actors.remove(actor)
            return
        self.pings[actor.where.remote()] = actor

    def advance(self, generator):
        actor, chunk = self.running[generator]
        try:
            event = self.ray.get(next(generator))
        except StopIteration:
            del self.running[generator]
            if chunk.waiting or chunk.seen >= set(chunk.frames):
                self.idle.append(actor)
            else:  # the stream ended without its frames: the actor died between two of them
                self.chunk_lost(actor, chunk, RuntimeError("its stream of frames ended early"))
            return
        except self.lost_types as error:
            del self.running[generator]
            self.chunk_lost(actor, chunk, error)
            return
        except self.ray.exceptions.RayTaskError as error:
            cause = getattr(error, "cause", None)
            if isinstance(cause, NeuralFaceError):
                raise cause from None
            raise
        self.last_news = time.monotonic()
        chunk.lost = 0
        kind = event["event"]
        if kind == "frame":
            chunk.seen.add(event["frame"])
            if event["frame"] not in self.reported:
                self.reported.add(event["frame"])
                self.job.frame_done(event["frame"], path=event["path"], skipped=event["skipped"])
        elif kind == "warning":
            if event["message"] not in self.warned:
                self.warned.add(event["message"])
                self.job.warning(event["message"])
        elif kind == "busy":
            chunk.waiting = True
            self.chunk_busy(chunk, event["message"])

    def chunk_lost(self, actor, chunk, error):
        chunk.lost += 1
        where = self.where.get(actor) or {}
        place = f" on {where.get('node') or where.get('host')} (pid {where.get('pid')})" if where else ""
        if chunk.lost >= self.farm.tries:
            raise NeuralFaceError(
                f"farm ray: frames {chunk.name}: {chunk.lost} Ray actors were lost in a row while rendering them "
                f"(last{place}: {_short(error)}); stopped (the frames already written are kept)")
        self.job.warning(f"the Ray actor rendering frames {chunk.name}{place} was lost ({_short(error)}); "
                         "the chunk goes to another actor, which keeps the frames already written")
        self.queue.appendleft(chunk)
        self.actor_failed(actor, error)

    def chunk_busy(self, chunk, message):
        now = time.monotonic()
        chunk.busy_since = chunk.busy_since or now
        if now - chunk.busy_since > self.farm.wait_s:
            raise NeuralFaceError(f"farm ray: {message} (still after {self.farm.wait_s:.0f} s); stopped")
        chunk.not_before = now + BUSY_BACKOFF_S[min(chunk.busy, len(BUSY_BACKOFF_S) - 1)]
        chunk.busy += 1
        self.queue.append(chunk)

    def stalled_message(self):
        resources = self.ray.cluster_resources()
        need = f"{self.farm.cpus_per_actor:g} CPU" + (f" and {self.farm.gpus_per_actor:g} GPU" if self.farm.gpus_per_actor else "")
        return (f"farm ray: no Ray actor reported anything for {self.farm.wait_s:.0f} s (the cluster has "
                f"{resources.get('CPU', 0):g} CPU, {resources.get('GPU', 0):g} GPU; each actor needs {need}"
                + (f"; last error: {self.last_error}" if self.last_error else "") + "); stopped")

    def workers(self):
        """Each live actor's host, pid, node, model loads and chunks (asked at the end)."""
        refs = {actor.stats.remote(): actor for actor in self.actors}
        ready, _ = self.ray.wait(list(refs), num_returns=len(refs), timeout=10)
        found = []
        for ref in ready:
            try:
                found.append(self.ray.get(ref))
            except self.lost_types:
                continue
        return sorted(found, key=lambda w: (str(w.get("node")), w.get("pid")))


class RayChunkRenderer(ChunkRenderer):
    """A :class:`ChunkRenderer` that also names its Ray node (the driver's warnings say where)."""

    def where(self):
        import ray

        return {**super().where(), "node": ray.util.get_node_ip_address()}


def render_on_ray(options: RenderOptions, farm: RayFarmOptions, reporter=None):
    """Render ``options.frames`` of ``options.shot`` on the Ray cluster at
    ``farm.address`` under the worker protocol; returns the exit code (0, 1, 2 or 3)."""
    from ..contract.protocol import make_reporter

    extra = {}
    job = FarmJob(COMMAND, DoneFields(make_reporter() if reporter is None else reporter, extra))
    ray = None
    scheduler = None
    try:
        with job:
            options, frames = plan(options)
            ray = import_ray()
            check_reachable(farm.address)
            try:
                ray.init(address=farm.address, logging_level=logging.WARNING, log_to_driver=True)
            except (ConnectionError, RuntimeError, ValueError) as error:
                raise NeuralFaceError(f"farm ray: cannot connect to the Ray cluster at {farm.address}: {_short(error)}") from error
            if job.token.installed:  # ray.init set its own SIGTERM handler (exit at once): the job's cancels cleanly
                job.token.__exit__(None, None, None)
                job.token.__enter__()
            resources = ray.cluster_resources()
            if farm.gpus_per_actor > 0:
                capacity = int(resources.get("GPU", 0) // farm.gpus_per_actor)
            else:
                capacity = int(resources.get("CPU", 0) // farm.cpus_per_actor)
            actor_count = farm.actors or max(1, capacity)
            size = farm.chunk_size or default_chunk_size(len(frames), actor_count)
            chunks = split_chunks(frames, size)
            actor_count = min(actor_count, len(chunks))
            threads = farm.threads or max(1, int(farm.cpus_per_actor))
            remote = ray.remote(RayChunkRenderer).options(
                num_cpus=farm.cpus_per_actor, num_gpus=farm.gpus_per_actor, max_restarts=-1, max_task_retries=0)
            job.start(len(frames), frames, shot=options.shot, out=options.out, model=options.model,
                      format=options.image_format, address=farm.address, actors=actor_count, chunk_size=size,
                      chunks=len(chunks), threads=threads, nodes=len([n for n in ray.nodes() if n.get("Alive")]))
            scheduler = Scheduler(ray, job, farm, lambda: remote.remote(options, threads), actor_count, chunks)
            scheduler.run()
            extra["workers"] = scheduler.workers()
    finally:
        if ray is not None and ray.is_initialized():
            for actor in scheduler.actors if scheduler else []:
                try:
                    ray.kill(actor, no_restart=True)
                except Exception:  # noqa: BLE001 - already gone; shutdown below ends the rest
                    pass
            ray.shutdown()
        job.reporter.close()
    return job.exit_code
