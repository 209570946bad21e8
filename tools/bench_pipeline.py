#!/usr/bin/env python3
"""Where the time of a Neural Face render goes, per frame, and whether memory stays flat.

    .venv/bin/python tools/bench_pipeline.py [--frames 48] [--long 480] [--model default]

On the demo shot (the bundled head, 256x256) it times, per frame:
  export     coefficients, pose, camera, landmarks (coefficient-only export)
  passes     Cycles CPU passes (export with passes minus coefficient-only export)
  exr read   the worker's prepare step: hash the frame's inputs, read its passes
  synthesis  the model: passes + coefficients -> RGBA
  write      the worker's store step: one PNG (8-bit, atomic) and the manifest record
  composite  the compositor's own cost: the median over 8 frames of (render with
             compositing - render without), Cycles at 1 sample (the conventional CG render
             itself is the user's, not ours)
then the worker's real loop (``render_frames``: reading and writing on an I/O thread while
the model runs when the model leaves a core to spare, else in turn) and what of reading
and writing it does not hide; and, with torch on one thread fewer (a spare core), the loop
in turn and with the I/O thread. It prints each stage's share of synthesis and two
figures: the worker loop's own cost (its wall time minus its synthesis: reading, writing,
bookkeeping), with a spare core against the <= 10% target and on the busy cores; and
Blender's fixed export + compositor cost per frame in ms. Then it runs the real
worker (``python -m neural_core render``) on the shot and on a --long-frame version of it
(the same pass files under new frame numbers) and prints each run's peak memory (target:
about equal).

Last, the worker's CPU thread policy (issue 13.9): synthesis time per frame alone and
beside one CPU-bound process (a busy loop started and stopped around each measurement),
for the old policy (torch's defaults: every core, OpenMP threads spinning while they wait)
and the worker's (``neural_core/worker/threads.py``: every usable core or --threads,
threads sleeping when idle), each in a fresh process because the wait policy is read once
when torch loads, interleaved over --repeats rounds; it prints the medians and the ratios.

    .venv/bin/python tools/bench_pipeline.py --policies-only SHOT [--model default]

measures only that, on an existing shot folder (no Blender needed).

Without the bundled default model, a randomly initialised model of the default
configuration is timed instead (same architecture, same cost); the output says so.
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
sys.path.insert(0, str(ROOT / "tools"))


class SilentReporter:
    """A protocol reporter that shows nothing (the benchmark prints its own table)."""

    def __getattr__(self, name):
        return lambda *args, **kwargs: None


def timed(function, *args, **kwargs):
    start = time.perf_counter()
    result = function(*args, **kwargs)
    return result, time.perf_counter() - start


def model_for_timing(spec, folder):
    """(path, note): the requested model, or a random default-configuration model."""
    from neural_core import DEFAULT_MODEL

    if spec != "default":
        return Path(spec), spec
    if DEFAULT_MODEL.is_file():
        return DEFAULT_MODEL, "bundled default model"
    import torch

    from neural_core.face_model.checkpoint import save_conditional
    from neural_core.face_model.config import default_config
    from neural_core.face_model.model import ConditionalModel
    from neural_core.contract.rig.arkit import ARKIT_52

    torch.manual_seed(0)
    path = Path(folder) / "random_default_config.safetensors"
    save_conditional(ConditionalModel(default_config(list(ARKIT_52))), path)
    return path, "random weights, default configuration (the bundled model is not in this checkout)"


def stage_times(scene, shot_folder, model_path, frames, folder):
    """Per-frame seconds of every stage, measured on the demo scene."""
    from blender_addon.export.exporter import ExportSettings, export_shot
    from neural_core.contract.protocol import Job
    import torch

    from neural_core.worker.pipeline import RenderOptions, ShotRenderer, io_thread_helps, render_frames

    times = {}
    _, seconds = timed(export_shot, scene, ExportSettings(output=str(Path(folder) / "coef"), passes=False))
    times["export"] = seconds / frames
    _, seconds = timed(export_shot, scene, ExportSettings(output=str(shot_folder), passes=True, samples=1))
    times["passes"] = seconds / frames - times["export"]

    renderer = ShotRenderer(RenderOptions(shot=str(shot_folder), out=str(Path(folder) / "frames"), model=str(model_path),
                                          device="cpu", force=True))
    read_total = synth_total = write_total = 0.0
    for frame in renderer.frames:  # the worker's three steps, one after the other
        work, seconds = timed(renderer.prepare, frame)
        read_total += seconds
        rgba, seconds = timed(renderer.synthesise, work)
        synth_total += seconds
        _, seconds = timed(renderer.store, work, rgba)
        write_total += seconds
    times["exr read"] = read_total / frames
    times["synthesis"] = synth_total / frames
    times["write"] = write_total / frames

    # the worker's real loop (an I/O thread only when the model leaves CPU to spare); what
    # it adds to synthesis is measured inside the same run (loop wall time - its synthesis)
    def loop(overlap=None):
        """(wall seconds per frame, synthesis seconds per frame) of one run of the loop."""
        spent = []
        synthesise = renderer.synthesise

        def timed_synthesis(work):
            rgba, seconds = timed(synthesise, work)
            spent.append(seconds)
            return rgba

        renderer.synthesise = timed_synthesis
        try:
            job = Job("render", SilentReporter())
            with job:
                job.start(len(renderer.frames), renderer.frames)
                _, seconds = timed(render_frames, job, renderer, overlap)
        finally:
            renderer.synthesise = synthesise
        return seconds / frames, sum(spent) / frames

    overlap = io_thread_helps(renderer.model)
    wall, synthesis = loop()
    times[f"worker loop ({'I/O thread' if overlap else 'in turn'})"] = wall
    times["  loop minus its synthesis"] = wall - synthesis
    # a spare core for the I/O thread: torch on one thread fewer, the loop in turn and with it
    threads = torch.get_num_threads()
    if threads > 1:
        torch.set_num_threads(threads - 1)
        try:
            for label, mode in (("in turn", False), ("with the I/O thread", True)):
                wall, synthesis = loop(mode)
                times[f"torch on {threads - 1} thread(s), loop {label}"] = wall
                times[f"  loop {label} minus its synthesis"] = wall - synthesis
        finally:
            torch.set_num_threads(threads)

    times["composite"], times["(CG render, not ours)"] = compositor_cost(scene, folder, frames)
    return times


def report_targets(times, synthesis):
    """The two figures issue 12.9 asks for, from :func:`stage_times`'s table."""
    own_busy = times["  loop minus its synthesis"]
    spare = times.get("  loop with the I/O thread minus its synthesis")
    print("\nthe worker loop's own cost (reading, writing, bookkeeping: its wall time minus its synthesis):")
    if spare is not None:
        verdict = "meets" if spare <= 0.1 * synthesis else "misses"
        print(f"  with a spare core (torch one thread fewer, I/O thread): {spare * 1000:.1f} ms/frame = "
              f"{spare / synthesis:.1%} of synthesis ({verdict} the <= 10% target)")
    print(f"  on the busy cores (torch on every core, as the worker runs here): {own_busy * 1000:.1f} ms/frame = "
          f"{own_busy / synthesis:.1%} of synthesis")
    fixed = times["export"] + times["composite"]
    print(f"Blender's fixed cost besides the passes: export {times['export'] * 1000:.1f} + compositor "
          f"{times['composite'] * 1000:.1f} = {fixed * 1000:.1f} ms/frame")


def compositor_cost(scene, folder, frames, probes=8):
    """(compositor seconds per frame, render seconds per frame without it): the median over
    ``probes`` frames of (render with compositing - render without), the two interleaved and
    rendered with Cycles at 1 sample so the render's own noise does not swamp the difference."""
    import bpy

    from blender_addon import compositor

    compositor.setup_compositor(scene, compositor.SequenceInfo(str(Path(folder) / "frames" / "neural_0001.png"), 1, frames))
    scene.render.filepath = str(Path(folder) / "composite_probe.png")
    saved = scene.cycles.samples, scene.cycles.use_denoising
    scene.cycles.samples, scene.cycles.use_denoising = 1, False

    def render(frame, use_compositing):
        scene.render.use_compositing = use_compositing
        scene.frame_set(frame)
        _, seconds = timed(bpy.ops.render.render, write_still=True)
        return seconds

    try:
        sample = [1 + (i * frames) // probes for i in range(probes)]
        render(sample[0], True)  # warm-up (kernels, image cache)
        differences, plain = [], []
        for frame in sample:
            with_compositing, without = render(frame, True), render(frame, False)
            differences.append(with_compositing - without)
            plain.append(without)
    finally:
        scene.cycles.samples, scene.cycles.use_denoising = saved
    return max(0.0, statistics.median(differences)), statistics.median(plain)


def peak_memory_mb(shot_folder, model_path, out):
    """Peak RSS (MB) of one worker run over the whole shot, and its wall time."""
    command = [sys.executable, "-m", "neural_core", "render", str(shot_folder), "--out", str(out),
               "--model", str(model_path), "--device", "cpu", "--json", "--force"]
    start = time.perf_counter()
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"bench_pipeline: worker failed ({process.returncode}): {process.stderr.read().decode()[-2000:]}")
    return usage.ru_maxrss / 1024.0, time.perf_counter() - start


def lengthen(shot_folder, frames, target):
    """A shot of ``frames`` frames reusing the pass files (hard links) of ``shot_folder``."""
    data = json.loads((Path(shot_folder) / "shot.json").read_text())
    source = data["frames"]
    target.mkdir(parents=True)
    (target / "passes").mkdir()
    records = []
    for index in range(frames):
        record = dict(source[index % len(source)])
        record["frame"] = index + 1
        records.append(record)
        os.link(Path(shot_folder) / "passes" / f"{source[index % len(source)]['frame']:04d}.exr",
                target / "passes" / f"{index + 1:04d}.exr")
    data["frames"] = records
    (target / "shot.json").write_text(json.dumps(data))
    return target


OPENMP_VARIABLES = ("OMP_NUM_THREADS", "OMP_WAIT_POLICY", "KMP_BLOCKTIME")
POLICIES = ("old", "worker")  # torch's defaults; neural_core/worker/threads.py


def synthesis_child(shot_folder, model_path, policy, frames):
    """(In a fresh process.) Print the synthesis ms/frame of the first ``frames`` frames of
    the shot under ``policy``, after one warm-up frame."""
    if policy == "worker":
        from neural_core.worker.threads import prepare_cpu_threads, use_cpu_threads

        use_cpu_threads(prepare_cpu_threads(0))  # what `python -m neural_core render` does first
    import torch

    from neural_core.worker.pipeline import RenderOptions, ShotRenderer

    with tempfile.TemporaryDirectory(prefix="neural_face_threads_") as out:
        renderer = ShotRenderer(RenderOptions(shot=str(shot_folder), out=out, model=str(model_path), device="cpu",
                                              frames=None, force=True))
        works = [renderer.prepare(frame) for frame in renderer.frames[:frames]]
        renderer.synthesise(works[0])
        start = time.perf_counter()
        for work in works:
            renderer.synthesise(work)
        seconds = (time.perf_counter() - start) / len(works)
    print(json.dumps({"ms": seconds * 1000, "threads": torch.get_num_threads(),
                      "wait": os.environ.get("OMP_WAIT_POLICY", "default")}))


def busy_loop():
    """One CPU-bound process (a Python busy loop) at this process's priority."""
    return subprocess.Popen([sys.executable, "-c", "while True: pass"])


def policy_times(shot_folder, model_path, frames=16, repeats=3):
    """{(policy, busy): [ms/frame per round]}: synthesis under each policy, alone and beside
    one busy loop, each in a fresh process, the four cases interleaved in every round."""
    environment = {k: v for k, v in os.environ.items() if k not in OPENMP_VARIABLES}
    times, notes = {}, {}
    for _ in range(repeats):
        for busy in (False, True):
            for policy in POLICIES:
                hog = busy_loop() if busy else None
                try:
                    result = subprocess.run(
                        [sys.executable, __file__, "--synthesis-child", str(shot_folder), str(model_path), policy,
                         str(frames)], env=environment, capture_output=True, text=True, timeout=1800)
                finally:
                    if hog is not None:
                        hog.kill()
                        hog.wait()
                if result.returncode != 0:
                    raise SystemExit(f"bench_pipeline: synthesis child failed: {result.stderr[-2000:]}")
                line = json.loads(result.stdout.strip().splitlines()[-1])
                times.setdefault((policy, busy), []).append(line["ms"])
                notes[policy] = f"{line['threads']} thread(s), wait policy {line['wait']}"
    return times, notes


def print_policy_times(times, notes, frames):
    median = {key: statistics.median(values) for key, values in times.items()}
    rounds = len(next(iter(times.values())))
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"\nCPU thread policy: synthesis ms/frame over {frames} frames, median of {rounds} round(s) "
          f"({usable_cpu_count()} usable CPUs, load average {load:.1f} at the end)")
    print(f"{'policy':<52}{'alone':>10}{'beside 1 busy':>15}{'slowdown':>10}")
    for policy in POLICIES:
        alone, busy = median[(policy, False)], median[(policy, True)]
        print(f"{policy + ': ' + notes[policy]:<52}{alone:>10.1f}{busy:>15.1f}{busy / alone:>9.2f}x")
    for busy in (False, True):
        ratio = median[("old", busy)] / median[("worker", busy)]
        print(f"old / worker policy, {'beside the busy process' if busy else 'alone'}: {ratio:.2f}x")


def usable_cpu_count():
    from neural_core.worker.threads import usable_cpus

    return usable_cpus()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=48, help="length of the demo shot")
    parser.add_argument("--long", type=int, default=480, help="length of the long shot for the memory check")
    parser.add_argument("--model", default="default")
    parser.add_argument("--policy-frames", type=int, default=16, help="frames timed per thread-policy measurement")
    parser.add_argument("--repeats", type=int, default=3, help="rounds of the thread-policy measurement")
    parser.add_argument("--policies-only", metavar="SHOT", help="only the thread-policy measurement, on this shot")
    parser.add_argument("--synthesis-child", nargs=4, metavar=("SHOT", "MODEL", "POLICY", "FRAMES"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.synthesis_child:
        shot_folder, model_path, policy, frames = args.synthesis_child
        return synthesis_child(shot_folder, model_path, policy, int(frames))
    from neural_core.worker.threads import prepare_cpu_threads

    prepare_cpu_threads(0)  # the stages below run torch as the worker does (before bpy or torch load OpenMP)
    if args.policies_only:
        with tempfile.TemporaryDirectory(prefix="neural_face_bench_") as folder:
            model_path, note = model_for_timing(args.model, folder)
            print(f"model: {note}, shot: {args.policies_only}")
            times, notes = policy_times(args.policies_only, model_path, args.policy_frames, args.repeats)
            print_policy_times(times, notes, args.policy_frames)
        return None

    import bpy

    import blender_addon
    from blender_addon.demo_scene import build_demo_scene

    folder = Path(tempfile.mkdtemp(prefix="neural_face_bench_"))
    try:
        bpy.ops.wm.read_factory_settings(use_empty=True)
        blender_addon.register()
        demo = build_demo_scene(bpy.context.scene, frames=args.frames)
        model_path, note = model_for_timing(args.model, folder)
        shot = folder / "shot"
        times = stage_times(demo.scene, shot, model_path, args.frames, folder)
        synthesis = times["synthesis"]
        print(f"\nBlender {bpy.app.version_string}, model: {note}, demo shot of {args.frames} frames at "
              f"{demo.scene.render.resolution_x}x{demo.scene.render.resolution_y}")
        print(f"{'stage':<50}{'ms/frame':>10}{'share of synthesis':>20}")
        for name, seconds in times.items():
            print(f"{name:<50}{seconds * 1000:>10.1f}{seconds / synthesis:>19.1%}")
        report_targets(times, synthesis)
        long_shot = lengthen(shot, args.long, folder / "long")
        short_mb, short_s = peak_memory_mb(shot, model_path, folder / "out_short")
        long_mb, long_s = peak_memory_mb(long_shot, model_path, folder / "out_long")
        print(f"worker peak memory: {short_mb:.0f} MB for {args.frames} frames ({short_s:.0f} s), "
              f"{long_mb:.0f} MB for {args.long} frames ({long_s:.0f} s): ratio {long_mb / short_mb:.2f}")
        times, notes = policy_times(shot, model_path, min(args.policy_frames, args.frames), args.repeats)
        print_policy_times(times, notes, min(args.policy_frames, args.frames))
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        blender_addon.unregister()
        sys.stdout.flush()
        os._exit(0)  # bpy 4.5.15 can hang at interpreter exit


if __name__ == "__main__":
    main()
