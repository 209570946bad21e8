#!/usr/bin/env python3
"""What rendering one shot as farm chunks costs per frame, against one plain process.

    .venv/bin/python tools/bench_farm.py [--shot SHOT] [--frames 48] [--size 256]
                                         [--model default] [--processes 4] [--repeats 3]

On the same shot, in the same run, it runs (each into a fresh output folder):

  one process    ``python -m neural_core render SHOT`` over every frame (torch on every core)
  N chunks       N such processes at once, each ``--frames`` one N-th of the shot, into
                 one output folder (chunk locks, per-chunk manifests and logs), each with
                 ``--threads max(1, cores // N)`` so that together they use the cores once
  N chunks, default threads   the same with every process on every core
  Ray, A actors x T threads   ``python -m neural_core farm ray`` (issue 15.2) on a local
                 one-node Ray cluster of every core, started once for the whole run: A
                 actors of T torch threads each (1 x all cores: the one process's thread
                 count, so bit-identical frames; cores x 1); its CPU is the driver's plus
                 what every process of the cluster used meanwhile (GCS, raylet, actors)

and the same processes rendering only their first frame (the start-up each pays: Python,
torch, the model, the shot), interleaved over --repeats rounds. It prints medians of the
wall clock and of the CPU time (user + system of every process: what the run costs a
machine whatever else runs on it; on a shared machine the wall clock mostly measures the
others, and more threads simply get a larger share of it), the start-up CPU per process,
the CPU per frame once started ((all - start-up runs) / the frames left: CPU adds up, so
this subtraction is exact), and the overhead over the one process per frame (target:
<= 10%) and in total. The chunk runs' frames must be bit-identical to the one process's
when the torch thread count is the same; with another thread count torch sums in another
order, so the largest difference is printed instead. Without --shot it renders a
synthetic shot (tests/core/synthetic_shot.py) of --frames at --size; with --shot, every
frame of that shot.
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def make_shot(folder, frames, size):
    from tests.core.synthetic_shot import write_shot_folder

    values = [[0.02 * (i % 40), 0.3 + 0.01 * (i % 50), 0.015 * (i % 60)] for i in range(frames)]
    write_shot_folder(folder, n_frames=frames, size=(size, size), coefficient_values=values)
    return folder


def shot_frames(shot):
    from neural_core.contract.shot import read_shot

    return read_shot(shot, check_passes=False).frame_numbers()


def chunk_specs(frames, processes):
    """``processes`` contiguous ranges covering ``frames`` (sorted), as --frames specs."""
    size = -(-len(frames) // processes)
    return [f"{part[0]}-{part[-1]}" for part in (frames[i:i + size] for i in range(0, len(frames), size))]


def render_command(shot, out, model, frames=None, threads=None):
    command = [sys.executable, "-m", "neural_core", "render", str(shot), "--out", str(out), "--model", model,
               "--device", "cpu", "--json"]
    if frames:
        command += ["--frames", frames]
    if threads:
        command += ["--threads", str(threads)]
    return command


class Timing:
    """One run of one or more processes started at once.

    ``wall``: seconds from the first launch to the last exit. ``cpu``: user + system
    seconds of all the processes (and their threads): what the run costs a machine,
    whatever else runs on it (the wall clock of a shared machine mostly measures the
    others: more threads simply get a larger share of it)."""

    def __init__(self, wall, cpu):
        self.wall, self.cpu = wall, cpu


def _drain(stream, into):
    into.append(stream.read())


def run_processes(commands):
    """Start every command at once and time them (:class:`Timing`)."""
    import threading

    launched = time.perf_counter()
    processes = [subprocess.Popen(c, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT) for c in commands]
    outputs = [([], []) for _ in processes]
    readers = [threading.Thread(target=_drain, args=(stream, into)) for process, output in zip(processes, outputs)
               for stream, into in ((process.stdout, output[0]), (process.stderr, output[1]))]
    for reader in readers:
        reader.start()
    cpu = 0.0
    statuses = []
    for process in processes:
        _, status, usage = os.wait4(process.pid, 0)  # rusage of this child and its threads
        process.returncode = os.waitstatus_to_exitcode(status)
        statuses.append(process.returncode)
        cpu += usage.ru_utime + usage.ru_stime
    wall = time.perf_counter() - launched
    for reader in readers:
        reader.join()
    for status, (stdout, stderr) in zip(statuses, outputs):
        if status != 0:
            raise SystemExit(f"bench_farm: a render failed ({status}): {stderr[0].decode()[-2000:]}")
        done = [json.loads(line) for line in stdout[0].decode().splitlines() if line.startswith('{"event": "done"')]
        if not done or done[-1]["skipped"]:
            raise SystemExit("bench_farm: a run skipped frames (the output folder was not fresh)")
    return Timing(wall, cpu)


def farm_ray_command(shot, out, model, address, actors, threads, frames=None):
    command = [sys.executable, "-m", "neural_core", "farm", "ray", str(shot), "--out", str(out), "--model", model,
               "--device", "cpu", "--json", "--address", address, "--actors", str(actors),
               "--cpus-per-actor", str(threads), "--threads", str(threads)]
    if frames:
        command += ["--frames", frames, "--chunk-size", "1"]
    return command


def start_ray_cluster(folder, cores):
    """A one-node local Ray cluster of ``cores`` CPUs (tests/core/ray_cluster.py), or None
    without Ray. It runs for the whole bench; only its CPU during the Ray runs counts."""
    try:
        import ray  # noqa: F401
    except ImportError:
        return None
    from tests.core.ray_cluster import LocalRayCluster

    return LocalRayCluster(folder, nodes=1, cpus=cores).__enter__()


def difference(folder, reference):
    """0 when every frame of ``folder`` is byte-identical to ``reference``'s, else the
    largest difference of a pixel value (PNG code values); None when frames are missing."""
    import numpy as np
    from PIL import Image

    names = sorted(p.name for p in reference.glob("neural_*"))
    if names != sorted(p.name for p in folder.glob("neural_*")):
        return None
    largest = 0
    for name in names:
        if (folder / name).read_bytes() != (reference / name).read_bytes():
            ours, theirs = (np.asarray(Image.open(f / name)).astype(np.int64) for f in (folder, reference))
            largest = max(largest, int(np.abs(ours - theirs).max()), 1)
    return largest


class Setup:
    """One way of rendering the shot: ``commands(out, first_only)`` gives the command
    lines to run at once (``first_only``: each process renders its first frame only,
    which measures its start-up); ``bits``: whether its frames must equal one process's
    bit for bit (same torch thread count)."""

    def __init__(self, name, commands, processes, bits):
        self.name, self.commands, self.processes, self.bits = name, commands, processes, bits
        self.full, self.first, self.largest_difference = [], [], 0

    def median(self, runs, field):
        return statistics.median(getattr(t, field) for t in runs)

    def measure(self, out, first_only):
        return run_processes(self.commands(out, first_only))


class RaySetup(Setup):
    """The Ray path: the driver's CPU (its process) plus the CPU every process of the
    ``cluster`` used during the run (the actors, the raylet, the GCS, idle workers),
    sampled every 0.2 s from /proc so that the actors the driver ends at the end count."""

    def __init__(self, name, commands, processes, bits, cluster):
        super().__init__(name, commands, processes, bits)
        self.cluster = cluster

    def measure(self, out, first_only):
        import threading

        before = self.cluster.cpu_by_process()
        seen = dict(before)
        stop = threading.Event()

        def sample():
            while not stop.wait(0.2):
                seen.update(self.cluster.cpu_by_process())

        sampler = threading.Thread(target=sample)
        sampler.start()
        try:
            timing = run_processes(self.commands(out, first_only))
        finally:
            stop.set()
            sampler.join()
        seen.update(self.cluster.cpu_by_process())
        timing.cpu += sum(seconds - before.get(key, 0.0) for key, seconds in seen.items())
        return timing


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shot", help="an existing shot folder (default: a synthetic one)")
    parser.add_argument("--frames", type=int, default=48, help="frames of the synthetic shot")
    parser.add_argument("--size", type=int, default=256, help="width and height of the synthetic shot")
    parser.add_argument("--model", default="default")
    parser.add_argument("--processes", type=int, default=4, help="chunk processes at once")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench_farm_"))
    cluster = None
    try:
        shot = Path(args.shot) if args.shot else make_shot(work / "shot", args.frames, args.size)
        frames = shot_frames(shot)
        chunks = chunk_specs(frames, args.processes)
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
        share = max(1, cores // args.processes)

        def first(spec):
            return spec.split("-")[0]

        cluster = start_ray_cluster(work / "ray-cluster", cores)
        setups = [
            Setup("one process", lambda out, one: [
                render_command(shot, out, args.model, str(frames[0]) if one else None)], 1, True),
            Setup(f"{len(chunks)} chunks, --threads {share}", lambda out, one: [
                render_command(shot, out, args.model, first(c) if one else c, share) for c in chunks], len(chunks), False),
            Setup(f"{len(chunks)} chunks, default threads", lambda out, one: [
                render_command(shot, out, args.model, first(c) if one else c) for c in chunks], len(chunks), True),
        ]
        for actors, threads in ((1, cores), (cores, 1)) if cluster else ():
            starts = ",".join(first(c) for c in chunk_specs(frames, actors))  # one frame per actor: its start-up
            setups.append(RaySetup(f"Ray, {actors} actor(s) x {threads} thr.", lambda out, one, a=actors, t=threads, f=starts: [
                farm_ray_command(shot, out, args.model, cluster.address, a, t, f if one else None)], actors,
                threads == cores, cluster))
        for round_ in range(args.repeats):
            for index, setup in enumerate(setups):
                out = work / f"round{round_}-{index}"
                setup.full.append(setup.measure(out, False))
                setup.first.append(setup.measure(work / f"round{round_}-{index}-first", True))
                if index:
                    found = difference(out, work / f"round{round_}-0")
                    if found is None or (found and setup.bits):
                        raise SystemExit(f"bench_farm: '{setup.name}' made other frames than one process ({found})")
                    setup.largest_difference = max(setup.largest_difference, found)
        if cluster:
            cluster.stop()
        print(f"bench_farm: {len(frames)} frames, {shot}, model {args.model}, {cores} cores, "
              f"{args.repeats} interleaved rounds, medians")
        print(f"{'run':30s} {'wall s':>7s} {'CPU s':>7s} {'start-up CPU s':>15s} {'CPU ms/frame':>13s} "
              f"{'overhead/frame':>15s} {'overhead total':>15s}")
        base = setups[0]
        base_cpu = base.median(base.full, "cpu")
        base_frame = (base_cpu - base.median(base.first, "cpu")) / (len(frames) - 1)
        for setup in setups:
            cpu, startup = setup.median(setup.full, "cpu"), setup.median(setup.first, "cpu")
            per_frame = (cpu - startup) / (len(frames) - setup.processes)  # each start-up run made one frame
            note = f"  frames differ by <= {setup.largest_difference} code values" if setup.largest_difference else ""
            print(f"{setup.name:30s} {setup.median(setup.full, 'wall'):7.2f} {cpu:7.2f} "
                  f"{startup / setup.processes:15.2f} {1000 * per_frame:13.1f} "
                  f"{100 * (per_frame / base_frame - 1):14.1f}% {100 * (cpu / base_cpu - 1):14.1f}%{note}")
        if not cluster:
            print(f"{'Ray (issue 15.2)':30s} not measured: Ray is not installed (NEURAL_FACE_EXTRAS=ray ./tools/test)")
        print("CPU: user + system seconds of all processes; start-up CPU: per process, from the same processes "
              "rendering one frame each;\nCPU ms/frame: the rest over the remaining frames; overhead/frame: of that, "
              "over one process (target <= 10%); overhead total: of all CPU.\nFrames equal one process's bit for bit "
              "at the same torch thread count (another thread count sums floats in another order: noted).")
    finally:
        if cluster:
            cluster.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
