"""The worker's CPU threads: how many torch uses, and how they wait for work.

torch runs its CPU kernels on OpenMP threads that, by default, spin while they wait for
the next parallel region. Beside another CPU-bound process (Blender rendering next to
the worker, a farm node running two jobs) the spinning threads burn the time slices the
working ones need: on a 2-core machine a 48-frame render went from 4.7 s to 37.5 s beside
one busy process. Passive waiting (threads sleep as soon as they have no work) keeps the
worker close to its fair share of the machine; ``tools/bench_pipeline.py`` measures both
policies, alone and beside a busy process.

The wait policy is read once, when torch loads its OpenMP runtime, so
:func:`prepare_cpu_threads` must run before torch is imported (``python -m neural_core
render`` calls it first thing); the thread count can also be changed later
(:func:`use_cpu_threads`). Pure standard library: importing this never imports torch.
"""

import os

from ..contract.errors import NeuralFaceError

# OpenMP threads sleep as soon as they run out of work: GNU OpenMP (torch's Linux pip
# wheels) reads OMP_WAIT_POLICY, Intel OpenMP (some conda and macOS builds) KMP_BLOCKTIME (ms)
WAIT_POLICY = {"OMP_WAIT_POLICY": "PASSIVE", "KMP_BLOCKTIME": "0"}


def usable_cpus():
    """CPUs this process may run on (its affinity mask: taskset, cgroups' cpusets), else all."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # macOS, Windows
        return os.cpu_count() or 1


def default_threads(environ=None):
    """``OMP_NUM_THREADS`` when the environment sets it (a farm's job slot), else every usable CPU."""
    environ = os.environ if environ is None else environ
    try:
        count = int(environ.get("OMP_NUM_THREADS", "").split(",")[0])
    except ValueError:
        count = 0
    return count if count > 0 else usable_cpus()


def prepare_cpu_threads(threads=0, environ=None):
    """Set the thread count and passive waiting in ``environ`` (default: ``os.environ``)
    for the torch about to be imported; returns the thread count.

    ``threads``: 0 = :func:`default_threads`; a positive number overrides ``OMP_NUM_THREADS``.
    A wait policy the user set (``OMP_WAIT_POLICY``, ``KMP_BLOCKTIME``) is kept.
    """
    environ = os.environ if environ is None else environ
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 0:
        raise NeuralFaceError(f"threads must be 0 (automatic) or a positive number, got {threads!r}")
    count = threads or default_threads(environ)
    environ["OMP_NUM_THREADS"] = str(count)
    for name, value in WAIT_POLICY.items():
        environ.setdefault(name, value)
    return count


def use_cpu_threads(count):
    """torch's intra-op thread count (takes effect even when torch was imported earlier)."""
    import torch

    if torch.get_num_threads() != count:
        torch.set_num_threads(count)
    return count
